//! Where the energy market keeps its state. Keys and typed access are `agora_hybrid::store`'s:
//! `energy:` + a tag + the market id (8 bytes BE) + fixed-width fields, so prefix scans return
//! entries in a meaningful order (e.g. an account's assets by interval).

use crate::{
    types::{FeederId, GroupId, Interval, MarketId, OfferId, Side},
    EnergyError, NAME,
};
pub(crate) use agora_hybrid::store::{decode, parse_u64_suffix, read, Store};
use agora_ledger::TxContext;
use agora_types::Address;

pub(crate) fn key(tag: &str, market: MarketId, rest: &[&[u8]]) -> Vec<u8> {
    agora_hybrid::store::key(NAME, tag, market, rest)
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
    holding_key("assets", m, account, t, side, g)
}
/// The key under `tag` of an account's holding of (interval, side, group): the layout
/// [`parse_assets_key`] reads back.
fn holding_key(
    tag: &str,
    m: MarketId,
    account: &Address,
    t: Interval,
    side: Side,
    g: GroupId,
) -> Vec<u8> {
    key(
        tag,
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
    holding_key("locks", m, account, t, side, g)
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
/// Open offers, so the open problem never scans closed ones.
pub(crate) fn open_offer_key(m: MarketId, o: OfferId) -> Vec<u8> {
    key("open", m, &[&o.to_be_bytes()])
}
pub(crate) fn open_offers_prefix(m: MarketId) -> Vec<u8> {
    key("open", m, &[])
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

/// A mixing session that executed.
pub(crate) fn mix_key(m: MarketId, session: &[u8; 32]) -> Vec<u8> {
    key("mix", m, &[session])
}
