//! `agora bench faults` and `agora bench crash`: safety and liveness under faults, counted.

use crate::{devnet::RunningDevnet, output::Output};
use agora_bank::BankCall;
use agora_client::Client;
use agora_node::{devnet::Devnet, simulation::faults_run};
use agora_types::{Address, Keypair, Transaction, TxHash};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tracing::{info, warn};

#[derive(Serialize)]
struct FaultsReport {
    seeds: u64,
    safety_violations: u64,
    liveness_violations: u64,
}

/// Runs the deterministic fault scenario of every seed in `0..seeds`, one seed at a time per
/// core (each scenario is single-threaded and independent of the others).
pub fn faults(seeds: u64, out: &Output) -> Result<()> {
    let start = Instant::now();
    let next = AtomicU64::new(0);
    let outcomes = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds {
                    return;
                }
                let outcome = faults_run(seed);
                if let Some(detail) = &outcome.detail {
                    warn!(seed, fault = ?outcome.fault, detail, "fault scenario failed");
                }
                let mut done = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                done.push((outcome.safe, outcome.live));
                if done.len() % 50 == 0 {
                    info!(
                        done = done.len(),
                        seconds = start.elapsed().as_secs(),
                        "fault scenarios"
                    );
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    let report = FaultsReport {
        seeds,
        safety_violations: outcomes.iter().filter(|(safe, _)| !safe).count() as u64,
        liveness_violations: outcomes.iter().filter(|(_, live)| !live).count() as u64,
    };
    out.print(&report, || {
        format!(
            "{} seeds: {} safety violations, {} liveness violations ({:.0} s)",
            report.seeds,
            report.safety_violations,
            report.liveness_violations,
            start.elapsed().as_secs_f64()
        )
    })
}

#[derive(Serialize)]
struct CrashReport {
    restarts: usize,
    /// Blocks or receipts a validator had before a crash and not after it (or that differ).
    finalized_lost: u64,
    /// Transfers whose effect a validator applied more than once.
    executed_twice: u64,
}

/// Validators of the crash bench; validator 0 takes the load and is never killed.
const VALIDATORS: usize = 4;

/// Transfer `nonce` goes to an account of its own, so a double execution shows in its balance.
fn recipient(nonce: u64) -> Address {
    Keypair::from_seed(5_000_000 + nonce).address()
}

fn amount(nonce: u64) -> u64 {
    1 + nonce % 1_000
}

/// Kills a validator with SIGKILL `restarts` times under a stream of transfers.
pub fn crash(restarts: usize, out: &Output) -> Result<()> {
    let report = crate::runtime()?.block_on(crash_run(restarts))?;
    out.print(&report, || {
        format!(
            "{} restarts under load: {} finalized blocks or receipts lost, {} transfers executed twice",
            report.restarts, report.finalized_lost, report.executed_twice
        )
    })
}

/// Streams transfers from the faucet into `client` until `stop`; returns how many it sent.
fn load(
    client: Client,
    faucet: Keypair,
    chain_id: String,
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<u64>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut nonce = 0;
        while !stop.load(Ordering::Relaxed) {
            let tx = Transaction {
                chain_id: chain_id.clone(),
                sender: faucet.address(),
                nonce,
                call: BankCall::Transfer {
                    to: recipient(nonce),
                    amount: amount(nonce),
                }
                .into_call(),
            }
            .sign(&faucet);
            match client.submit(&tx).await {
                Ok(_) => {
                    nonce += 1;
                    *sent.lock().unwrap_or_else(|e| e.into_inner()) = nonce;
                }
                Err(e) => warn!(%e, "submission refused; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl AsyncFnMut() -> bool,
) -> Result<()> {
    let start = Instant::now();
    while !done().await {
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn crash_run(restarts: usize) -> Result<CrashReport> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let base = crate::devnet::free_base_port(VALIDATORS)?;
    let mut running = RunningDevnet::start(dir.path(), Some(VALIDATORS), base).await?;
    let clients: Vec<Client> = running
        .devnet
        .rpc_urls()
        .iter()
        .map(|u| Client::new(u))
        .collect::<Result<_, _>>()?;
    let faucet = Keypair::read(&Devnet::faucet_key_path(dir.path()))?;
    let chain_id = running.devnet.genesis.chain_id.clone();
    let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(0)));
    let loader = load(
        clients[0].clone(),
        faucet.clone(),
        chain_id,
        stop.clone(),
        sent.clone(),
    );
    let mut report = CrashReport {
        restarts,
        finalized_lost: 0,
        executed_twice: 0,
    };
    for round in 0..restarts {
        let victim = 1 + round % (VALIDATORS - 1);
        let client = &clients[victim];
        wait_for(
            "a block on the victim",
            Duration::from_secs(120),
            async || client.status().await.is_ok_and(|s| s.height > 0),
        )
        .await?;
        let height = client.status().await?.height;
        let before = client.block(height).await?;
        running.kill9(victim)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        running.restart(victim)?;
        let target = clients[0].status().await?.height;
        wait_for(
            "the restarted validator",
            Duration::from_secs(180),
            async || client.status().await.is_ok_and(|s| s.height >= target),
        )
        .await?;
        if client.block(height).await? != before {
            warn!(
                victim,
                height, "a block executed before the crash changed or vanished"
            );
            report.finalized_lost += 1;
        }
        info!(
            round = round + 1,
            victim, height, "validator restarted and caught up"
        );
    }
    stop.store(true, Ordering::Relaxed);
    loader.await.context("the load task failed")?;
    let sent = *sent.lock().unwrap_or_else(|e| e.into_inner());
    // Every submitted transfer executes or is dropped; wait until the faucet's nonce holds.
    wait_for("the last transfers", Duration::from_secs(120), async || {
        clients[0]
            .next_nonce(&faucet.address())
            .await
            .is_ok_and(|n| n >= sent)
    })
    .await?;
    let top = clients[0].status().await?.height;
    for client in &clients {
        wait_for(
            "every validator at the tip",
            Duration::from_secs(120),
            async || client.status().await.is_ok_and(|s| s.height >= top),
        )
        .await?;
    }
    let chain_id = running.devnet.genesis.chain_id.clone();
    let (lost, twice) = audit(&clients, &faucet, &chain_id, sent).await?;
    report.finalized_lost += lost;
    report.executed_twice += twice;
    Ok(report)
}

/// Checks every transfer on every validator: a receipt the load's validator has must be on the
/// others (else lost), and each recipient must hold its amount exactly once.
async fn audit(
    clients: &[Client],
    faucet: &Keypair,
    chain_id: &str,
    sent: u64,
) -> Result<(u64, u64)> {
    let (mut lost, mut twice) = (0, 0);
    for nonce in 0..sent {
        let hash: TxHash = Transaction {
            chain_id: chain_id.to_string(),
            sender: faucet.address(),
            nonce,
            call: BankCall::Transfer {
                to: recipient(nonce),
                amount: amount(nonce),
            }
            .into_call(),
        }
        .sign(faucet)
        .hash();
        let reference = clients[0].receipt(&hash).await?;
        for client in clients {
            if client.receipt(&hash).await? != reference {
                lost += 1;
            }
            let balance = client.balance(&recipient(nonce)).await?;
            let expected = if reference.is_some() {
                amount(nonce)
            } else {
                0
            };
            if balance > expected {
                twice += 1;
            }
        }
    }
    Ok((lost, twice))
}
