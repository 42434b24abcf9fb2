//! A day of the TRANSAX energy market on a real chain: a DSO, one prosumer and one smart
//! meter per home, and solver daemons, all as agents that only talk to the chain over RPC.
//!
//! - **DSO**: creates the market and one group per feeder, registers every meter, and calls
//!   `finalize` whenever an interval is due.
//! - **Prosumer**: registers, then for each profile row that comes within the prediction window
//!   (its first interval <= next to finalize + window) withdraws assets for it, within its
//!   limits, and posts the offer. Sellers ask 10-19 and buyers bid 20-29 micro-tokens per Wh
//!   (fixed per home and row), so any seller and buyer can match and the traded energy is set
//!   by quantities and limits alone. After the day it deposits its assets to its meter.
//! - **Smart meter**: from what its prosumer withdrew and deposited (ΔEPA) and what it measured
//!   (the profile's single-interval rows, plus what the home's battery offers traded: a battery
//!   delivers its trades), computes the bill of eq. 2.16 and posts the day's total.
//! - **Solver daemon**: every quarter interval reads the open problem, solves it with horizon
//!   T_h and posts the solution if it beats the candidate. Any number run; any may stop.

use crate::{
    mixing::{mix_homes, HomeMix, MixSummary, MixingHome},
    profiles::Profile,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_energy::{DsoPrice, EnergyCall, Interval, Market, MarketParams, Side, Trade};
use agora_solver::energy::{solve, EnergyInstance, SolveOptions};
use agora_types::{Address, Keypair, TxStatus};
use rand::rngs::OsRng;
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracing::{debug, info, warn};

/// Intervals the profiles cover: up to the last row's last interval.
pub fn day_length(profiles: &[Profile]) -> u32 {
    profiles
        .iter()
        .flat_map(|p| p.rows.iter().map(|r| r.last + 1))
        .max()
        .unwrap_or(0)
}
/// Funds each agent account gets from the faucet (micro-tokens).
const FUNDING: u64 = 1_000_000_000;
const DSO_PRICE: DsoPrice = DsoPrice { buy: 40, sell: 5 };
/// Time for set-up and mixing before the market's first interval, when homes mix.
const MIX_LEAD_MS: u64 = 15_000;

#[derive(Clone, Debug)]
pub struct EnergySimConfig {
    pub horizon: u32,
    pub prediction_window: u32,
    /// Every feeder's internal and external limit (Wh per interval).
    pub c_int: u64,
    pub c_ext: u64,
    pub solvers: usize,
    /// Solver 0 stops once this interval is next to finalize.
    pub fail_solver_at: Option<u32>,
    /// Simulated length of an interval (ms): accelerated time.
    pub interval_ms: u64,
    pub t_clear: u32,
    /// Prediction error of single-interval rows: a normal error with this standard deviation,
    /// in percent of the home's largest row (experiment 3). 0: perfect prediction.
    pub prediction_error: f64,
    /// Feeders per privacy group (section 2.8.2): consecutive feeders form a group whose
    /// limits are the safe ones of eq. 2.17/2.19, and homes trade in it. 0 or 1: homes trade
    /// in their feeder's group.
    pub privacy_group_size: u32,
    /// Offers come from anonymous accounts: before trading, the homes of each group mix their
    /// assets by denominations with CoinShuffle ([`crate::mixing`]).
    pub mix: bool,
    /// With mixing, homes offer what their anonymous accounts cannot hold from their public
    /// accounts (linked to them); without, they do not offer it.
    pub public_remainder: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IntervalSummary {
    pub interval: u32,
    pub offered_kwh: f64,
    pub requested_kwh: f64,
    pub traded_kwh: f64,
    /// Energy the DSO supplies: requested but not traded locally.
    pub dso_load_kwh: f64,
    /// What it would supply without the market.
    pub dso_load_without_trading_kwh: f64,
    /// Residual consumption the DSO anticipates from the market: offers not covered by trades.
    pub dso_anticipated_kwh: f64,
    /// Residual consumption it actually supplies, from the meters' measurements (eq. 2.16's r < 0).
    pub dso_actual_kwh: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SolutionCounts {
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// From reading the open problem to the receipt of the accepted solution (solve, submit,
    /// finalize the block, verify on-ledger): median and largest, ms.
    pub round_p50_ms: f64,
    pub round_max_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnergySimSummary {
    pub market: u64,
    pub homes: usize,
    pub feeders: usize,
    pub total_offered_kwh: f64,
    pub total_requested_kwh: f64,
    pub total_traded_kwh: f64,
    pub intervals: Vec<IntervalSummary>,
    pub solutions: SolutionCounts,
    /// From the moment an interval may be finalized to the DSO agent holding the receipt of
    /// its finalization (ms): median and largest. An offer's trade is final its prediction
    /// window plus T_clear + 1 intervals after it is posted, plus this lag.
    pub finalize_lag_p50_ms: f64,
    pub finalize_lag_max_ms: f64,
    /// Sum of the bills the meters posted (micro-tokens; positive: owed to the DSO).
    pub total_billed: i64,
    /// Groups the homes traded in: one per feeder, or the privacy groups.
    pub trading_groups: Vec<TradingGroup>,
    pub mix: Option<MixSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TradingGroup {
    pub id: u32,
    pub feeders: Vec<u32>,
    pub homes: usize,
    pub c_int: u64,
    pub c_ext: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Client(#[from] agora_client::ClientError),
    #[error("transaction {what} failed: {reason}")]
    Failed { what: String, reason: String },
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Submits many calls of one key and waits for all of them.
pub(crate) async fn execute_all(
    client: &Client,
    key: &Keypair,
    calls: Vec<agora_types::Call>,
    what: &str,
) -> Result<(), SimError> {
    let mut hashes = Vec::new();
    for call in calls {
        hashes.push(client.send(key, call).await?.hash());
    }
    for hash in hashes {
        let receipt = client
            .wait_for_receipt(&hash, Duration::from_secs(60))
            .await?;
        if receipt.status != TxStatus::Success {
            return Err(SimError::Failed {
                what: what.into(),
                reason: receipt.message.unwrap_or_default(),
            });
        }
    }
    Ok(())
}

async fn market(client: &Client, id: u64) -> Result<Market, SimError> {
    let value = client
        .query("energy", "market", serde_json::json!({"market": id}))
        .await?;
    serde_json::from_value(value).map_err(|e| SimError::Unexpected(e.to_string()))
}

/// Deterministic reservation price in [base, base + 10).
fn price(base: u64, home: u32, row: usize) -> u64 {
    base + ((home as u64).wrapping_mul(2_654_435_761) ^ (row as u64).wrapping_mul(40_503)) % 10
}

struct Home {
    profile: Profile,
    key: Keypair,
    meter: Keypair,
    group: u32,
    /// Wh withdrawn per (side, interval).
    withdrawn: BTreeMap<(Side, Interval), u64>,
    /// Offered (sell) and requested (buy) Wh per interval, a flexible offer spread evenly.
    offered: BTreeMap<Interval, f64>,
    requested: BTreeMap<Interval, f64>,
    /// What the home predicts for each row (the profile plus the prediction error).
    predicted: Vec<i64>,
    /// Signed Wh posted in single-interval offers per interval: the home's announced net.
    announced: BTreeMap<Interval, i64>,
    /// The transactions that posted the home's flexible (battery) offers.
    flexible: Vec<agora_types::TxHash>,
    /// With mixing: the anonymous accounts offers come from. None without.
    mix: Option<HomeMix>,
}

impl Home {
    /// Withdraws assets for and posts the offer of every row now within the window.
    async fn post_due_rows(
        &mut self,
        client: &Client,
        m: u64,
        posted: &mut BTreeSet<usize>,
        next_final: Interval,
        window: u32,
    ) -> Result<(), SimError> {
        let (l_prod, l_cons) = self.profile.limits();
        for i in 0..self.profile.rows.len() {
            let row = self.profile.rows[i];
            if posted.contains(&i) || row.first > next_final.saturating_add(window) {
                continue;
            }
            posted.insert(i);
            let first = row.first.max(next_final);
            let predicted = self.predicted[i];
            if first > row.last || predicted == 0 {
                continue;
            }
            let (side, limit) = if predicted > 0 {
                (Side::Sell, l_prod)
            } else {
                (Side::Buy, l_cons)
            };
            // Never beyond the home's limit in any interval of the offer (with mixing, the
            // anonymous accounts' assets bound it instead).
            let room = (first..=row.last)
                .map(|t| limit.saturating_sub(self.withdrawn.get(&(side, t)).copied().unwrap_or(0)))
                .min()
                .unwrap_or(0);
            let energy = if self.mix.is_some() {
                predicted.unsigned_abs()
            } else {
                predicted.unsigned_abs().min(room)
            };
            if energy == 0 {
                continue;
            }
            let intervals: Vec<Interval> = (first..=row.last).collect();
            let base = if side == Side::Sell { 10 } else { 20 };
            let offer = |energy| EnergyCall::PostOffer {
                market: m,
                side,
                group: self.group,
                energy,
                intervals: intervals.clone(),
                price: price(base, self.profile.home, i),
            };
            let (energy, hashes) = if let Some(mix) = &mut self.mix {
                mix.post(client, &self.key, side, &intervals, energy, offer)
                    .await?
            } else {
                let withdraw = EnergyCall::WithdrawAssets {
                    market: m,
                    side,
                    group: self.group,
                    energy,
                    first,
                    last: row.last,
                };
                client.send(&self.key, withdraw.into_call()).await?;
                let hash = client
                    .send(&self.key, offer(energy).into_call())
                    .await?
                    .hash();
                for t in &intervals {
                    *self.withdrawn.entry((side, *t)).or_default() += energy;
                }
                (energy, vec![hash])
            };
            if energy == 0 {
                continue;
            }
            if row.first == row.last {
                *self.announced.entry(row.first).or_default() += if side == Side::Sell {
                    energy as i64
                } else {
                    -(energy as i64)
                };
            }
            if row.first != row.last {
                // A battery's offers: its meter will measure what it delivers, i.e. their trades.
                self.flexible.extend(hashes);
            }
            let share = energy as f64 / 1000.0 / intervals.len() as f64;
            for t in intervals {
                let book = if side == Side::Sell {
                    &mut self.offered
                } else {
                    &mut self.requested
                };
                *book.entry(t).or_default() += share;
            }
        }
        Ok(())
    }

    /// What the meter reads per interval (see [`Reading`]).
    async fn readings(
        &self,
        client: &Client,
        m: u64,
        finals: &BTreeMap<Interval, Vec<Trade>>,
    ) -> Result<BTreeMap<Interval, Reading>, SimError> {
        // The battery delivers exactly what its offers traded.
        let mut ids = BTreeSet::new();
        for hash in &self.flexible {
            let receipt = client
                .receipt(hash)
                .await?
                .ok_or_else(|| SimError::Unexpected(format!("no receipt for offer {hash}")))?;
            ids.extend(
                receipt
                    .events
                    .iter()
                    .filter_map(|e| e.data["offer"]["id"].as_u64()),
            );
        }
        let mut battery: BTreeMap<Interval, i64> = BTreeMap::new();
        for (t, trades) in finals {
            for trade in trades {
                let e = trade.energy as i64;
                let delta = if ids.contains(&trade.sell) { e } else { 0 }
                    - if ids.contains(&trade.buy) { e } else { 0 };
                if delta != 0 {
                    *battery.entry(*t).or_default() += delta;
                }
            }
        }
        let mut readings = BTreeMap::new();
        let intervals: BTreeSet<Interval> = self
            .withdrawn
            .keys()
            .map(|(_, t)| *t)
            .chain(
                self.profile
                    .rows
                    .iter()
                    .filter(|r| r.first == r.last)
                    .map(|r| r.first),
            )
            .collect();
        for t in intervals {
            let deposits = client
                .query(
                    "energy",
                    "deposits",
                    serde_json::json!({"market": m, "meter": self.meter.address(), "interval": t}),
                )
                .await?;
            let epa_deposit = deposits["epa"].as_u64().unwrap_or(0) as i64;
            let epa_withdrawn = self.withdrawn.get(&(Side::Sell, t)).copied().unwrap_or(0) as i64;
            let battery = battery.get(&t).copied().unwrap_or(0);
            let measured: i64 = self
                .profile
                .rows
                .iter()
                .filter(|r| r.first == t && r.last == t)
                .map(|r| r.energy)
                .sum::<i64>()
                + battery;
            readings.insert(
                t,
                Reading {
                    delta_epa: epa_deposit - epa_withdrawn,
                    measured,
                    battery,
                },
            );
        }
        Ok(readings)
    }
}

/// A smart meter's view of one interval, in Wh.
struct Reading {
    /// Production assets deposited minus withdrawn: the energy bought minus sold.
    delta_epa: i64,
    /// Net production E: the single-interval rows as profiled plus the battery's delivery.
    measured: i64,
    /// What the home's battery delivered (its offers' trades; negative: it charged).
    battery: i64,
}

/// Eq. 2.16 summed over the day: r = E + ΔEPA is the residual production (negative: residual
/// consumption). The printed equation pairs the prices the other way round from their
/// definitions; this follows the definitions: residual consumption is charged at the DSO's
/// selling price π^B, residual production paid at its buying price π^S.
fn bill(readings: &BTreeMap<Interval, Reading>) -> i64 {
    readings
        .values()
        .map(|r| {
            let residual = r.measured + r.delta_epa;
            if residual < 0 {
                -residual * DSO_PRICE.buy as i64
            } else {
                -residual * DSO_PRICE.sell as i64
            }
        })
        .sum()
}

/// A normal sample (Box-Muller) with standard deviation `sigma`.
fn normal(rng: &mut impl rand::Rng, sigma: f64) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Each row as the home predicts it: single-interval rows get a normal error of
/// `percent` of the home's largest row, seeded by the home so runs repeat.
fn predictions(profile: &Profile, percent: f64) -> Vec<i64> {
    use rand::SeedableRng;
    let largest = profile
        .rows
        .iter()
        .map(|r| r.energy.unsigned_abs())
        .max()
        .unwrap_or(0) as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(profile.home as u64);
    profile
        .rows
        .iter()
        .map(|r| {
            if r.first == r.last && percent > 0.0 {
                r.energy + normal(&mut rng, largest * percent / 100.0).round() as i64
            } else {
                r.energy
            }
        })
        .collect()
}

/// Calls `finalize` whenever an interval is due, until the whole day is final.
async fn run_dso(
    client: Client,
    dso: Keypair,
    m: u64,
    params: MarketParams,
    day: u32,
) -> Result<Vec<f64>, SimError> {
    // How long after an interval became due its trades were final (receipt in hand), ms.
    let mut lags = Vec::new();
    loop {
        let market = market(&client, m).await?;
        if market.next_final >= day {
            return Ok(lags);
        }
        let due = agora_energy::due_at(&params, market.next_final);
        if (now_ms() as i128) < due {
            tokio::time::sleep(Duration::from_millis(
                ((due - now_ms() as i128).clamp(1, 200)) as u64,
            ))
            .await;
            continue;
        }
        let tx = client
            .send(&dso, EnergyCall::Finalize { market: m }.into_call())
            .await?;
        let receipt = client
            .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
            .await?;
        if receipt.status == TxStatus::Success {
            lags.push((now_ms() as i128 - due) as f64);
        } else {
            // Not due yet by the chain's clock: try again shortly.
            debug!(reason = ?receipt.reason, "finalize refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct SolverStats {
    submitted: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    /// Read the problem, solve, submit, until the ledger's receipt: per accepted solution (ms).
    rounds_ms: std::sync::Mutex<Vec<f64>>,
}

/// A solver daemon: solves the open problem periodically and posts better solutions.
async fn run_solver(
    client: Client,
    key: Keypair,
    m: u64,
    cfg: EnergySimConfig,
    index: usize,
    stats: Arc<SolverStats>,
    day: u32,
) -> Result<(), SimError> {
    let period = Duration::from_millis((cfg.interval_ms / 4).max(50));
    loop {
        let round = std::time::Instant::now();
        let market = market(&client, m).await?;
        if market.next_final >= day {
            return Ok(());
        }
        if index == 0 && cfg.fail_solver_at.is_some_and(|at| market.next_final >= at) {
            warn!(interval = market.next_final, "solver 0 fails as configured");
            return Ok(());
        }
        let value = client
            .query("energy", "open_problem", serde_json::json!({"market": m}))
            .await?;
        let instance: EnergyInstance =
            serde_json::from_value(value).map_err(|e| SimError::Unexpected(e.to_string()))?;
        let options = SolveOptions {
            horizon: Some(cfg.horizon),
            time_limit: Duration::from_millis(cfg.interval_ms.max(1000)),
        };
        let solved = tokio::task::spawn_blocking(move || solve(&instance, &options))
            .await
            .map_err(|e| SimError::Unexpected(e.to_string()))?;
        match solved {
            Ok(solution) if solution.objective > market.candidate_energy => {
                let tx = client
                    .send(
                        &key,
                        EnergyCall::PostSolution {
                            market: m,
                            trades: solution.trades,
                        }
                        .into_call(),
                    )
                    .await?;
                stats.submitted.fetch_add(1, Ordering::Relaxed);
                let client = client.clone();
                let stats = stats.clone();
                tokio::spawn(async move {
                    match client
                        .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
                        .await
                    {
                        Ok(r) if r.status == TxStatus::Success => {
                            let ms = round.elapsed().as_secs_f64() * 1e3;
                            stats
                                .rounds_ms
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(ms);
                            stats.accepted.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(r) => {
                            debug!(reason = ?r.reason, "solution refused");
                            stats.rejected.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => stats.rejected.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
            Ok(_) => {}
            Err(e) => warn!(%e, "solver failed this round"),
        }
        tokio::time::sleep(period).await;
    }
}

/// Runs the day on the chain behind `client`, with `faucet` paying for everything.
pub async fn run(
    client: &Client,
    faucet: &Keypair,
    profiles: Vec<Profile>,
    cfg: EnergySimConfig,
    progress: impl Fn(u32),
) -> Result<EnergySimSummary, SimError> {
    let day = day_length(&profiles);
    let dso = Keypair::generate(&mut OsRng);
    let mut homes: Vec<Home> = profiles
        .into_iter()
        .map(|profile| Home {
            predicted: predictions(&profile, cfg.prediction_error),
            announced: BTreeMap::new(),
            flexible: Vec::new(),
            profile,
            key: Keypair::generate(&mut OsRng),
            meter: Keypair::generate(&mut OsRng),
            group: 0,
            withdrawn: BTreeMap::new(),
            offered: BTreeMap::new(),
            requested: BTreeMap::new(),
            mix: None,
        })
        .collect();
    let funding: Vec<_> = std::iter::once(dso.address())
        .chain(
            homes
                .iter()
                .flat_map(|h| [h.key.address(), h.meter.address()]),
        )
        .map(|to| {
            BankCall::Transfer {
                to,
                amount: FUNDING,
            }
            .into_call()
        })
        .collect();
    execute_all(client, faucet, funding, "funding").await?;

    // The market starts once set-up had time to finish.
    let feeders: BTreeSet<u32> = homes.iter().map(|h| h.profile.feeder).collect();
    let params = MarketParams {
        interval_ms: cfg.interval_ms,
        start_ms: now_ms()
            + if cfg.mix { MIX_LEAD_MS } else { 5_000 }
            + cfg.interval_ms * (cfg.t_clear as u64 + 1),
        t_clear: cfg.t_clear,
        prices: vec![DSO_PRICE],
    };
    let m = {
        let tx = client
            .send(&dso, EnergyCall::CreateMarket(params.clone()).into_call())
            .await?;
        let receipt = client
            .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
            .await?;
        receipt
            .events
            .first()
            .and_then(|e| e.data["market"].as_u64())
            .ok_or_else(|| SimError::Unexpected("no market id".into()))?
    };
    let mut groups = BTreeMap::new();
    let mut calls = Vec::new();
    for (i, feeder) in feeders.iter().enumerate() {
        groups.insert(*feeder, i as u32);
        calls.push(
            EnergyCall::DefineGroup {
                market: m,
                feeders: vec![*feeder],
                c_int: cfg.c_int,
                c_ext: cfg.c_ext,
            }
            .into_call(),
        );
    }
    for home in &mut homes {
        home.group = groups[&home.profile.feeder];
        let (l_prod, l_cons) = home.profile.limits();
        calls.push(
            EnergyCall::RegisterSmartMeter {
                market: m,
                meter: home.meter.address(),
                prosumer: home.key.address(),
                feeder: home.profile.feeder,
                l_prod,
                l_cons,
            }
            .into_call(),
        );
    }
    execute_all(client, &dso, calls, "set-up").await?;
    futures::future::try_join_all(homes.iter().map(|h| {
        execute_all(
            client,
            &h.key,
            vec![EnergyCall::RegisterProsumer {
                market: m,
                meter: h.meter.address(),
            }
            .into_call()],
            "registration",
        )
    }))
    .await?;
    let trading_groups = define_privacy_groups(client, &dso, m, &mut homes, &cfg).await?;
    let mut mix = if cfg.mix {
        // Should mixing start late, it covers only intervals that cannot become final meanwhile.
        let first = agora_energy::intervals_due(&params, now_ms()) as Interval + 2;
        let mixing: Vec<MixingHome> = homes
            .iter()
            .map(|h| MixingHome {
                key: &h.key,
                group: h.group,
                limits: h.profile.limits(),
            })
            .collect();
        let (mixes, summary) =
            mix_homes(client, m, &mixing, first, day, cfg.public_remainder).await?;
        for (h, mix) in homes.iter_mut().zip(mixes) {
            let (l_prod, l_cons) = h.profile.limits();
            for t in first..day {
                for (side, l) in [(Side::Sell, l_prod), (Side::Buy, l_cons)] {
                    if l > 0 {
                        h.withdrawn.insert((side, t), l);
                    }
                }
            }
            h.mix = Some(mix);
        }
        if now_ms() > params.start_ms {
            warn!("mixing ended after the market started: the first intervals' offers are lost");
        }
        Some(summary)
    } else {
        None
    };
    info!(
        market = m,
        homes = homes.len(),
        feeders = feeders.len(),
        groups = trading_groups.len(),
        "market set up"
    );

    let stats = Arc::new(SolverStats {
        submitted: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        rounds_ms: std::sync::Mutex::new(Vec::new()),
    });
    let solvers: Vec<_> = (0..cfg.solvers)
        .map(|i| {
            tokio::spawn(run_solver(
                client.clone(),
                Keypair::generate(&mut OsRng),
                m,
                cfg.clone(),
                i,
                stats.clone(),
                day,
            ))
        })
        .collect();
    let dso_task = tokio::spawn(run_dso(client.clone(), dso.clone(), m, params.clone(), day));

    // Prosumers post as rows come within the window; the loop paces them a quarter interval.
    let mut posted: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); homes.len()];
    let period = Duration::from_millis((cfg.interval_ms / 4).max(20));
    loop {
        let next_final = agora_energy::intervals_due(&params, now_ms()).min(day as u64) as Interval;
        progress(next_final);
        if next_final >= day {
            break;
        }
        let rounds = homes
            .iter_mut()
            .zip(posted.iter_mut())
            .map(|(home, posted)| {
                home.post_due_rows(client, m, posted, next_final, cfg.prediction_window)
            });
        futures::future::try_join_all(rounds).await?;
        tokio::time::sleep(period).await;
    }
    let mut lags = dso_task
        .await
        .map_err(|e| SimError::Unexpected(e.to_string()))??;
    lags.sort_by(f64::total_cmp);
    for s in solvers {
        s.await.map_err(|e| SimError::Unexpected(e.to_string()))??;
    }

    let mut finals: BTreeMap<Interval, Vec<Trade>> = BTreeMap::new();
    for t in 0..day {
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
        finals.insert(t, trades);
    }

    // Deposits, then the meters' bills.
    futures::future::try_join_all(homes.iter().flat_map(|h| {
        let intervals: BTreeSet<Interval> = h.withdrawn.keys().map(|(_, t)| *t).collect();
        let deposits = move |intervals: &BTreeSet<Interval>| -> Vec<agora_types::Call> {
            intervals
                .iter()
                .map(|t| {
                    EnergyCall::Deposit {
                        market: m,
                        interval: *t,
                        meter: h.meter.address(),
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
    }))
    .await?;
    let mut total_billed = 0;
    let mut anticipated: BTreeMap<Interval, f64> = BTreeMap::new();
    let mut actual: BTreeMap<Interval, f64> = BTreeMap::new();
    for h in &homes {
        let readings = h.readings(client, m, &finals).await?;
        for (t, r) in &readings {
            // What the market announced: the single-interval offers, and batteries deliver their trades.
            let announced = h.announced.get(t).copied().unwrap_or(0) + r.battery;
            *anticipated.entry(*t).or_default() +=
                (-(announced + r.delta_epa)).max(0) as f64 / 1000.0;
            *actual.entry(*t).or_default() += (-(r.measured + r.delta_epa)).max(0) as f64 / 1000.0;
        }
        let bill = bill(&readings);
        execute_all(
            client,
            &h.meter,
            vec![EnergyCall::PostBill {
                market: m,
                cycle: 0,
                amount: bill,
            }
            .into_call()],
            "bill",
        )
        .await?;
        total_billed += bill;
    }

    let mut intervals = Vec::new();
    for (t, trades) in &finals {
        let t = *t;
        let traded = trades.iter().map(|t| t.energy).sum::<u64>() as f64 / 1000.0;
        let offered: f64 = homes.iter().filter_map(|h| h.offered.get(&t)).sum();
        let requested: f64 = homes.iter().filter_map(|h| h.requested.get(&t)).sum();
        intervals.push(IntervalSummary {
            interval: t,
            offered_kwh: offered,
            requested_kwh: requested,
            traded_kwh: traded,
            dso_load_kwh: (requested - traded).max(0.0),
            dso_load_without_trading_kwh: requested,
            dso_anticipated_kwh: anticipated.get(&t).copied().unwrap_or(0.0),
            dso_actual_kwh: actual.get(&t).copied().unwrap_or(0.0),
        });
    }
    if let Some(mix) = &mut mix {
        mix.count_offers(homes.iter().filter_map(|h| h.mix.as_ref()));
    }
    let mut rounds =
        std::mem::take(&mut *stats.rounds_ms.lock().unwrap_or_else(|e| e.into_inner()));
    rounds.sort_by(f64::total_cmp);
    Ok(EnergySimSummary {
        market: m,
        homes: homes.len(),
        feeders: feeders.len(),
        total_offered_kwh: intervals.iter().map(|i| i.offered_kwh).sum(),
        total_requested_kwh: intervals.iter().map(|i| i.requested_kwh).sum(),
        total_traded_kwh: intervals.iter().map(|i| i.traded_kwh).sum(),
        intervals,
        solutions: SolutionCounts {
            submitted: stats.submitted.load(Ordering::Relaxed),
            accepted: stats.accepted.load(Ordering::Relaxed),
            rejected: stats.rejected.load(Ordering::Relaxed),
            round_p50_ms: rounds.get(rounds.len() / 2).copied().unwrap_or(0.0),
            round_max_ms: rounds.last().copied().unwrap_or(0.0),
        },
        finalize_lag_p50_ms: lags.get(lags.len() / 2).copied().unwrap_or(0.0),
        finalize_lag_max_ms: lags.last().copied().unwrap_or(0.0),
        total_billed,
        trading_groups,
        mix,
    })
}

/// Groups the homes trade in. With privacy groups, consecutive feeders form a group whose
/// limits are the safe ones for the registered limits (eq. 2.17, 2.19).
async fn define_privacy_groups(
    client: &Client,
    dso: &Keypair,
    m: u64,
    homes: &mut [Home],
    cfg: &EnergySimConfig,
) -> Result<Vec<TradingGroup>, SimError> {
    use agora_energy::grouping::{safe_group_limit, FeederLoad};
    let feeders: Vec<u32> = homes
        .iter()
        .map(|h| h.profile.feeder)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let size = cfg.privacy_group_size.max(1) as usize;
    let mut groups = Vec::new();
    if size == 1 {
        for (id, f) in feeders.iter().enumerate() {
            groups.push(TradingGroup {
                id: id as u32,
                feeders: vec![*f],
                homes: homes.iter().filter(|h| h.profile.feeder == *f).count(),
                c_int: cfg.c_int,
                c_ext: cfg.c_ext,
            });
        }
        return Ok(groups);
    }
    let mut calls = Vec::new();
    for (i, chunk) in feeders.chunks(size).enumerate() {
        let loads = |limit: u64| {
            chunk
                .iter()
                .map(|f| {
                    let (prod, cons) = homes
                        .iter()
                        .filter(|h| h.profile.feeder == *f)
                        .map(|h| h.profile.limits())
                        .fold((0, 0), |(p, c), (lp, lc)| (p + lp, c + lc));
                    FeederLoad {
                        limit,
                        prosumer_limits: u64::max(prod, cons),
                    }
                })
                .collect::<Vec<_>>()
        };
        let group = TradingGroup {
            // Feeder groups took the first ids.
            id: (feeders.len() + i) as u32,
            feeders: chunk.to_vec(),
            homes: homes
                .iter()
                .filter(|h| chunk.contains(&h.profile.feeder))
                .count(),
            c_int: safe_group_limit(loads(cfg.c_int)),
            c_ext: safe_group_limit(loads(cfg.c_ext)),
        };
        calls.push(
            EnergyCall::DefineGroup {
                market: m,
                feeders: group.feeders.clone(),
                c_int: group.c_int,
                c_ext: group.c_ext,
            }
            .into_call(),
        );
        for h in homes
            .iter_mut()
            .filter(|h| chunk.contains(&h.profile.feeder))
        {
            h.group = group.id;
        }
        groups.push(group);
    }
    execute_all(client, dso, calls, "privacy groups").await?;
    Ok(groups)
}

/// Every row of every profile as an open offer at interval 0, sized to the homes' limits the
/// way the prosumer agents size them, with one group per feeder: the whole day as one instance.
pub fn day_instance(profiles: &[Profile], c_int: u64, c_ext: u64) -> EnergyInstance {
    use agora_energy::{Group, Offer};
    use agora_solver::energy::AssetHolding;
    let feeders: BTreeSet<u32> = profiles.iter().map(|p| p.feeder).collect();
    let group_of: BTreeMap<u32, u32> = feeders
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i as u32))
        .collect();
    let mut offers = Vec::new();
    let mut assets: BTreeMap<(Address, Side, u32, Interval), u64> = BTreeMap::new();
    for p in profiles {
        let mut account = [0u8; 32];
        account[..4].copy_from_slice(&p.home.to_be_bytes());
        let account = Address(account);
        let (l_prod, l_cons) = p.limits();
        let mut withdrawn: BTreeMap<(Side, Interval), u64> = BTreeMap::new();
        for (i, row) in p.rows.iter().enumerate() {
            let (side, limit, base) = if row.energy > 0 {
                (Side::Sell, l_prod, 10)
            } else {
                (Side::Buy, l_cons, 20)
            };
            let room = (row.first..=row.last)
                .map(|t| limit.saturating_sub(withdrawn.get(&(side, t)).copied().unwrap_or(0)))
                .min()
                .unwrap_or(0);
            let energy = row.energy.unsigned_abs().min(room);
            if energy == 0 {
                continue;
            }
            let group = group_of[&p.feeder];
            for t in row.first..=row.last {
                *withdrawn.entry((side, t)).or_default() += energy;
                *assets.entry((account, side, group, t)).or_default() += energy;
            }
            offers.push(Offer {
                id: offers.len() as u64,
                account,
                side,
                group,
                energy,
                intervals: (row.first..=row.last).collect(),
                price: price(base, p.home, i),
                finalized: 0,
                hold: None,
                open: true,
            });
        }
    }
    EnergyInstance {
        next_final: 0,
        offers,
        groups: feeders
            .iter()
            .map(|f| Group {
                id: group_of[f],
                feeders: vec![*f],
                c_int,
                c_ext,
            })
            .collect(),
        assets: assets
            .into_iter()
            .map(|((account, side, group, interval), energy)| AssetHolding {
                account,
                side,
                group,
                interval,
                energy,
            })
            .collect(),
    }
}

/// The whole day solved at once with every row offered (no prediction window, no horizon):
/// the most energy the data and limits allow, for comparison with a simulated day.
pub fn offline_optimum(
    profiles: &[Profile],
    c_int: u64,
    c_ext: u64,
) -> Result<u64, agora_solver::energy::SolverError> {
    Ok(solve(
        &day_instance(profiles, c_int, c_ext),
        &SolveOptions::default(),
    )?
    .objective)
}

impl EnergySimSummary {
    /// The day's charts: offered, requested and traded energy per interval, and the DSO's
    /// load with and without the market.
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        use crate::plot::{line_chart, Series};
        let series = |name, color, f: fn(&IntervalSummary) -> f64| Series {
            name,
            color,
            points: self
                .intervals
                .iter()
                .map(|i| (i.interval as f64, f(i)))
                .collect(),
        };
        vec![
            (
                "energy.svg",
                line_chart(
                    "Offered, requested and traded energy",
                    "interval (15 min)",
                    "kWh",
                    &[
                        series("offered", "#2a9d8f", |i| i.offered_kwh),
                        series("requested", "#e76f51", |i| i.requested_kwh),
                        series("traded", "#264653", |i| i.traded_kwh),
                    ],
                ),
            ),
            (
                "dso_load.svg",
                line_chart(
                    "Energy the DSO supplies",
                    "interval (15 min)",
                    "kWh",
                    &[
                        series("without trading", "#e76f51", |i| {
                            i.dso_load_without_trading_kwh
                        }),
                        series("with trading", "#264653", |i| i.dso_load_kwh),
                    ],
                ),
            ),
        ]
    }
}
