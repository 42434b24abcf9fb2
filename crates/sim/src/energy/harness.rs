//! The day's harness: sets up the market, runs the agents, and collects the summary.

use super::*;

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
            anon: Vec::new(),
            anon_used: BTreeMap::new(),
            mixing: cfg.mix,
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
    let mix = if cfg.mix {
        // Should mixing start late, it covers only intervals that cannot become final meanwhile.
        let first = agora_energy::intervals_due(&params, now_ms()) as Interval + 2;
        let summary = mix_homes(client, m, &mut homes, first, day).await?;
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
        let public = if h.mixing && !h.holds_unmixed() {
            Vec::new()
        } else {
            deposits(&intervals)
        };
        std::iter::once(execute_all(client, &h.key, public, "deposit")).chain(
            h.anon
                .iter()
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
