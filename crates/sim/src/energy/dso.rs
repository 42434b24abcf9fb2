//! The DSO agent: finalizes intervals as they fall due.

use super::{market, now_ms, SimError};
use agora_client::Client;
use agora_energy::{EnergyCall, MarketParams};
use agora_types::{Keypair, TxStatus};
use std::time::Duration;
use tracing::debug;

/// Calls `finalize` whenever an interval is due, until the whole day is final.
pub(super) async fn run_dso(
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
