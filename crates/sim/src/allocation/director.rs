//! The director (the seed's directory acting as operator): closes each cycle's offering
//! phase once it is due and the cycle's offers are in, and finalizes once the solving phase is
//! due. Anyone could make these calls; the director is simply the one who does.

use super::summary::FinalizeTiming;
use crate::energy::{now_ms, SimError};
use agora_allocation::{AllocationCall, Phase};
use agora_client::Client;
use agora_types::{Keypair, TxStatus};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::debug;

/// Drives `cycles` cycles; `placed` says how many cycles' offers the prosumers have placed.
pub(super) async fn run_director(
    client: Client,
    key: Keypair,
    m: u64,
    cycles: u64,
    mut placed: watch::Receiver<u64>,
) -> Result<Vec<FinalizeTiming>, SimError> {
    let mut timings = Vec::new();
    loop {
        let market = super::market(&client, m).await?;
        if market.cycle >= cycles {
            return Ok(timings);
        }
        let length = match market.phase {
            Phase::Receive => market.params.receive_ms,
            Phase::Solve => market.params.solve_ms,
        };
        let due = market.phase_since_ms.saturating_add(length);
        if now_ms() < due {
            tokio::time::sleep(Duration::from_millis((due - now_ms()).clamp(1, 200))).await;
            continue;
        }
        let call = match market.phase {
            Phase::Receive => {
                // Offers first: a cycle closed before its offers land would be empty.
                placed
                    .wait_for(|n| *n > market.cycle)
                    .await
                    .map_err(|_| SimError::Unexpected("the prosumers stopped".into()))?;
                AllocationCall::Close { market: m }
            }
            Phase::Solve => AllocationCall::Finalize { market: m },
        };
        let finalizing = market.phase == Phase::Solve;
        // Subscribed before sending, so the event cannot slip past.
        let mut events = if finalizing {
            Some(
                client
                    .subscribe_events(Some(agora_allocation::NAME), Some("Finalized"))
                    .await?,
            )
        } else {
            None
        };
        let sent = Instant::now();
        let tx = client.send(&key, call.into_call()).await?;
        let receipt = client
            .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
            .await?;
        if receipt.status != TxStatus::Success {
            // Not due yet by the chain's clock: try again shortly.
            debug!(reason = ?receipt.reason, "close or finalize refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let to_receipt = sent.elapsed().as_secs_f64() * 1e3;
        if let Some(events) = events.as_mut() {
            let to_event = loop {
                let next = tokio::time::timeout(Duration::from_secs(30), events.next()).await;
                match next {
                    Ok(Some(Ok(n))) => {
                        let data = &n.event.data;
                        if data["market"] == m && data["cycle"] == market.cycle {
                            break Some(sent.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                    _ => break None,
                }
            };
            timings.push(FinalizeTiming {
                cycle: market.cycle,
                submit_to_receipt_ms: to_receipt,
                submit_to_event_ms: to_event,
            });
        }
    }
}
