//! The state transitions of the energy market, one function per call.

use crate::{
    clearing::Score,
    grouping::{self, FeederLoad},
    solution,
    store::*,
    types::*,
    EnergyError, NAME,
};
use agora_bank::{module_account, Bank, BankError};
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;
use std::collections::{btree_map::Entry, BTreeMap};

const MAX_PRICES: usize = 10_000;
const MAX_GROUP_FEEDERS: usize = 1_024;

/// Checked addition of amounts and counters: state never wraps.
pub(crate) fn plus(a: u64, b: u64) -> Result<u64, EnergyError> {
    a.checked_add(b).ok_or(EnergyError::Overflow)
}

pub(crate) fn load_market(ctx: &mut TxContext<'_>, id: MarketId) -> Result<Market, EnergyError> {
    ctx.load(&market_key(id))?
        .ok_or(EnergyError::UnknownMarket(id))
}

fn dso_market(ctx: &mut TxContext<'_>, id: MarketId) -> Result<Market, EnergyError> {
    let market = load_market(ctx, id)?;
    if market.dso != ctx.sender() {
        return Err(EnergyError::NotDso);
    }
    Ok(market)
}

pub(crate) fn load_group(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    g: GroupId,
) -> Result<Group, EnergyError> {
    ctx.load(&group_key(m, g))?
        .ok_or(EnergyError::UnknownGroup(g))
}

/// Number of intervals whose finalization is due at `now`: interval t_f is due once interval
/// t_f - T_clear - 1 has ended, i.e. at start + (t_f - T_clear) * Δ.
pub fn intervals_due(params: &MarketParams, now: u64) -> u64 {
    let elapsed =
        now as i128 - params.start_ms as i128 + params.t_clear as i128 * params.interval_ms as i128;
    if elapsed < 0 {
        0
    } else {
        (elapsed / params.interval_ms as i128 + 1).min(u32::MAX as i128) as u64
    }
}

/// When interval `t` may be finalized (ms).
pub fn due_at(params: &MarketParams, t: Interval) -> i128 {
    params.start_ms as i128 + (t as i128 - params.t_clear as i128) * params.interval_ms as i128
}

pub fn create_market(ctx: &mut TxContext<'_>, params: MarketParams) -> Result<(), EnergyError> {
    if params.interval_ms == 0 {
        return Err(EnergyError::Invalid("interval length must be positive"));
    }
    if params.prices.is_empty() || params.prices.len() > MAX_PRICES {
        return Err(EnergyError::Invalid(
            "the price schedule needs 1 to 10,000 entries",
        ));
    }
    let id = ctx.load_u64(&next_market_key())?;
    ctx.store_u64(next_market_key(), plus(id, 1)?);
    let next_final = intervals_due(&params, ctx.timestamp()).min(u32::MAX as u64) as Interval;
    let market = Market {
        id,
        dso: ctx.sender(),
        params,
        next_final,
        next_offer: 0,
        next_group: 0,
        candidate: Score::default(),
    };
    ctx.store(market_key(id), &market);
    ctx.emit(
        NAME,
        "MarketCreated",
        &json!({"market": id, "dso": market.dso, "next_final": next_final}),
    );
    Ok(())
}

/// Eq. 2.17 and 2.19 for a multi-feeder group, for limits of one kind (`limit_of` picks the
/// feeder group's internal or external limit); see [`crate::grouping::safe_group_limit`].
fn safe_group_limit(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    feeders: &[FeederId],
    limit_of: fn(&Group) -> u64,
) -> Result<u64, EnergyError> {
    let mut loads = Vec::with_capacity(feeders.len());
    for f in feeders {
        let g: GroupId = ctx
            .load(&feeder_group_key(m, *f))?
            .ok_or(EnergyError::NoFeederGroup(*f))?;
        let limit = limit_of(&load_group(ctx, m, g)?);
        let (l_prod, l_cons): (u64, u64) = ctx.load(&feeder_limits_key(m, *f))?.unwrap_or((0, 0));
        loads.push(FeederLoad {
            limit,
            prosumer_limits: l_prod.max(l_cons),
        });
    }
    Ok(grouping::safe_group_limit(loads))
}

fn check_group_safety(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    group: &Group,
) -> Result<(), EnergyError> {
    if group.feeders.len() < 2 {
        return Ok(());
    }
    let int = safe_group_limit(ctx, m, &group.feeders, |g| g.c_int)?;
    let ext = safe_group_limit(ctx, m, &group.feeders, |g| g.c_ext)?;
    if group.c_int > int || group.c_ext > ext {
        return Err(EnergyError::UnsafeGroup {
            group: group.id,
            c_int: group.c_int,
            c_ext: group.c_ext,
            safe_int: int,
            safe_ext: ext,
        });
    }
    Ok(())
}

pub fn define_group(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    mut feeders: Vec<FeederId>,
    c_int: u64,
    c_ext: u64,
) -> Result<(), EnergyError> {
    let mut market = dso_market(ctx, m)?;
    feeders.sort_unstable();
    feeders.dedup();
    if feeders.is_empty() || feeders.len() > MAX_GROUP_FEEDERS {
        return Err(EnergyError::Invalid("a group has 1 to 1,024 feeders"));
    }
    let group = Group {
        id: market.next_group,
        feeders,
        c_int,
        c_ext,
    };
    if let [feeder] = group.feeders[..] {
        if ctx.load::<GroupId>(&feeder_group_key(m, feeder))?.is_some() {
            return Err(EnergyError::FeederGroupExists(feeder));
        }
        ctx.store(feeder_group_key(m, feeder), &group.id);
    } else {
        check_group_safety(ctx, m, &group)?;
        for f in &group.feeders {
            let mut memberships: Vec<GroupId> = ctx
                .load(&feeder_memberships_key(m, *f))?
                .unwrap_or_default();
            memberships.push(group.id);
            ctx.store(feeder_memberships_key(m, *f), &memberships);
        }
    }
    market.next_group = market
        .next_group
        .checked_add(1)
        .ok_or(EnergyError::Overflow)?;
    ctx.store(market_key(m), &market);
    ctx.store(group_key(m, group.id), &group);
    ctx.emit(NAME, "GroupDefined", &json!({"market": m, "group": group}));
    Ok(())
}

pub fn register_smart_meter(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    meter: Meter,
) -> Result<(), EnergyError> {
    dso_market(ctx, m)?;
    if ctx
        .load::<GroupId>(&feeder_group_key(m, meter.feeder))?
        .is_none()
    {
        return Err(EnergyError::NoFeederGroup(meter.feeder));
    }
    if ctx.load::<Meter>(&meter_key(m, &meter.meter))?.is_some() {
        return Err(EnergyError::MeterExists);
    }
    if ctx
        .load::<Address>(&prosumer_key(m, &meter.prosumer))?
        .is_some()
    {
        return Err(EnergyError::ProsumerExists);
    }
    let (l_prod, l_cons): (u64, u64) = ctx
        .load(&feeder_limits_key(m, meter.feeder))?
        .unwrap_or((0, 0));
    let sums = (
        l_prod
            .checked_add(meter.l_prod)
            .ok_or(EnergyError::Overflow)?,
        l_cons
            .checked_add(meter.l_cons)
            .ok_or(EnergyError::Overflow)?,
    );
    ctx.store(feeder_limits_key(m, meter.feeder), &sums);
    // More prosumer capacity on a feeder can make a privacy group's limit unsafe (eq. 2.17).
    let memberships: Vec<GroupId> = ctx
        .load(&feeder_memberships_key(m, meter.feeder))?
        .unwrap_or_default();
    for g in memberships {
        let group = load_group(ctx, m, g)?;
        check_group_safety(ctx, m, &group)?;
    }
    ctx.store(prosumer_key(m, &meter.prosumer), &meter.meter);
    ctx.emit(
        NAME,
        "SmartMeterRegistered",
        &json!({"market": m, "meter": meter.meter, "feeder": meter.feeder}),
    );
    ctx.store(meter_key(m, &meter.meter), &meter);
    Ok(())
}

fn prosumer_meter(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    prosumer: &Address,
) -> Result<Meter, EnergyError> {
    let meter: Address = ctx
        .load(&prosumer_key(m, prosumer))?
        .ok_or(EnergyError::NotAProsumer)?;
    ctx.load(&meter_key(m, &meter))?.ok_or(EnergyError::Corrupt)
}

pub fn register_prosumer(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    meter: Address,
) -> Result<(), EnergyError> {
    load_market(ctx, m)?;
    let mut record: Meter = ctx
        .load(&meter_key(m, &meter))?
        .ok_or(EnergyError::UnknownMeter)?;
    if record.prosumer != ctx.sender() {
        return Err(EnergyError::NotCertified);
    }
    if record.bound {
        return Err(EnergyError::ProsumerExists);
    }
    record.bound = true;
    ctx.store(meter_key(m, &meter), &record);
    ctx.emit(
        NAME,
        "ProsumerRegistered",
        &json!({"market": m, "meter": meter, "feeder": record.feeder}),
    );
    Ok(())
}

fn check_intervals(market: &Market, intervals: &[Interval]) -> Result<(), EnergyError> {
    if intervals.is_empty() || intervals.len() > MAX_INTERVALS_PER_CALL {
        return Err(EnergyError::Invalid("1 to 384 intervals"));
    }
    if intervals.windows(2).any(|w| w[0] >= w[1]) {
        return Err(EnergyError::Invalid("intervals must be increasing"));
    }
    if intervals[0] < market.next_final {
        return Err(EnergyError::IntervalFinal {
            interval: intervals[0],
            next_final: market.next_final,
        });
    }
    Ok(())
}

pub fn withdraw_assets(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    side: Side,
    g: GroupId,
    energy: u64,
    first: Interval,
    last: Interval,
) -> Result<(), EnergyError> {
    let market = load_market(ctx, m)?;
    let prosumer = ctx.sender();
    let meter = prosumer_meter(ctx, m, &prosumer)?;
    if !meter.bound {
        return Err(EnergyError::NotAProsumer);
    }
    crate::billing::check_no_debt(ctx, m, &meter.meter)?;
    let group = load_group(ctx, m, g)?;
    if !group.feeders.contains(&meter.feeder) {
        return Err(EnergyError::NotInGroup(g));
    }
    if energy == 0 || first > last {
        return Err(EnergyError::Invalid(
            "energy must be positive and first <= last",
        ));
    }
    let intervals: Vec<Interval> = (first..=last).take(MAX_INTERVALS_PER_CALL + 1).collect();
    check_intervals(&market, &intervals)?;
    let limit = match side {
        Side::Sell => meter.l_prod,
        Side::Buy => meter.l_cons,
    };
    for t in intervals {
        let withdrawn = ctx.load_u64(&withdrawn_key(m, &prosumer, side, t))?;
        let total = withdrawn.checked_add(energy).ok_or(EnergyError::Overflow)?;
        if total > limit {
            return Err(EnergyError::ExceedsLimit {
                interval: t,
                withdrawn: total,
                limit,
            });
        }
        ctx.store_u64(withdrawn_key(m, &prosumer, side, t), total);
        let key = assets_key(m, &prosumer, t, side, g);
        let held = ctx.load_u64(&key)?;
        ctx.store_u64(key, plus(held, energy)?);
    }
    ctx.emit(NAME, "AssetsWithdrawn", &json!({"market": m, "side": side, "group": g, "energy": energy, "first": first, "last": last}));
    Ok(())
}

pub fn transfer_assets(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    to: Address,
    side: Side,
    g: GroupId,
    t: Interval,
    energy: u64,
) -> Result<(), EnergyError> {
    let market = load_market(ctx, m)?;
    check_intervals(&market, &[t])?;
    let from = ctx.sender();
    if ctx.load_u64(&lock_key(m, &from, t, side, g))? > 0 {
        return Err(EnergyError::AssetsInUse { interval: t });
    }
    let key = assets_key(m, &from, t, side, g);
    let held = ctx.load_u64(&key)?;
    if energy == 0 || energy > held {
        return Err(EnergyError::InsufficientAssets {
            interval: t,
            held,
            needed: energy,
        });
    }
    ctx.store_u64(key, held - energy);
    let to_key = assets_key(m, &to, t, side, g);
    let theirs = ctx.load_u64(&to_key)?;
    ctx.store_u64(to_key, plus(theirs, energy)?);
    ctx.emit(
        NAME,
        "AssetsTransferred",
        &json!({"market": m, "to": to, "side": side, "group": g, "interval": t, "energy": energy}),
    );
    Ok(())
}

pub fn post_offer(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    side: Side,
    g: GroupId,
    energy: u64,
    intervals: Vec<Interval>,
    price: u64,
) -> Result<(), EnergyError> {
    let mut market = load_market(ctx, m)?;
    check_intervals(&market, &intervals)?;
    load_group(ctx, m, g)?;
    if energy == 0 {
        return Err(EnergyError::Invalid("energy must be positive"));
    }
    let account = ctx.sender();
    for t in &intervals {
        let held = ctx.load_u64(&assets_key(m, &account, *t, side, g))?;
        if held < energy {
            return Err(EnergyError::InsufficientAssets {
                interval: *t,
                held,
                needed: energy,
            });
        }
    }
    let hold = match side {
        Side::Sell => None,
        Side::Buy => {
            let cost = energy.checked_mul(price).ok_or(EnergyError::Overflow)?;
            if cost == 0 {
                None
            } else {
                Some(Bank::hold(ctx, &account, cost, &module_account(NAME))?)
            }
        }
    };
    let offer = Offer {
        id: market.next_offer,
        account,
        side,
        group: g,
        energy,
        intervals,
        price,
        finalized: 0,
        hold,
        open: true,
    };
    market.next_offer = plus(market.next_offer, 1)?;
    for t in &offer.intervals {
        let key = lock_key(m, &account, *t, side, g);
        let locks = ctx.load_u64(&key)?;
        ctx.store_u64(key, plus(locks, 1)?);
    }
    let last = *offer.intervals.last().ok_or(EnergyError::Corrupt)?;
    ctx.store(expiry_key(m, last, offer.id), &());
    ctx.store(offer_key(m, offer.id), &offer);
    ctx.store(open_offer_key(m, offer.id), &());
    ctx.store(market_key(m), &market);
    ctx.emit(NAME, "OfferPosted", &json!({"market": m, "offer": offer}));
    Ok(())
}

fn add_assets(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: &Address,
    t: Interval,
    side: Side,
    g: GroupId,
    delta: i128,
) -> Result<(), EnergyError> {
    let key = assets_key(m, a, t, side, g);
    let held = ctx.load_u64(&key)? as i128 + delta;
    let held = u64::try_from(held).map_err(|_| EnergyError::Corrupt)?;
    ctx.store_u64(key, held);
    Ok(())
}

/// Returns what is left of a buying offer's funds to its account.
fn release_hold(ctx: &mut TxContext<'_>, hold: Option<u64>) -> Result<(), EnergyError> {
    let Some(hold) = hold else { return Ok(()) };
    match Bank::get_hold(ctx, hold) {
        Ok(_) => Ok(Bank::release(ctx, hold, &module_account(NAME))?),
        // Fully spent on trades: nothing to return.
        Err(BankError::UnknownHold(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn finalize_interval(ctx: &mut TxContext<'_>, market: &mut Market) -> Result<(), EnergyError> {
    let m = market.id;
    let t = market.next_final;
    let trades = solution::take_candidate_interval(ctx, m, t)?;
    let mut done = Score::default();
    let mut offers: BTreeMap<OfferId, Offer> = BTreeMap::new();
    for trade in &trades {
        for id in [trade.sell, trade.buy] {
            if let Entry::Vacant(v) = offers.entry(id) {
                v.insert(ctx.load(&offer_key(m, id))?.ok_or(EnergyError::Corrupt)?);
            }
        }
        let (s, b) = (offers[&trade.sell].clone(), offers[&trade.buy].clone());
        let payment = trade
            .energy
            .checked_mul(trade.price)
            .ok_or(EnergyError::Overflow)?;
        if payment > 0 {
            let hold = b.hold.ok_or(EnergyError::Corrupt)?;
            Bank::slash(ctx, hold, payment, &s.account, &module_account(NAME))?;
        }
        let e = trade.energy as i128;
        // The seller's production assets go to the buyer and the buyer's consumption assets to
        // the seller, each keeping its group: deposits then show who traded what (eq. 2.16).
        add_assets(ctx, m, &s.account, t, Side::Sell, s.group, -e)?;
        add_assets(ctx, m, &b.account, t, Side::Sell, s.group, e)?;
        add_assets(ctx, m, &b.account, t, Side::Buy, b.group, -e)?;
        add_assets(ctx, m, &s.account, t, Side::Buy, b.group, e)?;
        for id in [trade.sell, trade.buy] {
            let o = offers.get_mut(&id).ok_or(EnergyError::Corrupt)?;
            o.finalized = plus(o.finalized, trade.energy)?;
        }
        done.energy = plus(done.energy, trade.energy)?;
        done.gains = u128::from(trade.energy)
            .checked_mul(u128::from(b.price.saturating_sub(s.price)))
            .and_then(|g| g.checked_add(done.gains))
            .ok_or(EnergyError::Overflow)?;
    }
    for (id, offer) in &offers {
        ctx.store(offer_key(m, *id), offer);
    }
    // Offers whose last interval this was are done: return unspent funds, free their assets.
    for (key, _) in ctx.scan(&expiry_prefix(m, t))? {
        let id_bytes: [u8; 8] = key
            .get(key.len().saturating_sub(8)..)
            .and_then(|b| b.try_into().ok())
            .ok_or(EnergyError::Corrupt)?;
        let id = u64::from_be_bytes(id_bytes);
        let mut offer: Offer = ctx.load(&offer_key(m, id))?.ok_or(EnergyError::Corrupt)?;
        offer.open = false;
        ctx.delete(open_offer_key(m, id));
        release_hold(ctx, offer.hold)?;
        for i in &offer.intervals {
            let lock = lock_key(m, &offer.account, *i, offer.side, offer.group);
            let locks = ctx.load_u64(&lock)?;
            ctx.store_u64(lock, locks.saturating_sub(1));
        }
        ctx.store(offer_key(m, id), &offer);
        ctx.delete(key);
    }
    market.candidate.energy = market.candidate.energy.saturating_sub(done.energy);
    market.candidate.gains = market.candidate.gains.saturating_sub(done.gains);
    market.next_final += 1;
    ctx.emit(
        NAME,
        "Finalized",
        &json!({"market": m, "interval": t, "energy": done.energy, "trades": trades}),
    );
    ctx.store(finalized_key(m, t), &trades);
    Ok(())
}

/// Finalizes the due intervals, at most [`MAX_FINALIZE_PER_CALL`] per call; the time guard is
/// `agora_hybrid::finalize`'s.
pub fn finalize(ctx: &mut TxContext<'_>, m: MarketId) -> Result<(), EnergyError> {
    let market = load_market(ctx, m)?;
    agora_hybrid::finalize(ctx, &mut solution::Hybrid { market })
}

pub(crate) fn finalize_due(
    ctx: &mut TxContext<'_>,
    market: &mut Market,
) -> Result<(), EnergyError> {
    let due = intervals_due(&market.params, ctx.timestamp());
    let mut done = 0;
    while (market.next_final as u64) < due && done < MAX_FINALIZE_PER_CALL {
        finalize_interval(ctx, market)?;
        done += 1;
    }
    ctx.store(market_key(market.id), market);
    Ok(())
}

/// Executes a mix statement (section 2.7.2). The replay key is the session alone: of the
/// statements of a session's runs, the first to arrive executes and every other is refused.
pub fn mix(
    ctx: &mut TxContext<'_>,
    st: MixStatement,
    signatures: Vec<Vec<u8>>,
) -> Result<(), EnergyError> {
    let m = st.market;
    let market = load_market(ctx, m)?;
    let group = load_group(ctx, m, st.group)?;
    let n = st.inputs.len();
    if n < 2 || st.outputs.len() != n || signatures.len() != n {
        return Err(EnergyError::Invalid(
            "a mix needs at least two inputs, as many outputs and one signature per input",
        ));
    }
    if !st.outputs.windows(2).all(|w| w[0] < w[1]) {
        return Err(EnergyError::Invalid(
            "mix outputs must be sorted and distinct",
        ));
    }
    let inputs: std::collections::BTreeSet<&Address> = st.inputs.iter().collect();
    if inputs.len() != n || st.outputs.iter().any(|o| inputs.contains(o)) {
        return Err(EnergyError::Invalid(
            "mix inputs must be distinct and not outputs",
        ));
    }
    if (st.energy == 0 && st.funds == 0) || st.first > st.last {
        return Err(EnergyError::Invalid(
            "a mix moves some energy or funds, and first <= last",
        ));
    }
    let intervals: Vec<Interval> = (st.first..=st.last)
        .take(MAX_INTERVALS_PER_CALL + 1)
        .collect();
    check_intervals(&market, &intervals)?;
    if ctx.load::<()>(&mix_key(m, &st.session))?.is_some() {
        return Err(EnergyError::MixReplayed);
    }
    let text = st.signed_bytes();
    for (input, sig) in st.inputs.iter().zip(&signatures) {
        if !input.verifies(MIX_NAMESPACE, &text, sig) {
            return Err(EnergyError::MixSignature(*input));
        }
        // Only the group's registered prosumers mix: the assets keep the group, and the
        // anonymity set is the group's.
        let meter = prosumer_meter(ctx, m, input)?;
        if !meter.bound {
            return Err(EnergyError::NotAProsumer);
        }
        if !group.feeders.contains(&meter.feeder) {
            return Err(EnergyError::NotInGroup(st.group));
        }
    }
    // Equal amounts, and no record pairs an input with an output: any assignment of outputs
    // to inputs explains the resulting state.
    if st.energy > 0 {
        for (input, output) in st.inputs.iter().zip(&st.outputs) {
            for &t in &intervals {
                if ctx.load_u64(&lock_key(m, input, t, st.side, st.group))? > 0 {
                    return Err(EnergyError::AssetsInUse { interval: t });
                }
                let held = ctx.load_u64(&assets_key(m, input, t, st.side, st.group))?;
                if held < st.energy {
                    return Err(EnergyError::InsufficientAssets {
                        interval: t,
                        held,
                        needed: st.energy,
                    });
                }
                let delta = i128::from(st.energy);
                add_assets(ctx, m, input, t, st.side, st.group, -delta)?;
                add_assets(ctx, m, output, t, st.side, st.group, delta)?;
            }
        }
    }
    if st.funds > 0 {
        Bank::transfer_equal(ctx, &st.inputs, &st.outputs, st.funds)?;
    }
    ctx.store(mix_key(m, &st.session), &());
    ctx.emit(NAME, "Mixed", &json!({"market": m, "statement": st}));
    Ok(())
}
