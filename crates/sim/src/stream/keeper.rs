//! The keeper (spec 9.5): watches the market's open allocations and calls whichever of
//! `ClearMarket` (L9) and `ReturnDeposits` (L10) is due, with its own key (anyone may).

use super::ledger::{Party, Watcher};
use agora_stream::{verdict, AllocId, MarketId, State, StreamCall, StreamParams};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const PERIOD: Duration = Duration::from_millis(100);

/// Closes what is due, forever: the harness aborts its task.
pub async fn run_keeper(party: Arc<Party>, watcher: Watcher, m: MarketId, params: StreamParams) {
    let in_flight: Arc<Mutex<BTreeSet<AllocId>>> = Arc::default();
    loop {
        let now = super::now_ms();
        for (a, view) in watcher.open() {
            let alloc = &view.allocation;
            let call = match alloc.state {
                State::Running if verdict::closing_case(alloc, &params, now).is_some() => {
                    StreamCall::ClearMarket {
                        market: m,
                        allocation: a,
                    }
                }
                State::Allocated | State::Signing if now >= view.sign_deadline_ms => {
                    StreamCall::ReturnDeposits {
                        market: m,
                        allocation: a,
                    }
                }
                _ => continue,
            };
            if !in_flight.lock().await.insert(a) {
                continue;
            }
            let (party, in_flight) = (party.clone(), in_flight.clone());
            tokio::spawn(async move {
                // `not_due` (the block clock lagging ours) or an allocation another keeper
                // closed first: try again on a later view.
                // A closed allocation stays in the set: the next view may still list it.
                match party.try_call(call).await {
                    Ok(Ok(_)) => return,
                    Ok(Err(reason)) => tracing::debug!(allocation = a, %reason, "not closed"),
                    Err(e) => tracing::warn!(allocation = a, error = %e, "keeper call failed"),
                }
                in_flight.lock().await.remove(&a);
            });
        }
        tokio::time::sleep(PERIOD).await;
    }
}
