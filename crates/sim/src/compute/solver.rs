//! The solver daemon: reads the open problem and posts a cheapest maximum matching.

use super::matching::{solve, OpenProblem};
use super::{chain_time, query, stopped, Account, Stop, POLL};
use crate::energy::SimError;
use agora_compute::ComputeCall;
use serde_json::json;
use tracing::{debug, warn};

/// Time a match may take to reach a block: the deadline check uses block time plus this.
const INCLUSION_MARGIN_MS: u64 = 1_000;

/// Solves and posts until `stop`. A lost race (the offer matched meanwhile) is a refused
/// receipt; the next round re-solves.
pub(super) async fn run_solver(account: Account, market: u64, stop: Stop) -> Result<(), SimError> {
    while !stopped(&stop) {
        let problem: OpenProblem =
            query(&account.client, "open_problem", json!({"market": market})).await?;
        if problem.job_offers.is_empty() || problem.resource_offers.is_empty() {
            tokio::time::sleep(POLL).await;
            continue;
        }
        let now = chain_time(&account.client).await? + INCLUSION_MARGIN_MS;
        let pairs = solve(&problem, now).map_err(|e| SimError::Unexpected(e.to_string()))?;
        if pairs.is_empty() {
            tokio::time::sleep(POLL).await;
        }
        for p in pairs {
            let receipt = account
                .submit(ComputeCall::PostMatch {
                    market,
                    job_offer: p.job_offer,
                    resource_offer: p.resource_offer,
                    mediator: p.mediator,
                })
                .await?;
            match receipt.reason {
                Some(reason) => warn!(job_offer = p.job_offer, reason, "match refused"),
                None => debug!(
                    job_offer = p.job_offer,
                    resource_offer = p.resource_offer,
                    "matched"
                ),
            }
        }
    }
    Ok(())
}
