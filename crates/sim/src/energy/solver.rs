//! The solver daemon: solves the open problem and posts better solutions.

use super::{market, offline::verify_timed, EnergySimConfig, SimError};
use agora_client::Client;
use agora_energy::solution::solution_calls;
use agora_solver::energy::{solve, EnergyInstance, SolveOptions};
use agora_types::{Keypair, TxStatus};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// What the daemons did, shared by all of them.
#[derive(Default)]
pub(super) struct SolverStats(Mutex<Tally>);

#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub(super) submitted: u64,
    pub(super) accepted: u64,
    pub(super) rejected: u64,
    /// Read the problem, solve, submit, until the ledger's receipt: per accepted solution (ms).
    pub(super) rounds_ms: Vec<f64>,
    /// Every solve (ms), and the module's `verify` of every posted solution on the same
    /// instance, run by the daemon as a validator would (ms).
    pub(super) solves_ms: Vec<f64>,
    pub(super) verify_max_ms: f64,
    /// The largest LP: its variables and rows (memory grows with them).
    pub(super) max_variables: usize,
    pub(super) max_rows: usize,
    /// The largest solution posted or refused by the node: trades, signed bytes (all parts),
    /// and transactions (more than one when staged).
    pub(super) largest_trades: usize,
    pub(super) largest_bytes: usize,
    pub(super) largest_parts: usize,
    /// Solutions the node would not take (e.g. beyond the transaction size limit).
    pub(super) unsendable: u64,
}

impl SolverStats {
    fn update(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) fn take(&self) -> Tally {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A solver daemon: solves the open problem periodically and posts better solutions.
pub(super) async fn run_solver(
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
        let round = Instant::now();
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
        let solved = tokio::task::spawn_blocking(move || {
            let solved = solve(&instance, &options);
            (instance, solved)
        })
        .await
        .map_err(|e| SimError::Unexpected(e.to_string()))?;
        match solved {
            (instance, Ok(solution)) => {
                stats.update(|s| {
                    s.solves_ms.push(solution.solve_ms);
                    s.max_variables = s.max_variables.max(solution.variables);
                    s.max_rows = s.max_rows.max(solution.rows);
                });
                if solution.score() <= market.candidate {
                    tokio::time::sleep(period).await;
                    continue;
                }
                // The ledger has the last word; a disagreement is logged, not fatal.
                let verify_ms = match verify_timed(&instance, &solution.trades) {
                    Ok((_, ms)) => ms,
                    Err(v) => {
                        warn!(%v, "the module's verify refuses this solution");
                        0.0
                    }
                };
                let trades = solution.trades.len();
                // One transaction, or a staged solution's parts and its post, in order.
                let mut sent = Vec::new();
                for call in solution_calls(m, solution.trades) {
                    match client.send(&key, call.into_call()).await {
                        Ok(tx) => sent.push(tx),
                        Err(e) => {
                            warn!(%e, trades, "the node did not take the solution");
                            sent.clear();
                            break;
                        }
                    }
                }
                let Some(tx) = sent.last().cloned() else {
                    stats.update(|s| {
                        s.unsendable += 1;
                        s.largest_trades = s.largest_trades.max(trades);
                    });
                    tokio::time::sleep(period).await;
                    continue;
                };
                let bytes: usize = sent.iter().map(|tx| tx.size()).sum();
                stats.update(|s| {
                    s.submitted += 1;
                    s.verify_max_ms = s.verify_max_ms.max(verify_ms);
                    s.largest_parts = s.largest_parts.max(sent.len());
                    if bytes > s.largest_bytes {
                        s.largest_bytes = bytes;
                        s.largest_trades = trades;
                    }
                });
                let client = client.clone();
                let stats = stats.clone();
                tokio::spawn(async move {
                    let receipt = client
                        .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
                        .await;
                    stats.update(|s| match receipt {
                        Ok(r) if r.status == TxStatus::Success => {
                            s.rounds_ms.push(round.elapsed().as_secs_f64() * 1e3);
                            s.accepted += 1;
                        }
                        Ok(r) => {
                            debug!(reason = ?r.reason, "solution refused");
                            s.rejected += 1;
                        }
                        Err(_) => s.rejected += 1,
                    });
                });
            }
            (_, Err(e)) => warn!(%e, "solver failed this round"),
        }
        tokio::time::sleep(period).await;
    }
}
