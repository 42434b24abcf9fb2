//! The allocator's matching (spec 2.3-2.6): a pure function from the open offers and the clock
//! to allocation drafts, each checked with the module's own [`agora_stream::terms::derive`] so
//! that what the allocator publishes is what the ledger accepts.
//!
//! Rules (spec 2.6, decisions A1-A4, A9):
//! - eq. 4.1 per replica: I_c·λ ≤ I_s, R_c ≤ R_s, and max_s π_x^min(s) ≤ π_x ≤ π_x^max(c);
//! - r distinct supplier accounts, none the customer or the mediator; a mediator every party
//!   trusts; r is the customer's (eq. 4.3 corrected, [`crate::stream_analysis::replicas`]);
//! - the window is *contained* in every party's window (A2, not eq. 4.2's mere overlap), starts
//!   no sooner than δ_alloc + δ_setup from now, and lasts at least δ_min;
//! - an offer is allocatable only before its expiry t_e = t_end − δ_min − δ_setup − δ_alloc (A3);
//! - price: the midpoint of the highest supplier floor and the customer's ceiling, floored (A4);
//! - a customer window longer than its suppliers' is cut into consecutive chunks, each its own
//!   allocation of at least δ_min (A9); a chunk also ends where N = λΔ would break n < ρ or
//!   `max_checks`, and its length keeps N a whole number;
//! - a supplier offer serves at most one allocation at any instant.
//!
//! Objective: greedy over customer offers by start time (ties by offer hash); per chunk the r
//! suppliers available longest from its start (ties by offer hash), so the chunk, and with it
//! the allocated replica-time, is as long as the chosen suppliers allow.

use agora_stream::{
    hashing, terms, AllocId, Derived, Hash, MarketId, Slot, StreamParams, Terms, TermsError,
};
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const OFFER_TAG: &[u8] = b"agora/stream/offer/v1";

/// A supplier's offer (spec 2.2): spare capacity for a window, at a price floor.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SupplierOffer {
    pub account: Address,
    /// I_s: spare instruction rate, million instructions per second.
    pub capacity: u64,
    /// R_s: RAM, MB.
    pub ram_mb: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    /// π_x^min: µ per million instructions.
    pub price_min: u64,
    /// Mediators this supplier trusts.
    pub mediators: Vec<Address>,
    /// Tells apart two offers of one account with the same terms.
    pub nonce: u64,
}

/// A customer's offer (spec 2.2): a service at a rate over a window, at a price ceiling.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CustomerOffer {
    pub account: Address,
    /// ψ: content hash of the service.
    pub service: Hash,
    /// I_c: million instructions per input.
    pub instructions: u64,
    /// R_c: RAM, MB.
    pub ram_mb: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    /// π_x^max: µ per million instructions.
    pub price_max: u64,
    /// λ, milli-inputs per second.
    pub rate_milli: u64,
    /// r.
    pub replicas: u32,
    /// Mediators this customer trusts.
    pub mediators: Vec<Address>,
    /// δ_min: no chunk shorter than this.
    pub min_service_ms: u64,
    pub nonce: u64,
}

fn offer_hash<T: BorshSerialize>(kind: u8, offer: &T) -> Hash {
    let mut h = Sha256::new();
    h.update(OFFER_TAG);
    h.update([kind]);
    h.update(borsh::to_vec(offer).unwrap_or_default());
    h.finalize().into()
}

impl SupplierOffer {
    /// The hash the allocation records for this offer (`AddSupplier`'s `offer_hash`).
    pub fn hash(&self) -> Hash {
        offer_hash(b's', self)
    }
}

impl CustomerOffer {
    /// The hash the allocation records for this offer (`Terms::customer_offer`).
    pub fn hash(&self) -> Hash {
        offer_hash(b'c', self)
    }

    /// t_e = t_end − δ_min − δ_setup − δ_alloc (A3): allocatable only before it.
    pub fn expiry(&self, timing: &Timing) -> u64 {
        self.end_ms
            .saturating_sub(self.min_service_ms)
            .saturating_sub(timing.setup_ms)
            .saturating_sub(timing.alloc_ms)
    }
}

/// δ_alloc and δ_setup (spec 2.5): what an allocation costs before its service can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// δ_alloc: writing the allocation, accepting and signing it.
    pub alloc_ms: u64,
    /// δ_setup: transferring and starting the service.
    pub setup_ms: u64,
}

impl Timing {
    fn lead(&self) -> u64 {
        self.alloc_ms.saturating_add(self.setup_ms)
    }
}

/// An allocation the allocator proposes: the on-ledger terms and the slots, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub terms: Terms,
    /// (supplier, offer hash) per slot.
    pub suppliers: Vec<(Address, Hash)>,
    /// What the module derives from the terms: N, π_s, V, n, fines, escrow.
    pub derived: Derived,
}

impl Draft {
    /// The slots as the ledger stores them once every supplier is added.
    pub fn slots(&self) -> Vec<Slot> {
        self.suppliers
            .iter()
            .map(|(supplier, offer)| Slot {
                supplier: *supplier,
                offer: *offer,
                hold: None,
                gamma: None,
                matches: false,
            })
            .collect()
    }

    /// The terms hash every signer signs, once the draft is allocation `a` of market `m`
    /// created by `allocator`: parties compute it themselves instead of trusting the ledger's.
    pub fn terms_hash(&self, m: MarketId, a: AllocId, allocator: &Address) -> Hash {
        hashing::terms_hash(m, a, allocator, &self.terms, &self.slots())
    }
}

/// The allocator's open offers and what it already allocated from them.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    pub customers: BTreeMap<Hash, CustomerOffer>,
    pub suppliers: BTreeMap<Hash, SupplierOffer>,
    /// Per supplier offer, the windows it already serves.
    pub busy: BTreeMap<Hash, Vec<(u64, u64)>>,
    /// Per customer offer, the end of its last allocated chunk.
    pub served_until: BTreeMap<Hash, u64>,
}

/// One matching round's result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub drafts: Vec<Draft>,
    /// Customer offers nothing more can be allocated from (served to their end, or expired);
    /// those never served get a void allocation.
    pub finished: Vec<Hash>,
    /// Supplier offers whose window can no longer hold a service.
    pub stale_suppliers: Vec<Hash>,
}

impl Pool {
    pub fn add_customer(&mut self, offer: CustomerOffer) -> Hash {
        let h = offer.hash();
        self.customers.insert(h, offer);
        h
    }

    pub fn add_supplier(&mut self, offer: SupplierOffer) -> Hash {
        let h = offer.hash();
        self.suppliers.insert(h, offer);
        h
    }

    /// Records a plan's drafts and drops the offers it finished.
    pub fn apply(&mut self, plan: &Plan) {
        for d in &plan.drafts {
            for (_, offer) in &d.suppliers {
                self.busy
                    .entry(*offer)
                    .or_default()
                    .push((d.terms.start_ms, d.terms.end_ms));
            }
            let until = self.served_until.entry(d.terms.customer_offer).or_default();
            *until = (*until).max(d.terms.end_ms);
        }
        for h in &plan.finished {
            self.customers.remove(h);
            self.served_until.remove(h);
        }
        for h in &plan.stale_suppliers {
            self.suppliers.remove(h);
            self.busy.remove(h);
        }
    }

    /// Returns a supplier offer's window to the pool, for an allocation that never started
    /// (rejected or cancelled).
    pub fn release(&mut self, offer: &Hash, window: (u64, u64)) {
        if let Some(busy) = self.busy.get_mut(offer) {
            busy.retain(|w| *w != window);
        }
    }
}

/// Until when supplier offer `s` is free from `t` on, if it is available at `t`.
fn free_until(s: &SupplierOffer, busy: &[(u64, u64)], t: u64) -> Option<u64> {
    if t < s.start_ms || t >= s.end_ms || busy.iter().any(|&(a, b)| a <= t && t < b) {
        return None;
    }
    let next_busy = busy.iter().map(|w| w.0).filter(|&a| a > t).min();
    Some(next_busy.map_or(s.end_ms, |a| a.min(s.end_ms)))
}

/// Eq. 4.1 and the parties' identities, independent of time.
fn compatible(c: &CustomerOffer, s: &SupplierOffer) -> bool {
    let need = u128::from(c.instructions) * u128::from(c.rate_milli);
    need <= u128::from(s.capacity) * 1_000
        && c.ram_mb <= s.ram_mb
        && s.price_min <= c.price_max
        && s.account != c.account
}

/// The smallest window length (ms) that keeps N = λ_milli·Δ/10^6 whole.
fn quantum(rate_milli: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    1_000_000 / gcd(rate_milli, 1_000_000)
}

/// The longest window (ms) whose N keeps n = ⌈N/ρ⌉ below ρ and within `max_checks`.
fn longest(p: &StreamParams, rate_milli: u64) -> u64 {
    let checks = p.max_checks.min(p.penalty_rate.saturating_sub(1));
    let inputs = u128::from(p.penalty_rate) * u128::from(checks);
    let ms = inputs * 1_000_000 / u128::from(rate_milli.max(1));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// A chunk of customer offer `c` starting at `t`: the r suppliers and the mediator giving the
/// longest window, or `None` if fewer than r can serve δ_min from `t`.
fn chunk_at(
    c: &CustomerOffer,
    candidates: &[(&Hash, &SupplierOffer)],
    busy: &BTreeMap<Hash, Vec<(u64, u64)>>,
    t: u64,
) -> Option<(Address, Vec<(Hash, u64)>)> {
    let r = c.replicas as usize;
    let need_end = t.checked_add(c.min_service_ms)?;
    let mut available: Vec<(u64, &Hash, &SupplierOffer)> = candidates
        .iter()
        .filter_map(|(h, s)| {
            let until = free_until(s, busy.get(*h).map_or(&[][..], |b| &b[..]), t)?;
            (until >= need_end).then_some((until, *h, *s))
        })
        .collect();
    // Longest available first, then by offer hash.
    available.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut mediators = c.mediators.clone();
    mediators.sort();
    mediators.dedup();
    let mut best: Option<(Address, Vec<(Hash, u64)>)> = None;
    for m in mediators.into_iter().filter(|m| *m != c.account) {
        let mut chosen: Vec<(Hash, u64)> = Vec::new();
        let mut accounts: Vec<Address> = Vec::new();
        for (until, h, s) in &available {
            if chosen.len() == r {
                break;
            }
            if s.account != m && s.mediators.contains(&m) && !accounts.contains(&s.account) {
                accounts.push(s.account);
                chosen.push((**h, *until));
            }
        }
        if chosen.len() < r {
            continue;
        }
        let end = chosen.iter().map(|x| x.1).min().unwrap_or(0);
        let better = best
            .as_ref()
            .is_none_or(|(_, b)| end > b.iter().map(|x| x.1).min().unwrap_or(0));
        if better {
            best = Some((m, chosen));
        }
    }
    best
}

/// One matching round at time `now` (spec 2.6): the drafts, and the offers it finished.
pub fn allocate(pool: &Pool, now: u64, p: &StreamParams, timing: Timing) -> Plan {
    let mut busy = pool.busy.clone();
    let mut plan = Plan::default();
    let mut customers: Vec<(&Hash, &CustomerOffer)> = pool.customers.iter().collect();
    customers.sort_by(|a, b| a.1.start_ms.cmp(&b.1.start_ms).then(a.0.cmp(b.0)));
    let earliest = now.saturating_add(timing.lead());
    for (ch, c) in customers {
        let served = pool.served_until.get(ch).copied().unwrap_or(0);
        let mut t = c.start_ms.max(served).max(earliest);
        // The end of what is allocated; `t` may search further ahead.
        let mut served_to = c.start_ms.max(served);
        let q = quantum(c.rate_milli);
        let cap = longest(p, c.rate_milli) / q * q;
        let candidates: Vec<(&Hash, &SupplierOffer)> = pool
            .suppliers
            .iter()
            .filter(|(_, s)| compatible(c, s))
            .collect();
        // Expiry (A3) and a window left for at least one chunk.
        while now < c.expiry(&timing)
            && c.replicas >= 1
            && c.end_ms.saturating_sub(t) >= c.min_service_ms.max(1)
        {
            let Some((mediator, chosen)) = chunk_at(c, &candidates, &busy, t) else {
                // Try again where some candidate becomes available.
                let next = candidates
                    .iter()
                    .flat_map(|(h, s)| {
                        let ends = busy.get(*h).into_iter().flatten().map(|w| w.1);
                        std::iter::once(s.start_ms).chain(ends)
                    })
                    .filter(|&x| x > t)
                    .min();
                match next {
                    Some(x) => {
                        t = x;
                        continue;
                    }
                    None => break,
                }
            };
            let until = chosen.iter().map(|x| x.1).min().unwrap_or(t).min(c.end_ms);
            let span = (until - t).min(cap) / q * q;
            if span < c.min_service_ms.max(1) {
                break;
            }
            match draft(c, ch, pool, &chosen, mediator, (t, t + span), p) {
                Ok(d) => {
                    for (h, _) in &chosen {
                        busy.entry(*h).or_default().push((t, t + span));
                    }
                    plan.drafts.push(d);
                    t += span;
                    served_to = t;
                }
                Err(e) => {
                    tracing::debug!(offer = %hex::encode(ch), error = %e, "offer cannot be allocated");
                    break;
                }
            }
        }
        if now >= c.expiry(&timing) || c.end_ms.saturating_sub(served_to) < c.min_service_ms.max(1)
        {
            plan.finished.push(*ch);
        }
    }
    plan.stale_suppliers = pool
        .suppliers
        .iter()
        .filter(|(_, s)| s.end_ms <= earliest)
        .map(|(h, _)| *h)
        .collect();
    plan
}

/// The terms of one chunk, refused unless the module's own validation accepts them.
fn draft(
    c: &CustomerOffer,
    ch: &Hash,
    pool: &Pool,
    chosen: &[(Hash, u64)],
    mediator: Address,
    (start_ms, end_ms): (u64, u64),
    p: &StreamParams,
) -> Result<Draft, TermsError> {
    let suppliers: Vec<(Address, Hash)> = chosen
        .iter()
        .filter_map(|(h, _)| pool.suppliers.get(h).map(|s| (s.account, *h)))
        .collect();
    let floor = chosen
        .iter()
        .filter_map(|(h, _)| pool.suppliers.get(h).map(|s| s.price_min))
        .max()
        .unwrap_or(c.price_max);
    // Midpoint, floored (A4); the sum of two u64 fits u128.
    let price = ((u128::from(floor) + u128::from(c.price_max)) / 2) as u64;
    let terms = Terms {
        customer: c.account,
        mediator,
        customer_offer: *ch,
        service: c.service,
        start_ms,
        end_ms,
        rate_milli: c.rate_milli,
        instructions: c.instructions,
        price,
        replicas: c.replicas,
    };
    let derived = terms::derive(p, &terms)?;
    Ok(Draft {
        terms,
        suppliers,
        derived,
    })
}

#[cfg(test)]
mod tests;
