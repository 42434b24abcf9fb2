//! The market's and the offers' calls (Fig. 6.3: setup, createOffer, updateOffer, postOffer,
//! cancelOffer, close), one function per call.

use crate::{params, store::*, types::*, AllocationError, NAME};
use agora_bank::{module_account, Bank, BankError};
use agora_hybrid::{ensure_due, Candidate};
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;

type Result<T> = std::result::Result<T, AllocationError>;

pub(crate) fn load_market(ctx: &mut TxContext<'_>, m: MarketId) -> Result<Market> {
    ctx.load(&market_key(m))?
        .ok_or(AllocationError::UnknownMarket(m))
}

/// The market, refused unless it is in `phase`.
pub(crate) fn market_in(ctx: &mut TxContext<'_>, m: MarketId, phase: Phase) -> Result<Market> {
    let market = load_market(ctx, m)?;
    if market.phase != phase {
        return Err(AllocationError::WrongPhase(market.phase));
    }
    Ok(market)
}

pub(crate) fn save(ctx: &mut TxContext<'_>, market: &Market) {
    ctx.store(market_key(market.id), market);
}

pub fn create_market(ctx: &mut TxContext<'_>, params: MarketParams) -> Result<()> {
    params::check(&params).map_err(AllocationError::InvalidParams)?;
    let id = ctx.load_u64(&next_market_key())?;
    ctx.store_u64(
        next_market_key(),
        id.checked_add(1).ok_or(AllocationError::Overflow)?,
    );
    let market = Market {
        id,
        admin: ctx.sender(),
        params,
        phase: Phase::Receive,
        phase_since_ms: ctx.timestamp(),
        cycle: 0,
        next_offer: 0,
        next_solution: 0,
        offers_this_cycle: 0,
        posted_this_cycle: 0,
        solutions_this_cycle: 0,
        candidate: Candidate::default(),
    };
    save(ctx, &market);
    ctx.emit(
        NAME,
        "MarketCreated",
        &json!({"market": id, "admin": market.admin, "params": market.params}),
    );
    Ok(())
}

pub fn set_zone(ctx: &mut TxContext<'_>, m: MarketId, account: Address, zone: Zone) -> Result<()> {
    let market = market_in(ctx, m, Phase::Receive)?;
    if market.admin != ctx.sender() {
        return Err(AllocationError::NotAdmin);
    }
    ctx.store(zone_key(m, &account), &zone);
    ctx.emit(
        NAME,
        "ZoneSet",
        &json!({"market": m, "account": account, "zone": zone}),
    );
    Ok(())
}

pub fn create_offer(ctx: &mut TxContext<'_>, m: MarketId, side: Side, misc: u64) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Receive)?;
    new_offer(ctx, &mut market, side, misc)?;
    save(ctx, &market);
    Ok(())
}

fn new_offer(ctx: &mut TxContext<'_>, market: &mut Market, side: Side, misc: u64) -> Result<Offer> {
    if market.offers_this_cycle >= market.params.max_offers_per_cycle {
        return Err(AllocationError::TooManyOffers);
    }
    let offer = Offer {
        id: market.next_offer,
        cycle: market.cycle,
        owner: ctx.sender(),
        side,
        misc,
        alternatives: Vec::new(),
        posted: false,
        scale: 0,
        hold: None,
    };
    market.next_offer = market
        .next_offer
        .checked_add(1)
        .ok_or(AllocationError::Overflow)?;
    market.offers_this_cycle += 1;
    ctx.store(offer_key(market.id, offer.id), &offer);
    ctx.emit(
        NAME,
        "OfferCreated",
        &json!({"market": market.id, "offer": offer.id, "owner": offer.owner, "side": side, "misc": misc, "cycle": offer.cycle}),
    );
    Ok(offer)
}

/// The sender's offer of the current cycle (P3, P4, P11: ownership from the signer).
fn own_offer(ctx: &mut TxContext<'_>, market: &Market, o: OfferId) -> Result<Offer> {
    let offer: Offer = ctx
        .load(&offer_key(market.id, o))?
        .ok_or(AllocationError::UnknownOffer(o))?;
    if offer.cycle != market.cycle {
        return Err(AllocationError::OfferOtherCycle(o));
    }
    if offer.owner != ctx.sender() {
        return Err(AllocationError::NotOwner);
    }
    Ok(offer)
}

/// Sets or (quantity 0) removes alternatives, keeping them sorted and within the market's limits.
fn apply_updates(market: &Market, offer: &mut Offer, updates: &[Alternative]) -> Result<()> {
    if updates.len() > MAX_ALTERNATIVES as usize {
        return Err(AllocationError::TooManyUpdates);
    }
    for u in updates {
        if u.quantity > market.params.max_quantity {
            return Err(AllocationError::QuantityTooLarge {
                quantity: u.quantity,
                max: market.params.max_quantity,
            });
        }
        let at = offer
            .alternatives
            .binary_search_by_key(&u.rtype, |a| a.rtype);
        match (at, u.quantity) {
            (Ok(i), 0) => {
                offer.alternatives.remove(i);
            }
            (Ok(i), _) => offer.alternatives[i] = u.clone(),
            (Err(_), 0) => {}
            (Err(i), _) => offer.alternatives.insert(i, u.clone()),
        }
        if offer.alternatives.len() > market.params.max_types_per_offer as usize {
            return Err(AllocationError::TooManyTypes(
                market.params.max_types_per_offer,
            ));
        }
    }
    Ok(())
}

pub fn update_offer(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    o: OfferId,
    updates: Vec<Alternative>,
) -> Result<()> {
    let market = market_in(ctx, m, Phase::Receive)?;
    let mut offer = own_offer(ctx, &market, o)?;
    if offer.posted {
        return Err(AllocationError::OfferPosted);
    }
    apply_updates(&market, &mut offer, &updates)?;
    ctx.store(offer_key(m, o), &offer);
    ctx.emit(
        NAME,
        "OfferUpdated",
        &json!({"market": m, "offer": o, "updates": updates}),
    );
    Ok(())
}

/// Marks a draft posted: its scale (spec 1.8) and, when settling, the hold of a consumption
/// offer, max_t Q·V, which covers whatever it can owe (fact F1).
fn post(ctx: &mut TxContext<'_>, market: &mut Market, offer: &mut Offer) -> Result<()> {
    if offer.posted {
        return Err(AllocationError::OfferPosted);
    }
    if offer.alternatives.is_empty() {
        return Err(AllocationError::NoAlternatives);
    }
    offer.scale = params::scale(&offer.alternatives).ok_or(AllocationError::ScaleOverflow)?;
    if market.params.settle && offer.side == Side::Consume {
        let mut most = 0u64;
        for a in &offer.alternatives {
            most = most.max(
                a.quantity
                    .checked_mul(a.value)
                    .ok_or(AllocationError::Overflow)?,
            );
        }
        if most > 0 {
            offer.hold = Some(Bank::hold(ctx, &offer.owner, most, &module_account(NAME))?);
        }
    }
    offer.posted = true;
    market.posted_this_cycle += 1;
    ctx.store(offer_key(market.id, offer.id), &*offer);
    ctx.store(posted_key(market.id, market.cycle, offer.id), &());
    ctx.emit(
        NAME,
        "OfferPosted",
        &json!({"market": market.id, "offer": offer.id, "alternatives": offer.alternatives, "scale": offer.scale}),
    );
    Ok(())
}

pub fn post_offer(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Receive)?;
    let mut offer = own_offer(ctx, &market, o)?;
    post(ctx, &mut market, &mut offer)?;
    save(ctx, &market);
    Ok(())
}

/// Malformed alternatives are refused before anything is stored.
fn check_alternatives(market: &Market, alternatives: &[Alternative]) -> Result<()> {
    if alternatives.len() > market.params.max_types_per_offer as usize {
        return Err(AllocationError::TooManyTypes(
            market.params.max_types_per_offer,
        ));
    }
    if alternatives.iter().any(|a| a.quantity == 0) {
        return Err(AllocationError::ZeroQuantity);
    }
    if let Some(w) = alternatives.windows(2).find(|w| w[0].rtype >= w[1].rtype) {
        return Err(AllocationError::UnsortedTypes(w[1].rtype));
    }
    Ok(())
}

pub fn place_offer(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    side: Side,
    misc: u64,
    alternatives: Vec<Alternative>,
) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Receive)?;
    check_alternatives(&market, &alternatives)?;
    let mut offer = new_offer(ctx, &mut market, side, misc)?;
    apply_updates(&market, &mut offer, &alternatives)?;
    post(ctx, &mut market, &mut offer)?;
    save(ctx, &market);
    Ok(())
}

/// Returns what is left of a hold to its owner (nothing if payments used it all).
fn release_hold(ctx: &mut TxContext<'_>, hold: u64) -> Result<u64> {
    match Bank::get_hold(ctx, hold) {
        Ok(h) => {
            Bank::release(ctx, hold, &module_account(NAME))?;
            Ok(h.amount)
        }
        Err(BankError::UnknownHold(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

pub fn cancel_offer(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Receive)?;
    let mut offer = own_offer(ctx, &market, o)?;
    if !offer.posted {
        return Err(AllocationError::OfferNotPosted);
    }
    if let Some(hold) = offer.hold.take() {
        release_hold(ctx, hold)?;
    }
    offer.posted = false;
    market.posted_this_cycle -= 1;
    ctx.store(offer_key(m, o), &offer);
    ctx.delete(posted_key(m, market.cycle, o));
    save(ctx, &market);
    ctx.emit(NAME, "OfferCanceled", &json!({"market": m, "offer": o}));
    Ok(())
}

/// Receive → Solve once the offering phase has lasted `receive_ms` (P10).
pub fn close(ctx: &mut TxContext<'_>, m: MarketId) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Receive)?;
    let due = i128::from(market.phase_since_ms) + i128::from(market.params.receive_ms);
    ensure_due(ctx.timestamp(), due).map_err(|due_at| AllocationError::NotDue { due_at })?;
    market.phase = Phase::Solve;
    market.phase_since_ms = ctx.timestamp();
    save(ctx, &market);
    ctx.emit(
        NAME,
        "Closed",
        &json!({"market": m, "cycle": market.cycle, "posted_offers": market.posted_this_cycle}),
    );
    Ok(())
}

/// Settlement: once an offer's cycle is final, anyone may return what is left of its hold to
/// its owner.
pub fn release_offer(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<()> {
    let market = load_market(ctx, m)?;
    let mut offer: Offer = ctx
        .load(&offer_key(m, o))?
        .ok_or(AllocationError::UnknownOffer(o))?;
    if offer.cycle >= market.cycle {
        return Err(AllocationError::NotFinal);
    }
    let hold = offer.hold.take().ok_or(AllocationError::NothingHeld)?;
    let returned = release_hold(ctx, hold)?;
    ctx.store(offer_key(m, o), &offer);
    ctx.emit(
        NAME,
        "OfferReleased",
        &json!({"market": m, "offer": o, "returned": returned}),
    );
    Ok(())
}
