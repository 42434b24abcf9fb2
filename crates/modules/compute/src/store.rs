//! Where the compute market keeps its state: `compute:` + tag + `/` + market id (8 bytes BE) +
//! fixed-width fields (`agora_hybrid::store`), so prefix scans are ordered by id (spec §8.3).

use crate::{types::*, NAME};
use agora_hybrid::store::key;
pub(crate) use agora_hybrid::store::{parse_u64_suffix, read, Store};
use agora_ledger::TxContext;
use agora_types::Address;

pub(crate) fn next_market_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"next_market")
}
pub(crate) fn market_key(m: MarketId) -> Vec<u8> {
    key(NAME, "market", m, &[])
}

/// A role's registration record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    JobCreator,
    ResourceProvider,
    Mediator,
    Directory,
}

impl Role {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::JobCreator => "jc",
            Self::ResourceProvider => "rp",
            Self::Mediator => "med",
            Self::Directory => "dir",
        }
    }
}

pub(crate) fn role_key(m: MarketId, role: Role, who: &Address) -> Vec<u8> {
    key(NAME, role.tag(), m, &[&who.0])
}
pub(crate) fn trust_key(
    m: MarketId,
    owner: &Address,
    kind: TrustKind,
    target: &Address,
) -> Vec<u8> {
    key(NAME, "trust", m, &[&owner.0, &[kind as u8], &target.0])
}
pub(crate) fn trust_prefix(m: MarketId, owner: &Address) -> Vec<u8> {
    key(NAME, "trust", m, &[&owner.0])
}
pub(crate) fn runtime_key(m: MarketId, owner: &Address, runtime: &RuntimeId) -> Vec<u8> {
    key(NAME, "runtime", m, &[&owner.0, runtime])
}
pub(crate) fn runtime_prefix(m: MarketId, owner: &Address) -> Vec<u8> {
    key(NAME, "runtime", m, &[&owner.0])
}
pub(crate) fn job_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key(NAME, "job", m, &[&o.to_be_bytes()])
}
pub(crate) fn res_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key(NAME, "res", m, &[&o.to_be_bytes()])
}
/// Open offers, so the solver's problem reads only those.
pub(crate) fn open_job_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key(NAME, "open_job", m, &[&o.to_be_bytes()])
}
pub(crate) fn open_job_prefix(m: MarketId) -> Vec<u8> {
    key(NAME, "open_job", m, &[])
}
pub(crate) fn open_res_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key(NAME, "open_res", m, &[&o.to_be_bytes()])
}
pub(crate) fn open_res_prefix(m: MarketId) -> Vec<u8> {
    key(NAME, "open_res", m, &[])
}
pub(crate) fn match_key(m: MarketId, id: MatchId) -> Vec<u8> {
    key(NAME, "match", m, &[&id.to_be_bytes()])
}
/// A mediator's queue of matches in mediation.
pub(crate) fn mediating_key(m: MarketId, mediator: &Address, id: MatchId) -> Vec<u8> {
    key(NAME, "mediating", m, &[&mediator.0, &id.to_be_bytes()])
}
pub(crate) fn mediating_prefix(m: MarketId, mediator: &Address) -> Vec<u8> {
    key(NAME, "mediating", m, &[&mediator.0])
}
/// Registered accounts of a role, for the solver's problem.
pub(crate) fn role_prefix(m: MarketId, role: Role) -> Vec<u8> {
    key(NAME, role.tag(), m, &[])
}
