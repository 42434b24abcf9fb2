//! `agora bench`: measurements on a fresh local chain (never part of the test suite).

use crate::{devnet::RunningDevnet, output::Output};
use agora_bank::BankCall;
use agora_client::Client;
use agora_node::devnet::Devnet;
use agora_sim::stream::metrics::percentile;
use agora_types::{Keypair, SignedTransaction, Transaction, TxHash};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use futures::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// The compute market: time the market adds to a job beyond its runs, what fuel metering
    /// costs on the shipped kernels, and resident memory per agent.
    Compute {
        /// Jobs of the market run (nominal: honest RP, p_v = 0.02).
        #[arg(long, default_value_t = 20)]
        jobs: usize,
        /// Runs of each kernel on each engine for the metering overhead.
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// Finalized transfers per second and finality latency on loopback.
    Transfers {
        #[arg(long, default_value_t = 1)]
        validators: usize,
        /// Transfers to send in all.
        #[arg(long, default_value_t = 50_000)]
        txs: usize,
        /// Accounts sending them (each sends txs/senders in nonce order).
        #[arg(long, default_value_t = 200)]
        senders: usize,
        /// Submissions in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Offered load in transfers per second (0: as fast as the node takes them). Latency
        /// is only meaningful below the chain's capacity.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Energy LP solve time and verification time on the microgrid's homes, replicated.
    Energy {
        /// Directory of prosumer_<id>.csv profiles (e.g. microgrid-102/withBattery).
        #[arg(long)]
        profiles: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        prosumers: usize,
        /// Solver horizon T_h.
        #[arg(long, default_value_t = 30)]
        horizon: u32,
        /// Every feeder's internal and external limit, kWh per interval (binding by default).
        #[arg(long, default_value_t = 20.0)]
        c_int: f64,
        #[arg(long, default_value_t = 8.0)]
        c_ext: f64,
        /// Solves to time (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Discovery on N hosts (network namespaces on a bridge; needs root): time from a
    /// publisher's registration to each subscriber's notification, and daemon memory.
    Discovery {
        #[arg(long, value_delimiter = ',', default_value = "5,9,17,32,64")]
        hosts: Vec<usize>,
        /// Publishers registered one after another per size (each notifies every other host).
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// Deterministic simulations of 4 validators with message loss, a partition, a crash and one
    /// Byzantine validator, one per seed: safety and liveness violations.
    Faults {
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
    },
    /// Kills a validator of a 4-validator devnet with SIGKILL, under load, N times: finalized
    /// blocks lost and transfers executed twice.
    Crash {
        #[arg(long, default_value_t = 20)]
        restarts: usize,
    },
    /// Every fuzz target (transactions and blocks, module calls, mixer messages, discovery's
    /// wire formats) for a fixed time each: inputs tried and crashes found.
    Fuzz {
        /// Budget per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the mutations (the run is the same for the same seed and input count).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
    },
    /// The allocation market's solver round trip on a fresh chain: offers placed, open-problem
    /// read, solve, verify, solution submitted to receipt, `Finalize` submitted to receipt.
    Allocation(crate::allocation::BenchArgs),
    /// One CoinShuffle session among N members on loopback TCP: time and bytes.
    Mix {
        /// Session sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "5,10,20,50")]
        members: Vec<usize>,
        /// Sessions per size (the median and the largest time are reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

#[derive(Serialize)]
struct MixReport {
    members: usize,
    runs: usize,
    p50_ms: f64,
    max_ms: f64,
    /// Bytes all members sent in one session, frames included.
    bytes: u64,
    bytes_per_member: u64,
}

#[derive(Serialize)]
struct TransferReport {
    validators: usize,
    offered_rate: u64,
    txs: usize,
    finalized: usize,
    seconds: f64,
    transfers_per_second: f64,
    p50_finality_ms: f64,
    p99_finality_ms: f64,
    idle_rss_mb: f64,
}

pub fn run(cmd: BenchCommand, out: &Output) -> Result<()> {
    let (validators, txs, senders, concurrency, rate) = match cmd {
        BenchCommand::Energy {
            profiles,
            prosumers,
            horizon,
            c_int,
            c_ext,
            runs,
        } => {
            return energy(&profiles, prosumers, horizon, c_int, c_ext, runs, out);
        }
        BenchCommand::Mix { members, runs } => return mix(&members, runs, out),
        BenchCommand::Allocation(args) => return crate::allocation::bench(args, out),
        BenchCommand::Compute { jobs, reps } => return crate::compute_sim::bench(jobs, reps, out),
        BenchCommand::Faults { seeds } => return crate::reliability::faults(seeds, out),
        BenchCommand::Fuzz {
            seconds,
            seed,
            target,
        } => return crate::fuzz::fuzz(seconds, seed, target, out),
        BenchCommand::Crash { restarts } => return crate::reliability::crash(restarts, out),
        BenchCommand::Discovery { hosts, rounds } => return discovery(&hosts, rounds, out),
        BenchCommand::Transfers {
            validators,
            txs,
            senders,
            concurrency,
            rate,
        } => (validators, txs, senders, concurrency, rate),
    };
    if senders == 0 || txs < senders {
        bail!("need at least one sender and one transfer per sender");
    }
    let report =
        crate::runtime()?.block_on(transfers(validators, txs, senders, concurrency, rate))?;
    out.print(&report, || {
        format!(
            "{} validator(s): {} of {} transfers finalized in {:.2} s = {:.0} transfers/s; finality p50 {:.0} ms, p99 {:.0} ms; idle RSS {:.1} MB",
            report.validators,
            report.finalized,
            report.txs,
            report.seconds,
            report.transfers_per_second,
            report.p50_finality_ms,
            report.p99_finality_ms,
            report.idle_rss_mb
        )
    })
}

fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

/// A memory figure (kB in the file) of `/proc/PID/status`, in MB.
pub(crate) fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn submit_all(
    clients: &[Client],
    txs: Vec<SignedTransaction>,
    concurrency: usize,
    rate: u64,
) -> Result<HashMap<TxHash, Instant>> {
    let submitted = Arc::new(Mutex::new(HashMap::new()));
    let start = tokio::time::Instant::now();
    let results: Vec<Result<()>> = stream::iter(txs.into_iter().enumerate())
        .map(|(i, tx)| {
            let client = clients[i % clients.len()].clone();
            let submitted = submitted.clone();
            async move {
                if rate > 0 {
                    tokio::time::sleep_until(
                        start + Duration::from_secs_f64(i as f64 / rate as f64),
                    )
                    .await;
                }
                let at = Instant::now();
                client.submit(&tx).await?;
                submitted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(tx.hash(), at);
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<()>>()?;
    let map = std::mem::take(&mut *submitted.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(map)
}

async fn transfers(
    validators: usize,
    total: usize,
    senders: usize,
    concurrency: usize,
    rate: u64,
) -> Result<TransferReport> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let base = crate::devnet::free_base_port(validators)?;
    let running = RunningDevnet::start(dir.path(), Some(validators), base).await?;
    let urls = running.devnet.rpc_urls();
    let clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::new(u))
        .collect::<Result<_, _>>()?;
    let chain_id = running.devnet.genesis.chain_id.clone();

    // An idle node, after start-up settled.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_rss_mb = running
        .pids()
        .into_iter()
        .filter_map(rss_mb)
        .fold(0.0, f64::max);

    // Fund the senders.
    let faucet = Keypair::read(&Devnet::faucet_key_path(dir.path()))?;
    let keys: Vec<Keypair> = (0..senders)
        .map(|i| Keypair::from_seed(1_000 + i as u64))
        .collect();
    let funding: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(nonce, k)| {
            Transaction {
                chain_id: chain_id.clone(),
                sender: faucet.address(),
                nonce: nonce as u64,
                call: BankCall::Transfer {
                    to: k.address(),
                    amount: 1_000_000_000,
                }
                .into_call(),
            }
            .sign(&faucet)
        })
        .collect();
    let last_funding = funding.last().map(SignedTransaction::hash);
    for tx in &funding {
        clients[0].submit(tx).await?;
    }
    if let Some(hash) = last_funding {
        clients[0]
            .wait_for_receipt(&hash, Duration::from_secs(120))
            .await?;
    }

    // Sign everything before the clock starts.
    let per_sender = total / senders;
    let mut txs = Vec::with_capacity(per_sender * senders);
    for nonce in 0..per_sender as u64 {
        for (i, key) in keys.iter().enumerate() {
            let to = keys[(i + 1) % keys.len()].address();
            txs.push(
                Transaction {
                    chain_id: chain_id.clone(),
                    sender: key.address(),
                    nonce,
                    call: BankCall::Transfer { to, amount: 1 }.into_call(),
                }
                .sign(key),
            );
        }
    }
    let total = txs.len();

    let mut blocks = clients[0].subscribe_blocks().await?;
    let seen: Arc<Mutex<HashMap<TxHash, Instant>>> = Arc::default();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} finalized {per_sec} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let watcher = {
        let seen = seen.clone();
        let progress = progress.clone();
        tokio::spawn(async move {
            while let Some(Ok(block)) = blocks.next().await {
                let now = Instant::now();
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                for tx in block.txs {
                    seen.insert(tx.hash, now);
                }
                progress.set_position(seen.len() as u64);
                if seen.len() >= total {
                    break;
                }
            }
        })
    };
    let start = Instant::now();
    let submitted = submit_all(&clients, txs, concurrency, rate).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !watcher.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    progress.finish_and_clear();
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    let mut latencies: Vec<f64> = submitted
        .iter()
        .filter_map(|(hash, at)| {
            seen.get(hash)
                .map(|s| s.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let end = seen.values().max().copied().unwrap_or(start);
    let seconds = end.duration_since(start).as_secs_f64();
    drop(running);
    Ok(TransferReport {
        validators,
        offered_rate: rate,
        txs: total,
        finalized: latencies.len(),
        seconds,
        transfers_per_second: latencies.len() as f64 / seconds.max(f64::EPSILON),
        p50_finality_ms: percentile(&latencies, 0.5),
        p99_finality_ms: percentile(&latencies, 0.99),
        idle_rss_mb,
    })
}

#[derive(Serialize)]
struct EnergyWindow {
    next_final: u32,
    variables: usize,
    rows: usize,
    integrality: agora_solver::energy::Integrality,
    objective_wh: u64,
    lp_objective_wh: f64,
    trades: usize,
    binding_group_limits: usize,
    solve_ms: f64,
    verify_ms: f64,
}

#[derive(Serialize)]
struct EnergyReport {
    prosumers: usize,
    intervals: u32,
    horizon: u32,
    offers: usize,
    flexible_offers: usize,
    /// The solver's work at each point of the day it is benchmarked at.
    windows: Vec<EnergyWindow>,
    max_solve_ms: f64,
    max_verify_ms: f64,
    peak_rss_mb: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    percentile(&xs, 0.5)
}

fn energy(
    dir: &std::path::Path,
    prosumers: usize,
    horizon: u32,
    c_int: f64,
    c_ext: f64,
    runs: usize,
    out: &Output,
) -> Result<()> {
    use agora_solver::energy::{solve, SolveOptions};
    let base = agora_sim::profiles::read_profiles(dir)?;
    // Copy k of home h is home h + 2000k: on feeder (h + 2000k) / 100, a feeder of its own copy.
    let copies = prosumers.div_ceil(base.len().max(1)) as u32;
    let mut homes = agora_sim::profiles::replicate(&base, copies)?;
    homes.truncate(prosumers);
    let wh = |kwh: f64| (kwh * 1000.0).round() as u64;
    let mut instance = agora_sim::energy::day_instance(&homes, wh(c_int), wh(c_ext));
    let day = agora_sim::energy::day_length(&homes);
    let options = SolveOptions {
        horizon: Some(horizon),
        time_limit: Duration::from_secs(600),
    };
    let offers = instance.index().offers;
    let mut windows = Vec::new();
    for next_final in (0..day).step_by(8) {
        instance.next_final = next_final;
        let mut times = Vec::new();
        let mut solution = None;
        for _ in 0..runs.max(1) {
            let s = solve(&instance, &options)?;
            times.push(s.solve_ms);
            solution = Some(s);
        }
        let solution = solution.context("no run")?;
        // As the ledger does: only what the solution names is loaded.
        let mut verify_times = Vec::new();
        for _ in 0..20 {
            verify_times.push(agora_sim::energy::verify_timed(&instance, &solution.trades)?.1);
        }
        let mut per_group: std::collections::BTreeMap<(u32, u32), (u64, u64)> = Default::default();
        for t in &solution.trades {
            per_group
                .entry((offers[&t.sell].group, t.interval))
                .or_default()
                .0 += t.energy;
            per_group
                .entry((offers[&t.buy].group, t.interval))
                .or_default()
                .1 += t.energy;
        }
        windows.push(EnergyWindow {
            next_final,
            variables: solution.variables,
            rows: solution.rows,
            integrality: solution.integrality,
            objective_wh: solution.objective,
            lp_objective_wh: solution.lp_objective,
            trades: solution.trades.len(),
            binding_group_limits: per_group
                .values()
                .filter(|(s, b)| (*s).max(*b) == wh(c_int) || s.abs_diff(*b) == wh(c_ext))
                .count(),
            solve_ms: median(times),
            verify_ms: median(verify_times),
        });
    }
    let report = EnergyReport {
        prosumers,
        intervals: day,
        horizon,
        offers: instance.offers.len(),
        flexible_offers: instance
            .offers
            .iter()
            .filter(|o| o.intervals.len() > 1)
            .count(),
        max_solve_ms: windows.iter().map(|w| w.solve_ms).fold(0.0, f64::max),
        max_verify_ms: windows.iter().map(|w| w.verify_ms).fold(0.0, f64::max),
        windows,
        peak_rss_mb: std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
            / 1024.0,
    };
    out.print(&report, || {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    })
}

/// Times whole sessions: listeners, connections, all steps, every member done.
fn mix(sizes: &[usize], runs: usize, out: &Output) -> Result<()> {
    use agora_mixer::{loopback_links, MixConfig, TcpNet};
    if sizes.iter().any(|&n| n < 2) || runs == 0 {
        bail!("a session needs at least two members, and at least one run");
    }
    let rt = crate::runtime()?;
    let mut reports = Vec::new();
    for &n in sizes {
        let mut times = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs {
            let keys: Vec<Keypair> = (0..n)
                .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
                .collect();
            let (ms, sent) = rt.block_on(async {
                let started = Instant::now();
                let addresses: Vec<_> = keys.iter().map(|k| k.address()).collect();
                let links = loopback_links(&addresses).await?;
                let cfg = MixConfig {
                    session: rand::random(),
                    members: addresses,
                    step_timeout: Duration::from_secs(10),
                    statement_namespace: b"agora-bench-mix".to_vec(),
                    min_members: 2,
                };
                let tasks: Vec<_> = keys
                    .iter()
                    .cloned()
                    .zip(links)
                    .map(|(key, (listener, peers))| {
                        let cfg = cfg.clone();
                        tokio::spawn(async move {
                            let mut net =
                                TcpNet::connect(listener, &peers, Duration::from_secs(10)).await;
                            let outcome = agora_mixer::mix(&cfg, &key, &mut net, |run, i, o| {
                                let addresses = i.iter().chain(o).flat_map(|a| a.0);
                                run.to_be_bytes().into_iter().chain(addresses).collect()
                            })
                            .await;
                            outcome.map(|_| net.bytes_sent)
                        })
                    })
                    .collect();
                let mut sent = 0;
                for t in tasks {
                    sent += t
                        .await
                        .context("a member's task failed")?
                        .context("a member failed")?;
                }
                anyhow::Ok((started.elapsed().as_secs_f64() * 1000.0, sent))
            })?;
            times.push(ms);
            bytes = sent;
        }
        times.sort_by(f64::total_cmp);
        reports.push(MixReport {
            members: n,
            runs,
            p50_ms: percentile(&times, 0.5),
            max_ms: times.last().copied().unwrap_or(f64::NAN),
            bytes,
            bytes_per_member: bytes / n as u64,
        });
    }
    out.print(&reports, || {
        reports
            .iter()
            .map(|r| {
                format!(
                    "{:>3} members: p50 {:.0} ms, max {:.0} ms; {} bytes sent in all ({} per member)",
                    r.members, r.p50_ms, r.max_ms, r.bytes, r.bytes_per_member
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[derive(Serialize)]
struct DiscoveryReport {
    hosts: usize,
    notifications: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Resident memory of the daemons after the rounds; most of it is the binary's pages,
    /// which the daemons of one machine share.
    max_rss_mb: f64,
    mean_rss_mb: f64,
    /// Memory private to each daemon (anonymous resident pages).
    mean_anon_mb: f64,
}

/// Registration-to-notification time: every host but the publisher's subscribes first; the
/// publisher registers; each subscriber's client takes the time its notification arrives.
/// All hosts run on this machine, so one clock serves them all.
fn discovery(sizes: &[usize], rounds: usize, out: &Output) -> Result<()> {
    use agora_discovery::{testbed::Testbed, Client, Event, Kind, Service};
    let exe = std::env::current_exe().context("cannot find the agora binary")?;
    let rt = crate::runtime()?;
    let mut reports = Vec::new();
    for &n in sizes {
        if n < 2 {
            bail!("a discovery benchmark needs at least two hosts");
        }
        let bed = Testbed::new(n).context("cannot build the testbed (needs root and iproute2)")?;
        let dir = tempfile::tempdir()?;
        let homes: Vec<_> = (0..n).map(|i| dir.path().join(format!("h{i}"))).collect();
        let publishers = dir.path().join("publishers");
        agora_discovery::testbed::trust_all(&homes, &publishers)?;
        let mut daemons = Vec::with_capacity(n);
        for (i, home) in homes.iter().enumerate() {
            let child = bed
                .command(i, exe.to_str().context("binary path is not UTF-8")?)
                .arg("discovery")
                .arg("--home")
                .arg(home)
                .arg("--publishers")
                .arg(&publishers)
                .arg("--socket")
                .arg(dir.path().join(format!("h{i}.sock")))
                .args(["--beacon-ms", "1000", "--refresh-ms", "5000"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .context("cannot start a daemon")?;
            daemons.push(ChildGuard(child));
        }
        let socket = |i: usize| dir.path().join(format!("h{i}.sock"));
        let times = rt.block_on(async {
            // Every daemon hears every other before the clock starts.
            let settle = Instant::now();
            'wait: loop {
                let mut heard = 0;
                for i in 0..n {
                    if let Ok(s) = agora_discovery::services(&socket(i)).await {
                        heard += usize::from(s.hosts.len() == n - 1);
                    }
                }
                if heard == n {
                    break 'wait;
                }
                if settle.elapsed() > Duration::from_secs(60) {
                    bail!("{n} hosts did not all hear each other within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let clients: Vec<Client> = (0..n)
                .map(|i| Client::connect(socket(i), Duration::from_millis(50)))
                .collect();
            let mut times = Vec::new();
            for round in 0..rounds {
                let app = format!("bench{round}");
                let publisher = round % n;
                let mut subs: Vec<_> = (0..n)
                    .filter(|&i| i != publisher)
                    .map(|i| clients[i].subscribe(&app, "m", Kind::Sub))
                    .collect();
                // The subscriptions' own DHT work settles before the clock starts.
                tokio::time::sleep(Duration::from_secs(2)).await;
                let start = Instant::now();
                clients[publisher].register(Service {
                    app: app.clone(),
                    msg: "m".into(),
                    kind: Kind::Pub,
                    address: format!("host{publisher}"),
                })?;
                let waits = subs.iter_mut().map(|s| async move {
                    loop {
                        match tokio::time::timeout(Duration::from_secs(30), s.recv()).await {
                            Ok(Some(Event::Appeared(_))) => {
                                return Ok(start.elapsed().as_secs_f64() * 1000.0)
                            }
                            Ok(Some(Event::Gone(_))) => continue,
                            _ => bail!("a subscriber was not notified within 30 s"),
                        }
                    }
                });
                times.extend(futures::future::try_join_all(waits).await?);
            }
            anyhow::Ok(times)
        })?;
        let mut times = times;
        times.sort_by(f64::total_cmp);
        let rss: Vec<f64> = daemons.iter().filter_map(|d| rss_mb(d.0.id())).collect();
        reports.push(DiscoveryReport {
            hosts: n,
            notifications: times.len(),
            p50_ms: percentile(&times, 0.5),
            p99_ms: percentile(&times, 0.99),
            max_ms: times.last().copied().unwrap_or(f64::NAN),
            max_rss_mb: rss.iter().copied().fold(0.0, f64::max),
            mean_rss_mb: rss.iter().sum::<f64>() / rss.len().max(1) as f64,
            mean_anon_mb: daemons
                .iter()
                .filter_map(|d| status_mb(d.0.id(), "RssAnon:"))
                .sum::<f64>()
                / n as f64,
        });
    }
    out.print(&reports, || {
        reports
            .iter()
            .map(|r| {
                format!(
                    "{:>3} hosts: {} notifications, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; daemon RSS mean {:.1} MB, max {:.1} MB, private {:.1} MB",
                    r.hosts, r.notifications, r.p50_ms, r.p99_ms, r.max_ms, r.mean_rss_mb, r.max_rss_mb, r.mean_anon_mb
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Kills the process when dropped.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
