//! Where the energy market keeps its state: keys and typed access.
//!
//! Every key is `energy:` + a tag + the market id (8 bytes BE) + fixed-width fields, so prefix
//! scans return entries in a meaningful order (e.g. an account's assets by interval).

use crate::{
    types::{FeederId, GroupId, Interval, MarketId, OfferId, Side},
    EnergyError, NAME,
};
use agora_ledger::{StateRead, TxContext};
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};

pub(crate) fn key(tag: &str, market: MarketId, rest: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(tag.len() + 9 + rest.iter().map(|r| r.len()).sum::<usize>());
    k.extend_from_slice(tag.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&market.to_be_bytes());
    for part in rest {
        k.extend_from_slice(part);
    }
    TxContext::module_key(NAME, &k)
}

pub(crate) fn side_byte(side: Side) -> u8 {
    match side {
        Side::Sell => 0,
        Side::Buy => 1,
    }
}

pub(crate) fn next_market_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"next_market")
}
pub(crate) fn market_key(m: MarketId) -> Vec<u8> {
    key("market", m, &[])
}
pub(crate) fn group_key(m: MarketId, g: GroupId) -> Vec<u8> {
    key("group", m, &[&g.to_be_bytes()])
}
pub(crate) fn groups_prefix(m: MarketId) -> Vec<u8> {
    key("group", m, &[])
}
/// A feeder's own (single-feeder) group.
pub(crate) fn feeder_group_key(m: MarketId, f: FeederId) -> Vec<u8> {
    key("feeder_group", m, &[&f.to_be_bytes()])
}
/// The multi-feeder groups a feeder belongs to.
pub(crate) fn feeder_memberships_key(m: MarketId, f: FeederId) -> Vec<u8> {
    key("feeder_in", m, &[&f.to_be_bytes()])
}
/// (Σ L⁺, Σ L⁻) of the meters on a feeder.
pub(crate) fn feeder_limits_key(m: MarketId, f: FeederId) -> Vec<u8> {
    key("feeder_limits", m, &[&f.to_be_bytes()])
}
pub(crate) fn meter_key(m: MarketId, meter: &Address) -> Vec<u8> {
    key("meter", m, &[&meter.0])
}
pub(crate) fn prosumer_key(m: MarketId, prosumer: &Address) -> Vec<u8> {
    key("prosumer", m, &[&prosumer.0])
}
pub(crate) fn withdrawn_key(m: MarketId, prosumer: &Address, side: Side, t: Interval) -> Vec<u8> {
    key(
        "withdrawn",
        m,
        &[&prosumer.0, &[side_byte(side)], &t.to_be_bytes()],
    )
}
pub(crate) fn assets_prefix(m: MarketId, account: &Address, t: Interval) -> Vec<u8> {
    key("assets", m, &[&account.0, &t.to_be_bytes()])
}
pub(crate) fn assets_key(
    m: MarketId,
    account: &Address,
    t: Interval,
    side: Side,
    g: GroupId,
) -> Vec<u8> {
    key(
        "assets",
        m,
        &[
            &account.0,
            &t.to_be_bytes(),
            &[side_byte(side)],
            &g.to_be_bytes(),
        ],
    )
}
/// The side and group an assets key ends with.
pub(crate) fn parse_assets_key(key: &[u8]) -> Result<(Side, GroupId), EnergyError> {
    let tail: &[u8; 5] = key
        .get(key.len().saturating_sub(5)..)
        .and_then(|t| t.try_into().ok())
        .ok_or(EnergyError::Corrupt)?;
    let side = match tail[0] {
        0 => Side::Sell,
        1 => Side::Buy,
        _ => return Err(EnergyError::Corrupt),
    };
    Ok((
        side,
        GroupId::from_be_bytes([tail[1], tail[2], tail[3], tail[4]]),
    ))
}
/// Open offers of an account backed by its assets of (side, group, interval).
pub(crate) fn lock_key(
    m: MarketId,
    account: &Address,
    t: Interval,
    side: Side,
    g: GroupId,
) -> Vec<u8> {
    key(
        "locks",
        m,
        &[
            &account.0,
            &t.to_be_bytes(),
            &[side_byte(side)],
            &g.to_be_bytes(),
        ],
    )
}
pub(crate) fn offer_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key("offer", m, &[&o.to_be_bytes()])
}
/// Offers whose last interval is `t`: closed when `t` is finalized.
pub(crate) fn expiry_prefix(m: MarketId, t: Interval) -> Vec<u8> {
    key("expiry", m, &[&t.to_be_bytes()])
}
pub(crate) fn expiry_key(m: MarketId, t: Interval, o: OfferId) -> Vec<u8> {
    key("expiry", m, &[&t.to_be_bytes(), &o.to_be_bytes()])
}
/// The candidate's trades of one interval.
pub(crate) fn candidate_key(m: MarketId, t: Interval) -> Vec<u8> {
    key("candidate", m, &[&t.to_be_bytes()])
}
/// The intervals the candidate has trades in, increasing.
pub(crate) fn candidate_index_key(m: MarketId) -> Vec<u8> {
    key("candidate_in", m, &[])
}
/// A solver's staged solution: its progress, and its parts.
pub(crate) fn staged_key(m: MarketId, solver: &Address) -> Vec<u8> {
    key("staged", m, &[&solver.0])
}
pub(crate) fn staged_part_key(m: MarketId, solver: &Address, part: u32) -> Vec<u8> {
    key("staged_part", m, &[&solver.0, &part.to_be_bytes()])
}
/// Open offers, so the open problem never scans closed ones.
pub(crate) fn open_offer_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key("open", m, &[&o.to_be_bytes()])
}
pub(crate) fn open_offers_prefix(m: MarketId) -> Vec<u8> {
    key("open", m, &[])
}
/// The offer id an open-offer key ends with.
pub(crate) fn parse_open_offer_key(key: &[u8]) -> Result<OfferId, EnergyError> {
    let tail: [u8; 8] = key
        .get(key.len().saturating_sub(8)..)
        .and_then(|t| t.try_into().ok())
        .ok_or(EnergyError::Corrupt)?;
    Ok(OfferId::from_be_bytes(tail))
}
pub(crate) fn finalized_key(m: MarketId, t: Interval) -> Vec<u8> {
    key("finalized", m, &[&t.to_be_bytes()])
}
/// What deposit address `to` received for interval `t`.
pub(crate) fn deposit_key(m: MarketId, to: &Address, t: Interval) -> Vec<u8> {
    key("deposit", m, &[&to.0, &t.to_be_bytes()])
}
pub(crate) fn bill_key(m: MarketId, meter: &Address, cycle: u32) -> Vec<u8> {
    key("bill", m, &[&meter.0, &cycle.to_be_bytes()])
}
/// A meter's next cycle to bill and its prosumer's debt.
pub(crate) fn billing_key(m: MarketId, meter: &Address) -> Vec<u8> {
    key("billing", m, &[&meter.0])
}

pub(crate) fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, EnergyError> {
    borsh::from_slice(bytes).map_err(|_| EnergyError::Corrupt)
}

pub(crate) fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing to a Vec cannot fail.
    borsh::to_vec(value).unwrap_or_default()
}

/// Typed reads and writes within a transaction.
pub(crate) trait Store {
    fn load<T: BorshDeserialize>(&mut self, key: &[u8]) -> Result<Option<T>, EnergyError>;
    fn store<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T);
    fn load_u64(&mut self, key: &[u8]) -> Result<u64, EnergyError> {
        Ok(self.load::<u64>(key)?.unwrap_or(0))
    }
    /// Stores a counter, deleting it at zero so absent and zero are one state.
    fn store_u64(&mut self, key: Vec<u8>, value: u64);
}

impl Store for TxContext<'_> {
    fn load<T: BorshDeserialize>(&mut self, key: &[u8]) -> Result<Option<T>, EnergyError> {
        self.get(key)?.map(|b| decode(&b)).transpose()
    }
    fn store<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, encode(value));
    }
    fn store_u64(&mut self, key: Vec<u8>, value: u64) {
        if value == 0 {
            self.delete(key);
        } else {
            self.put(key, encode(&value));
        }
    }
}

/// Typed reads of committed state, for queries.
pub(crate) fn read<T: BorshDeserialize>(
    state: &dyn StateRead,
    key: &[u8],
) -> Result<Option<T>, EnergyError> {
    state.read(key)?.map(|b| decode(&b)).transpose()
}
/// A mixing session that executed.
pub(crate) fn mix_key(m: MarketId, session: &[u8; 32]) -> Vec<u8> {
    key("mix", m, &[session])
}
