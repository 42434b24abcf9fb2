//! A prosumer on the allocation market (a carpool rider or driver, an energy home): places its
//! offers of a cycle during Receive and learns what it was assigned.

use super::OfferSpec;
use crate::energy::SimError;
use agora_allocation::{AllocationCall, Assignment, OfferId, Side};
use agora_client::Client;
use agora_types::{Keypair, TxStatus};
use std::time::Duration;

/// Transactions of one agent in flight at once (the node's pool caps each sender).
const MAX_PENDING: usize = 1_024;

pub(super) struct Prosumer {
    pub(super) key: Keypair,
}

impl Prosumer {
    /// Places `offers` (`PlaceOffer`, one transaction each) and returns their ids in order and
    /// the fees paid.
    pub(super) async fn place(
        &self,
        client: &Client,
        market: u64,
        offers: &[OfferSpec],
    ) -> Result<(Vec<OfferId>, u64), SimError> {
        let mut ids = Vec::with_capacity(offers.len());
        let mut fees = 0;
        for chunk in offers.chunks(MAX_PENDING) {
            let mut sent = Vec::with_capacity(chunk.len());
            for o in chunk {
                let call = AllocationCall::PlaceOffer {
                    market,
                    side: o.side,
                    misc: o.misc,
                    alternatives: o.alternatives.clone(),
                };
                sent.push(client.send(&self.key, call.into_call()).await?.hash());
            }
            for hash in sent {
                let receipt = client
                    .wait_for_receipt(&hash, Duration::from_secs(60))
                    .await?;
                fees += receipt.fee;
                if receipt.status != TxStatus::Success {
                    return Err(SimError::Failed {
                        what: "PlaceOffer".into(),
                        reason: receipt.reason.unwrap_or_default(),
                    });
                }
                let id = receipt
                    .events
                    .iter()
                    .find(|e| e.name == "OfferPosted")
                    .and_then(|e| e.data["offer"].as_u64())
                    .ok_or_else(|| SimError::Unexpected("PlaceOffer without OfferPosted".into()))?;
                ids.push(id);
            }
        }
        Ok((ids, fees))
    }

    /// Settlement: once the cycle is final, takes back what is left of each consumption
    /// offer's hold (`ReleaseOffer`); returns the fees paid.
    pub(super) async fn release(
        &self,
        client: &Client,
        market: u64,
        offers: &[(OfferId, OfferSpec)],
    ) -> Result<u64, SimError> {
        let mut fees = 0;
        for (offer, _) in offers.iter().filter(|(_, o)| o.side == Side::Consume) {
            let call = AllocationCall::ReleaseOffer {
                market,
                offer: *offer,
            };
            let tx = client.send(&self.key, call.into_call()).await?;
            let receipt = client
                .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
                .await?;
            fees += receipt.fee;
            if receipt.status != TxStatus::Success {
                return Err(SimError::Failed {
                    what: "ReleaseOffer".into(),
                    reason: receipt.reason.unwrap_or_default(),
                });
            }
        }
        Ok(fees)
    }
}

/// What `offers` were assigned in `finalized`: per offer, the units it gave or received.
pub(super) fn assigned(offers: &[OfferId], finalized: &[Assignment]) -> Vec<u64> {
    offers
        .iter()
        .map(|o| {
            finalized
                .iter()
                .filter(|a| a.provider == *o || a.consumer == *o)
                .map(|a| a.quantity)
                .sum()
        })
        .collect()
}
