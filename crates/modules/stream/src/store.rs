//! Where the stream market keeps its state: `stream:` + tag + `/` + market id (8 bytes BE) +
//! fixed-width fields (`agora_hybrid::store`), so prefix scans are ordered by id.

use crate::{types::*, NAME};
use agora_hybrid::store::key;
pub(crate) use agora_hybrid::store::{read, Store};
use agora_ledger::TxContext;
use agora_types::Address;

pub(crate) fn next_market_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"next_market")
}
pub(crate) fn market_key(m: MarketId) -> Vec<u8> {
    key(NAME, "market", m, &[])
}
pub(crate) fn alloc_key(m: MarketId, a: AllocId) -> Vec<u8> {
    key(NAME, "alloc", m, &[&a.to_be_bytes()])
}
/// The revealed α_c, sorted: written once, read by mediators, not by the verdict.
pub(crate) fn checklist_key(m: MarketId, a: AllocId) -> Vec<u8> {
    key(NAME, "checklist", m, &[&a.to_be_bytes()])
}
/// Open (not Closed) allocations an allocator created, for `max_open_per_allocator`.
pub(crate) fn open_by_key(m: MarketId, allocator: &Address) -> Vec<u8> {
    key(NAME, "open_by", m, &[&allocator.0])
}
/// Index of an account's allocations (as customer, supplier, mediator or allocator).
pub(crate) fn party_key(m: MarketId, who: &Address, a: AllocId) -> Vec<u8> {
    key(NAME, "party", m, &[&who.0, &a.to_be_bytes()])
}
pub(crate) fn party_prefix(m: MarketId, who: &Address) -> Vec<u8> {
    key(NAME, "party", m, &[&who.0])
}
/// Allocations not yet Closed, which keepers scan for due time-outs.
pub(crate) fn open_key(m: MarketId, a: AllocId) -> Vec<u8> {
    key(NAME, "open", m, &[&a.to_be_bytes()])
}
pub(crate) fn open_prefix(m: MarketId) -> Vec<u8> {
    key(NAME, "open", m, &[])
}

/// The market's treasury: unpaid replicas' V and the rest of fines go here. Nobody has its key,
/// so what it holds stays conserved until governance decides otherwise (spec A13).
pub fn treasury(m: MarketId) -> Address {
    agora_bank::module_account(&format!("{NAME}/treasury/{m}"))
}

/// The controller of every hold the market takes.
pub fn controller() -> Address {
    agora_bank::module_account(NAME)
}
