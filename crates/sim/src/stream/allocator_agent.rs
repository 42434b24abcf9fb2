//! The allocator agent (spec 3.1 steps 2-4, 9.5): keeps the offer pool, runs the matching of
//! [`super::allocator`] and writes each draft on the ledger (`CreateAllocation`, then
//! `AddSupplier` per slot, `done` on the last). It earns π_A once everyone signed.

use super::allocator::{allocate, CustomerOffer, Draft, Plan, Pool, SupplierOffer, Timing};
use super::ledger::Party;
use crate::energy::SimError;
use agora_stream::{AllocId, MarketId, StreamCall, StreamParams};
use agora_types::Receipt;
use tokio::sync::Mutex;

pub struct Allocator {
    pub party: Party,
    pool: Mutex<Pool>,
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
    pub fn new(party: Party) -> Self {
        Self {
            party,
            pool: Mutex::new(Pool::default()),
        }
    }

    /// Adds the offers read since the last round and matches the pool at `now` with its
    /// current estimate of δ_alloc and δ_setup: the drafts, and the customer offers that got
    /// none (the seed's void allocations).
    pub async fn plan(
        &self,
        params: &StreamParams,
        (customers, suppliers): (Vec<CustomerOffer>, Vec<SupplierOffer>),
        now: u64,
        timing: Timing,
    ) -> (Vec<Draft>, Vec<CustomerOffer>) {
        let mut pool = self.pool.lock().await;
        for c in customers {
            pool.add_customer(c);
        }
        for s in suppliers {
            pool.add_supplier(s);
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
        (plan.drafts, void)
    }

    /// Writes a draft on the ledger (L1, then L2 per slot): its allocation id, or `None` if
    /// the ledger refused it as too late (the window's end passed, or signing timed out and a
    /// keeper cancelled it), which frees its suppliers' windows again.
    pub async fn write(&self, m: MarketId, draft: &Draft) -> Result<Option<AllocId>, SimError> {
        if let Some(id) = self.try_write(m, draft).await? {
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
