//! The hashed commitments of eq. 4.7, byte-exact (spec 3.4), shared by the module and the
//! agents: α for the supplier's lookup of the tested outputs, γ from each supplier, Γ = H(γ)
//! committed by the customer. The ledger computes only Γ from a posted γ.
//!
//! Encodings (SHA-256; integers big-endian; m market, a allocation):
//! - element e(seq, out) = u64(seq) ‖ u32(len(out)) ‖ out;
//! - α element = H("agora/stream/alpha/v1" ‖ u64(m) ‖ u64(a) ‖ e); α(K) is their sorted list;
//! - γ_i(K) = H("agora/stream/gamma/v1" ‖ u64(m) ‖ u64(a) ‖ supplier_i ‖ u32(|K|) ‖ e_1 ‖ … ‖ e_k),
//!   elements by ascending seq. The supplier's address binds γ to one replica, so a lazy replica
//!   cannot copy an honest one's γ from the ledger (spec A19);
//! - Γ_i = H(γ_i).

use crate::types::{AllocId, Hash, MarketId, Slot, Terms};
use agora_types::Address;
use sha2::{Digest, Sha256};

const ALPHA_TAG: &[u8] = b"agora/stream/alpha/v1";
const GAMMA_TAG: &[u8] = b"agora/stream/gamma/v1";
const TERMS_TAG: &[u8] = b"agora/stream/terms/v1";

/// One processed input: its sequence number and the service's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output<'a> {
    pub seq: u64,
    pub output: &'a [u8],
}

fn element(h: &mut Sha256, o: &Output<'_>) {
    h.update(o.seq.to_be_bytes());
    // An output longer than 4 GiB is no stream message; its length is cut like any u32.
    h.update((o.output.len() as u32).to_be_bytes());
    h.update(o.output);
}

/// The α element of one output.
pub fn alpha_element(m: MarketId, a: AllocId, o: &Output<'_>) -> Hash {
    let mut h = Sha256::new();
    h.update(ALPHA_TAG);
    h.update(m.to_be_bytes());
    h.update(a.to_be_bytes());
    element(&mut h, o);
    h.finalize().into()
}

/// α(K): the sorted α elements of a set of outputs.
pub fn alpha(m: MarketId, a: AllocId, outputs: &[Output<'_>]) -> Vec<Hash> {
    let mut v: Vec<Hash> = outputs.iter().map(|o| alpha_element(m, a, o)).collect();
    v.sort_unstable();
    v
}

/// γ_i(K) of the supplier of slot i; `outputs` in any order (sorted by seq here).
pub fn gamma(m: MarketId, a: AllocId, supplier: &Address, outputs: &[Output<'_>]) -> Hash {
    let mut sorted: Vec<&Output<'_>> = outputs.iter().collect();
    sorted.sort_by_key(|o| o.seq);
    let mut h = Sha256::new();
    h.update(GAMMA_TAG);
    h.update(m.to_be_bytes());
    h.update(a.to_be_bytes());
    h.update(supplier.0);
    h.update((sorted.len() as u32).to_be_bytes());
    for o in sorted {
        element(&mut h, o);
    }
    h.finalize().into()
}

/// Γ = H(γ): the customer's commitment, and the only hash the ledger computes.
pub fn double(gamma: &Hash) -> Hash {
    Sha256::digest(gamma).into()
}

/// Γ_i for one slot from the test outputs: what the customer commits when signing.
pub fn commitment(m: MarketId, a: AllocId, supplier: &Address, tests: &[Output<'_>]) -> Hash {
    double(&gamma(m, a, supplier, tests))
}

/// O_v: the supplier's outputs whose α element is in the revealed checklist.
pub fn tested<'a>(
    m: MarketId,
    a: AllocId,
    outputs: &'a [Output<'a>],
    checklist: &[Hash],
) -> Vec<Output<'a>> {
    outputs
        .iter()
        .filter(|o| checklist.binary_search(&alpha_element(m, a, o)).is_ok())
        .cloned()
        .collect()
}

/// What every signer signs: H(tag ‖ borsh(market, allocation, allocator, terms,
/// [(supplier, offer)])). Binding the ids keeps a signature from being replayed on another
/// allocation with the same terms (spec A27).
pub fn terms_hash(
    m: MarketId,
    a: AllocId,
    allocator: &Address,
    terms: &Terms,
    slots: &[Slot],
) -> Hash {
    let pairs: Vec<(Address, Hash)> = slots.iter().map(|s| (s.supplier, s.offer)).collect();
    let body = borsh::to_vec(&(m, a, allocator, terms, pairs)).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(TERMS_TAG);
    h.update(body);
    h.finalize().into()
}
