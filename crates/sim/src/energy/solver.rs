//! The solver daemon: solves the open problem and posts better solutions.

use super::*;

pub(super) struct SolverStats {
    pub(super) submitted: AtomicU64,
    pub(super) accepted: AtomicU64,
    pub(super) rejected: AtomicU64,
    /// Read the problem, solve, submit, until the ledger's receipt: per accepted solution (ms).
    pub(super) rounds_ms: std::sync::Mutex<Vec<f64>>,
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
