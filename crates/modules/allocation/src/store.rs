//! Where the allocation market keeps its state: `allocation:` + tag + market id (8 bytes BE) +
//! fixed-width fields (`agora_hybrid::store`), so prefix scans are ordered by id.

use crate::{types::*, NAME};
pub(crate) use agora_hybrid::store::{parse_u64_suffix, read, Store};
use agora_hybrid::{store::key, Slot};
use agora_ledger::TxContext;
use agora_types::Address;

pub(crate) fn next_market_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"next_market")
}
pub(crate) fn market_key(m: MarketId) -> Vec<u8> {
    key(NAME, "market", m, &[])
}
pub(crate) fn offer_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key(NAME, "offer", m, &[&o.to_be_bytes()])
}
pub(crate) fn zone_key(m: MarketId, account: &Address) -> Vec<u8> {
    key(NAME, "zone", m, &[&account.0])
}
/// Posted offers of a cycle, so the open problem reads only those.
pub(crate) fn posted_key(m: MarketId, cycle: u64, o: OfferId) -> Vec<u8> {
    key(NAME, "posted", m, &[&cycle.to_be_bytes(), &o.to_be_bytes()])
}
pub(crate) fn posted_prefix(m: MarketId, cycle: u64) -> Vec<u8> {
    key(NAME, "posted", m, &[&cycle.to_be_bytes()])
}
/// A solution's scaled usage of an offer (eq. 6.1/6.2's left-hand side times the scale).
pub(crate) fn usage_key(m: MarketId, s: SolutionId, o: OfferId) -> Vec<u8> {
    key(NAME, "usage", m, &[&s.to_be_bytes(), &o.to_be_bytes()])
}
/// What a cycle finalized.
pub(crate) fn final_key(m: MarketId, cycle: u64) -> Vec<u8> {
    key(NAME, "final", m, &[&cycle.to_be_bytes()])
}
/// A solution's record and assignments, staged part by part.
pub(crate) fn solution_slot(m: MarketId, s: SolutionId) -> Slot {
    Slot::new(NAME, m, &s.to_be_bytes())
}
