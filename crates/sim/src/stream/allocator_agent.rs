//! The allocator agent (spec 3.1 steps 2-4, 9.5): reads the market's offers channels into its
//! pool, runs the matching of [`super::allocator`] and writes each draft on the ledger
//! (`CreateAllocation`, then `AddSupplier` per slot, `done` on the last). It earns π_A once
//! everyone signed.

use super::allocator::{allocate, CustomerOffer, Draft, Plan, Pool, Timing};
use super::bus::{open, Offer};
use super::ledger::Party;
use super::Market;
use crate::energy::SimError;
use agora_channels::{catalogue, Bus, BusError, Start, Subscription};
use agora_stream::{AllocId, MarketId, StreamCall, StreamParams};
use agora_types::Receipt;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a round waits for the offers it was told of.
const OFFER_WAIT: Duration = Duration::from_secs(60);

pub struct Allocator {
    pub party: Party,
    pool: Mutex<Pool>,
    /// Every offers channel of the market (`agora.stream.<m>.offers.>`).
    offers: Mutex<Subscription>,
}

/// An offer read from the bus, if its envelope's signer is the account it speaks for.
fn offer(item: Result<agora_channels::Envelope, BusError>) -> Result<Offer, BusError> {
    let envelope = item?;
    let offer: Offer = open(&envelope, &envelope.publisher)?;
    if offer.account() != envelope.publisher {
        return Err(BusError::Malformed(format!(
            "{} carries an offer of {}",
            envelope.subject,
            offer.account()
        )));
    }
    Ok(offer)
}

/// The id in a receipt's `AllocationCreated` event.
fn created_id(receipt: &Receipt) -> Result<AllocId, SimError> {
    receipt
        .events
        .iter()
        .find(|e| e.name == "AllocationCreated")
        .and_then(|e| e.data["allocation"].as_u64())
        .ok_or_else(|| SimError::Unexpected("no AllocationCreated event".into()))
}

impl Allocator {
    /// The allocator of market `m`, reading its offers channels through `bus`.
    pub async fn new(party: Party, bus: &dyn Bus, m: MarketId) -> Result<Self, SimError> {
        let offers = bus
            .subscribe(&catalogue::offers_filter(m), Start::Beginning)
            .await?;
        Ok(Self {
            party,
            pool: Mutex::new(Pool::default()),
            offers: Mutex::new(offers),
        })
    }

    /// Reads the next `expected` offer messages into the pool (the round's driver knows how
    /// many were published; a deployment would match every T_alloc instead), then matches the
    /// pool at `now` with its current estimate of δ_alloc and δ_setup: the drafts, and the
    /// customer offers that got none (the seed's void allocations).
    pub async fn plan(
        &self,
        params: &StreamParams,
        expected: usize,
        now: u64,
        timing: Timing,
    ) -> Result<(Vec<Draft>, Vec<CustomerOffer>), SimError> {
        let mut pool = self.pool.lock().await;
        let mut offers = self.offers.lock().await;
        for _ in 0..expected {
            let item = tokio::time::timeout(OFFER_WAIT, offers.next())
                .await
                .map_err(|_| SimError::Unexpected("the round's offers did not arrive".into()))?
                .ok_or_else(|| SimError::Unexpected("the offers subscription ended".into()))?;
            match offer(item) {
                Ok(Offer::Customer(c)) => {
                    pool.add_customer(c);
                }
                Ok(Offer::Supplier(s)) => {
                    pool.add_supplier(s);
                }
                Err(e) => tracing::warn!(error = %e, "offer refused"),
            }
        }
        let plan: Plan = allocate(&pool, now, params, timing);
        let void = plan
            .finished
            .iter()
            .filter(|h| {
                !pool.served_until.contains_key(*h)
                    && !plan.drafts.iter().any(|d| d.terms.customer_offer == **h)
            })
            .filter_map(|h| pool.customers.get(h).cloned())
            .collect();
        pool.apply(&plan);
        Ok((plan.drafts, void))
    }

    /// Writes a draft on the ledger (L1, then L2 per slot): its allocation id, or `None` if
    /// the ledger refused it as too late (the window's end passed, or signing timed out and a
    /// keeper cancelled it), which frees its suppliers' windows again.
    pub async fn write(&self, market: &Market, draft: &Draft) -> Result<Option<AllocId>, SimError> {
        if let Some(id) = self.try_write(market.id, draft).await? {
            for (_, offer) in &draft.suppliers {
                market.metrics.allocated(offer);
            }
            return Ok(Some(id));
        }
        let mut pool = self.pool.lock().await;
        for (_, offer) in &draft.suppliers {
            pool.release(offer, (draft.terms.start_ms, draft.terms.end_ms));
        }
        Ok(None)
    }

    async fn try_write(&self, m: MarketId, draft: &Draft) -> Result<Option<AllocId>, SimError> {
        let receipt = self
            .party
            .try_call(StreamCall::CreateAllocation {
                market: m,
                terms: draft.terms.clone(),
            })
            .await?;
        let receipt = match receipt {
            Ok(r) => r,
            Err(reason) if reason == "too_late" => return Ok(None),
            Err(reason) => {
                return Err(SimError::Failed {
                    what: "create allocation".into(),
                    reason,
                })
            }
        };
        let id = created_id(&receipt)?;
        let last = draft.suppliers.len().saturating_sub(1);
        let adds = draft
            .suppliers
            .iter()
            .enumerate()
            .map(|(i, (supplier, offer))| {
                self.party.sign(
                    "add supplier",
                    StreamCall::AddSupplier {
                        market: m,
                        allocation: id,
                        supplier: *supplier,
                        offer_hash: *offer,
                        done: i == last,
                    },
                )
            });
        // Sent in slot order (one nonce after the other), confirmed together.
        let added = futures::future::try_join_all(adds).await?;
        Ok(added.iter().all(|x| *x).then_some(id))
    }
}
