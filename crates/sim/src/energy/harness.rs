//! The day's harness: builds the agents, runs them until the day is final, then has the
//! meters bill and collects the summary.

use super::{
    battery::{Battery, BatterySpec},
    day_length,
    dso::run_dso,
    execute_all,
    home::Home,
    now_ms,
    setup::set_up,
    solver::EnergyMarket,
    EnergySimConfig, EnergySimSummary, IntervalSummary, SimError, SolutionCounts, CONCURRENCY,
    SOLVER_FUNDING,
};
use crate::{
    daemon::{self, DaemonConfig, SolverStats},
    meter::{self, HomeBill},
    profiles::Profile,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_energy::{EnergyCall, Interval, Trade};
use agora_types::Keypair;
use futures::{StreamExt, TryStreamExt};
use rand::rngs::OsRng;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

/// Runs the day (or `cfg.intervals` of it) on the chain behind `client`, with `faucet`
/// paying for everything.
pub async fn run(
    client: &Client,
    faucet: &Keypair,
    profiles: Vec<Profile>,
    cfg: EnergySimConfig,
    progress: impl Fn(u32),
) -> Result<EnergySimSummary, SimError> {
    let (first, day) = match cfg.intervals {
        Some((a, b)) => (a, b + 1),
        None => (0, day_length(&profiles)),
    };
    let dso = Keypair::generate(&mut OsRng);
    let mut homes: Vec<Home> = profiles
        .into_iter()
        .map(|profile| Home::new(profile, cfg.prediction_error, cfg.seed))
        .collect();
    let mut batteries = batteries(&homes, cfg.battery);
    let market = set_up(
        client,
        faucet,
        &dso,
        &mut homes,
        &mut batteries,
        &cfg,
        first,
        day,
    )
    .await?;
    let (m, params) = (market.id, market.params.clone());

    // Solvers pay fees for their solutions like everyone else.
    let solver_keys: Vec<Keypair> = (0..cfg.solvers)
        .map(|_| Keypair::generate(&mut OsRng))
        .collect();
    let funding = solver_keys
        .iter()
        .map(|k| {
            BankCall::Transfer {
                to: k.address(),
                amount: SOLVER_FUNDING,
            }
            .into_call()
        })
        .collect();
    execute_all(client, faucet, funding, "solver funding").await?;
    let stats = Arc::new(SolverStats::default());
    let energy = Arc::new(EnergyMarket::new(&cfg, day));
    let solvers: Vec<_> = solver_keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let daemon = DaemonConfig {
                period: Duration::from_millis((cfg.interval_ms / 4).max(50)),
                fail_at_round: cfg.fail_solver_at.filter(|_| i == 0).map(u64::from),
                byzantine: false,
                label: format!("solver {i}"),
            };
            tokio::spawn(daemon::run(
                client.clone(),
                key,
                m,
                energy.clone(),
                daemon,
                stats.clone(),
            ))
        })
        .collect();
    let dso_task = tokio::spawn(run_dso(client.clone(), dso.clone(), m, params.clone(), day));

    // Prosumers and batteries post as rows come within the window; batteries settle each
    // interval once it is final. The loop paces them a quarter interval.
    let mut posted: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); homes.len()];
    let mut finals: BTreeMap<Interval, Vec<Trade>> = BTreeMap::new();
    let period = Duration::from_millis((cfg.interval_ms / 4).max(20));
    loop {
        let next_final = agora_energy::intervals_due(&params, now_ms()).min(day as u64) as Interval;
        progress(next_final);
        let chain_final = super::market(client, m).await?.next_final;
        settle_final(
            client,
            m,
            &mut homes,
            &mut batteries,
            &mut finals,
            (first, chain_final),
        )
        .await?;
        if next_final >= day {
            break;
        }
        let window = cfg.prediction_window;
        let rounds = homes
            .iter_mut()
            .zip(posted.iter_mut())
            .map(|(home, posted)| home.post_due_rows(client, m, posted, next_final, window));
        futures::stream::iter(rounds)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<()>()
            .await?;
        let offers = batteries
            .iter_mut()
            .map(|b| b.post_due(client, m, next_final, window, day));
        futures::future::try_join_all(offers).await?;
        tokio::time::sleep(period).await;
    }
    let mut lags = dso_task
        .await
        .map_err(|e| SimError::Unexpected(e.to_string()))??;
    lags.sort_by(f64::total_cmp);
    for s in solvers {
        s.await.map_err(|e| SimError::Unexpected(e.to_string()))??;
    }
    settle_final(
        client,
        m,
        &mut homes,
        &mut batteries,
        &mut finals,
        (first, day),
    )
    .await?;

    futures::stream::iter(homes.iter_mut().map(|h| h.confirm_withdrawals(client)))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await?;
    let metered = meter_and_bill(client, m, &homes, &finals).await?;
    let mut intervals = Vec::new();
    for (t, trades) in &finals {
        let t = *t;
        let traded = trades.iter().map(|t| t.energy).sum::<u64>() as f64 / 1000.0;
        let offered: f64 = homes.iter().filter_map(|h| h.offered.get(&t)).sum();
        let requested: f64 = homes.iter().filter_map(|h| h.requested.get(&t)).sum();
        let without: i64 = -homes.iter().map(|h| h.actual(t)).sum::<i64>();
        let (delivered, stored, charge) = batteries
            .iter()
            .filter_map(|b| b.steps.get(&t))
            .fold((0, 0, 0), |(d, s, c), step| {
                (d + step.delivered, s + step.stored, c + step.charge)
            });
        let flexible = metered.flexible.get(&t).copied().unwrap_or(0);
        let with = without + stored as i64 - delivered as i64 - flexible;
        intervals.push(IntervalSummary {
            interval: t,
            offered_kwh: offered,
            requested_kwh: requested,
            traded_kwh: traded,
            dso_load_kwh: (requested - traded).max(0.0),
            dso_load_without_trading_kwh: requested,
            dso_anticipated_kwh: metered.anticipated.get(&t).copied().unwrap_or(0) as f64 / 1000.0,
            dso_actual_kwh: metered.actual.get(&t).copied().unwrap_or(0) as f64 / 1000.0,
            net_load_without_trading_kwh: without as f64 / 1000.0,
            net_load_kwh: with as f64 / 1000.0,
            battery_delivered_kwh: delivered as f64 / 1000.0,
            battery_stored_kwh: stored as f64 / 1000.0,
            battery_charge_kwh: charge as f64 / 1000.0 / batteries.len().max(1) as f64,
        });
    }
    let tally = stats.take();
    let (mut rounds, mut solves) = (tally.rounds_ms, tally.solves_ms);
    rounds.sort_by(f64::total_cmp);
    solves.sort_by(f64::total_cmp);
    let median = |xs: &[f64]| xs.get(xs.len() / 2).copied().unwrap_or(0.0);
    Ok(EnergySimSummary {
        market: m,
        homes: homes.len(),
        batteries: batteries.len(),
        feeders: homes
            .iter()
            .map(|h| h.profile.feeder)
            .collect::<BTreeSet<_>>()
            .len(),
        total_offered_kwh: intervals.iter().map(|i| i.offered_kwh).sum(),
        total_requested_kwh: intervals.iter().map(|i| i.requested_kwh).sum(),
        total_traded_kwh: intervals.iter().map(|i| i.traded_kwh).sum(),
        intervals,
        solutions: SolutionCounts {
            submitted: tally.submitted,
            accepted: tally.accepted,
            rejected: tally.rejected,
            round_p50_ms: median(&rounds),
            round_max_ms: rounds.last().copied().unwrap_or(0.0),
            solve_p50_ms: median(&solves),
            solve_max_ms: solves.last().copied().unwrap_or(0.0),
            max_variables: tally.max_variables,
            max_rows: tally.max_rows,
            verify_max_ms: tally.verify_max_ms,
            largest_trades: tally.largest_items,
            largest_bytes: tally.largest_bytes,
            largest_parts: tally.largest_parts,
            unsendable: tally.unsendable,
        },
        finalize_lag_p50_ms: median(&lags),
        finalize_lag_max_ms: lags.last().copied().unwrap_or(0.0),
        total_billed: metered.billed,
        bills: metered.bills,
        trading_groups: market.trading_groups,
        mix: market.mix.map(|mut mix| {
            mix.count_offers(homes.iter().filter_map(|h| h.mix.as_ref()));
            mix
        }),
    })
}

/// One battery per home that produces, if the homes have them.
fn batteries(homes: &[Home], spec: Option<BatterySpec>) -> Vec<Battery> {
    let Some(spec) = spec else {
        return Vec::new();
    };
    homes
        .iter()
        .enumerate()
        .filter(|(_, h)| h.profile.limits().0 > 0)
        .map(|(i, _)| {
            Battery::new(
                i,
                spec,
                Keypair::generate(&mut OsRng),
                Keypair::generate(&mut OsRng),
            )
        })
        .collect()
}

/// Reads the trades of every interval from `first` that became final up to `until`, and has
/// the batteries deliver them and store their homes' unsold surplus.
async fn settle_final(
    client: &Client,
    m: u64,
    homes: &mut [Home],
    batteries: &mut [Battery],
    finals: &mut BTreeMap<Interval, Vec<Trade>>,
    (first, until): (Interval, Interval),
) -> Result<(), SimError> {
    let from = finals.keys().next_back().map_or(first, |t| t + 1);
    for t in from..until {
        let trades: Vec<Trade> = serde_json::from_value(
            client
                .query(
                    "energy",
                    "finalized",
                    serde_json::json!({"market": m, "interval": t}),
                )
                .await?,
        )
        .map_err(|e| SimError::Unexpected(e.to_string()))?;
        for b in batteries.iter_mut() {
            let surplus = homes[b.home].residual(client, m, t).await?;
            let step = b.settle(t, &trades, surplus)?;
            if step.stored > 0 {
                homes[b.home].stored.insert(t, step.stored);
            }
        }
        finals.insert(t, trades);
    }
    Ok(())
}

/// What the meters saw over the day, summed over homes per interval (Wh).
struct Metered {
    /// The DSO's residual consumption as anticipated from the market and as measured, signed.
    anticipated: BTreeMap<Interval, i64>,
    actual: BTreeMap<Interval, i64>,
    /// What the profiles' flexible (battery) rows delivered.
    flexible: BTreeMap<Interval, i64>,
    billed: i64,
    bills: Vec<HomeBill>,
}

/// Deposits every home's assets to the addresses its meter gave it, then has each meter read
/// and post its residuals, which the ledger bills by eq. 2.16 and settles.
async fn meter_and_bill(
    client: &Client,
    m: u64,
    homes: &[Home],
    finals: &BTreeMap<Interval, Vec<Trade>>,
) -> Result<Metered, SimError> {
    let deposits = homes.iter().flat_map(|h| {
        let intervals: BTreeSet<Interval> = h.withdrawn.keys().map(|(_, t)| *t).collect();
        let secret = meter::deposit_secret(&h.meter, m);
        let deposits = move |intervals: &BTreeSet<Interval>| -> Vec<agora_types::Call> {
            intervals
                .iter()
                .map(|t| {
                    EnergyCall::Deposit {
                        market: m,
                        interval: *t,
                        to: meter::deposit_address(&secret, m, *t),
                    }
                    .into_call()
                })
                .collect()
        };
        // With mixing, the public account keeps only unmixed capacity, and every anonymous
        // account holds assets in every interval of the day.
        let (public, anon) = match &h.mix {
            Some(mix) if !mix.holds_remainder() => (Vec::new(), &mix.accounts[..]),
            Some(mix) => (deposits(&intervals), &mix.accounts[..]),
            None => (deposits(&intervals), &[][..]),
        };
        std::iter::once(execute_all(client, &h.key, public, "deposit")).chain(
            anon.iter()
                .map(move |a| execute_all(client, &a.key, deposits(&intervals), "deposit")),
        )
    });
    futures::stream::iter(deposits)
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await?;
    let bills = homes.iter().map(|h| async move {
        let readings = h.readings(client, m, finals).await?;
        let meter_readings = readings.iter().map(|(t, r)| (*t, r.meter)).collect();
        let posted =
            meter::post_bills(client, m, h.profile.home, &h.meter, &meter_readings).await?;
        Ok::<_, SimError>((h, readings, posted))
    });
    let read: Vec<_> = futures::stream::iter(bills)
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut metered = Metered {
        anticipated: BTreeMap::new(),
        actual: BTreeMap::new(),
        flexible: BTreeMap::new(),
        billed: 0,
        bills: Vec::new(),
    };
    for (h, readings, posted) in read {
        for (t, r) in &readings {
            // What the market announced: the single-interval offers, and flexible rows
            // deliver their trades.
            let announced = h.announced.get(t).copied().unwrap_or(0) + r.battery;
            *metered.anticipated.entry(*t).or_default() -= announced + r.delta_epa;
            *metered.actual.entry(*t).or_default() -= r.measured + r.delta_epa;
            *metered.flexible.entry(*t).or_default() += r.battery;
        }
        metered.billed += posted.iter().map(|b| b.amount).sum::<i64>();
        metered.bills.extend(posted);
    }
    Ok(metered)
}
