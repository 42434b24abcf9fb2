//! The keeper: anyone may close what is due (spec §2.3 calls 13, 16, 17); this agent does it
//! for every match of the market.

use super::{chain_time, query, stopped, Account, Stop};
use crate::energy::SimError;
use agora_compute::{ComputeCall, Market, Match, MatchState};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use tracing::warn;

const PERIOD: Duration = Duration::from_millis(50);

/// The call that closes `m` at block time `now`, if one is due.
pub(super) fn due(m: &Match, market: &Market, now: u64) -> Option<ComputeCall> {
    let (mk, id, p) = (market.id, m.id, &market.params);
    let after = |t: Option<u64>, window: u64| t.is_some_and(|t| now > t.saturating_add(window));
    match m.state {
        MatchState::AwaitingResult if now > m.completion_deadline_ms => {
            Some(ComputeCall::Timeout {
                market: mk,
                match_id: id,
            })
        }
        MatchState::AwaitingReaction if after(m.result_at, p.reaction_window_ms) => {
            Some(ComputeCall::AcceptResult {
                market: mk,
                match_id: id,
            })
        }
        MatchState::InMediation if after(m.rejected_at, p.mediation_window_ms) => {
            Some(ComputeCall::MediationTimeout {
                market: mk,
                match_id: id,
            })
        }
        _ => None,
    }
}

/// Watches every match of `market` until `stop`, closing the due ones.
pub(super) async fn run_keeper(account: Account, market: u64, stop: Stop) -> Result<(), SimError> {
    let mut open = BTreeSet::new();
    let mut seen = 0;
    while !stopped(&stop) {
        let record: Market = query(&account.client, "market", json!({"market": market})).await?;
        open.extend(seen..record.next_match);
        seen = record.next_match;
        let now = chain_time(&account.client).await?;
        for id in open.clone() {
            let m: Match = query(
                &account.client,
                "match",
                json!({"market": market, "match": id}),
            )
            .await?;
            if matches!(m.state, MatchState::Closed(_)) {
                open.remove(&id);
            } else if let Some(call) = due(&m, &record, now) {
                let receipt = account.submit(call).await?;
                if let Some(reason) = receipt.reason {
                    warn!(match_id = id, reason, "keeper's call refused");
                }
            }
        }
        tokio::time::sleep(PERIOD).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::test_support::matched;
    use agora_compute::MarketParams;
    use agora_types::Address;

    fn market() -> Market {
        Market {
            id: 3,
            creator: Address([0; 32]),
            params: MarketParams {
                penalty_rate: 1,
                verification_count: 1,
                reaction_window_ms: 100,
                mediation_window_ms: 200,
                min_match_incentive: 0,
            },
            next_offer: 0,
            next_match: 1,
        }
    }

    #[test]
    fn the_keeper_calls_exactly_what_is_due() {
        let m = market();
        let due_at = |state, now| due(&matched(state), &m, now);
        assert_eq!(due_at(MatchState::AwaitingResult, 1_000), None);
        assert!(matches!(
            due_at(MatchState::AwaitingResult, 1_001),
            Some(ComputeCall::Timeout {
                market: 3,
                match_id: 0
            })
        ));
        assert_eq!(due_at(MatchState::AwaitingReaction, 2_100), None);
        assert!(matches!(
            due_at(MatchState::AwaitingReaction, 2_101),
            Some(ComputeCall::AcceptResult { .. })
        ));
        assert_eq!(due_at(MatchState::InMediation, 3_200), None);
        assert!(matches!(
            due_at(MatchState::InMediation, 3_201),
            Some(ComputeCall::MediationTimeout { .. })
        ));
        let closed = MatchState::Closed(agora_compute::Outcome::Accepted);
        assert_eq!(due_at(closed, u64::MAX), None);
    }
}
