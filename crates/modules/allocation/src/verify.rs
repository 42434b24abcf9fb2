//! The exact check of assignments (spec 2.6), pure: the module's calls, solvers and tests all
//! run this one function.
//!
//! Eq. 6.1/6.2 in integers: an offer's scale is the lcm of its quantities and its weight for
//! type t is scale / o_Q(t), so Σ a_Q / o_Q(t) ≤ 1 is exactly Σ a_Q · w(t) ≤ scale (u128).

use crate::{
    params::{bound_of, pair_allowed, weight_of},
    types::*,
};
use agora_types::Address;
use std::collections::BTreeMap;

/// Why an assignment is refused; the first failing check decides (spec 2.6, V1-V11).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("assignment {0}: zero quantity")]
    ZeroQuantity(usize),
    #[error("assignment {0}: no offer {1}")]
    UnknownOffer(usize, OfferId),
    #[error("assignment {0}: offer {1} belongs to another cycle")]
    OfferOtherCycle(usize, OfferId),
    #[error("assignment {0}: offer {1} is not posted")]
    OfferNotPosted(usize, OfferId),
    #[error("assignment {0}: offer {1} is on the wrong side")]
    WrongSide(usize, OfferId),
    #[error("assignment {0}: type {1} is not an alternative of both offers (6.0a)")]
    TypeNotOffered(usize, TypeId),
    #[error("assignment {0}: price below the provider's value (eq. 6.3)")]
    ProviderPrice(usize),
    #[error("assignment {0}: price above the consumer's value (eq. 6.4)")]
    ConsumerPrice(usize),
    #[error("assignment {0}: price outside the type's bounds (eq. 6.13)")]
    PriceBounds(usize),
    #[error("assignment {0}: the owners' zones may not trade this type (eq. 6.14)")]
    PairNotAllowed(usize),
    #[error("assignment {0}: providing offer {1} over capacity (eq. 6.1)")]
    ProviderCapacity(usize, OfferId),
    #[error("assignment {0}: consumption offer {1} over capacity (eq. 6.2)")]
    ConsumerCapacity(usize, OfferId),
    #[error("the score overflows")]
    Overflow,
}

impl Violation {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ZeroQuantity(_) => "zero_quantity",
            Self::UnknownOffer(..) => "unknown_offer",
            Self::OfferOtherCycle(..) => "offer_other_cycle",
            Self::OfferNotPosted(..) => "offer_not_posted",
            Self::WrongSide(..) => "wrong_side",
            Self::TypeNotOffered(..) => "type_not_offered",
            Self::ProviderPrice(_) => "eq_6_3_provider_price",
            Self::ConsumerPrice(_) => "eq_6_4_consumer_price",
            Self::PriceBounds(_) => "eq_6_13_price_bounds",
            Self::PairNotAllowed(_) => "eq_6_14_pair_not_allowed",
            Self::ProviderCapacity(..) => "eq_6_1_provider_capacity",
            Self::ConsumerCapacity(..) => "eq_6_2_consumer_capacity",
            Self::Overflow => "overflow",
        }
    }
}

/// What a check needs: the market's rules, its cycle, the offers the assignments name (absent
/// ones are unknown) and their owners' zones (absent: zone 0).
pub struct Context<'a> {
    pub params: &'a MarketParams,
    pub cycle: u64,
    pub offers: &'a BTreeMap<OfferId, Offer>,
    pub zones: &'a BTreeMap<Address, Zone>,
}

/// Scaled usage of each offer so far (Σ a_Q · w(a_T)).
pub type Usage = BTreeMap<OfferId, u128>;

/// The alternative of `offer` for type `t`, by binary search over the sorted alternatives.
pub fn alternative(offer: &Offer, t: TypeId) -> Option<&Alternative> {
    offer
        .alternatives
        .binary_search_by_key(&t, |a| a.rtype)
        .ok()
        .map(|i| &offer.alternatives[i])
}

fn posted_offer<'a>(
    cx: &'a Context<'_>,
    i: usize,
    id: OfferId,
    side: Side,
) -> Result<&'a Offer, Violation> {
    let offer = cx.offers.get(&id).ok_or(Violation::UnknownOffer(i, id))?;
    if offer.cycle != cx.cycle {
        return Err(Violation::OfferOtherCycle(i, id));
    }
    if !offer.posted {
        return Err(Violation::OfferNotPosted(i, id));
    }
    if offer.side != side {
        return Err(Violation::WrongSide(i, id));
    }
    Ok(offer)
}

fn use_offer(usage: &mut Usage, offer: &Offer, alt: &Alternative, quantity: u64) -> Option<()> {
    let weight = u128::from(offer.scale / alt.quantity);
    let used = usage.entry(offer.id).or_default();
    let total = u128::from(quantity)
        .checked_mul(weight)?
        .checked_add(*used)?;
    if total > u128::from(offer.scale) {
        return None;
    }
    *used = total;
    Some(())
}

/// Checks `assignments` on top of a solution's `usage` and `score` so far and adds them; on
/// error, `usage` and `score` may be partly updated (callers discard them).
pub fn extend(
    cx: &Context<'_>,
    usage: &mut Usage,
    score: &mut Score,
    assignments: &[Assignment],
) -> Result<(), Violation> {
    for (i, a) in assignments.iter().enumerate() {
        if a.quantity == 0 {
            return Err(Violation::ZeroQuantity(i));
        }
        let p = posted_offer(cx, i, a.provider, Side::Provide)?;
        let c = posted_offer(cx, i, a.consumer, Side::Consume)?;
        let (Some(pa), Some(ca)) = (alternative(p, a.rtype), alternative(c, a.rtype)) else {
            return Err(Violation::TypeNotOffered(i, a.rtype));
        };
        if a.price < pa.value {
            return Err(Violation::ProviderPrice(i));
        }
        if a.price > ca.value {
            return Err(Violation::ConsumerPrice(i));
        }
        if let Some(b) = bound_of(cx.params, a.rtype) {
            if a.price < b.min || a.price > b.max {
                return Err(Violation::PriceBounds(i));
            }
        }
        let zone = |o: &Offer| cx.zones.get(&o.owner).copied().unwrap_or(0);
        if !pair_allowed(&cx.params.pairs, zone(p), zone(c), a.rtype) {
            return Err(Violation::PairNotAllowed(i));
        }
        use_offer(usage, p, pa, a.quantity).ok_or(Violation::ProviderCapacity(i, p.id))?;
        use_offer(usage, c, ca, a.quantity).ok_or(Violation::ConsumerCapacity(i, c.id))?;
        let g = match &cx.params.objective {
            Objective::Quantity => 1,
            Objective::TypeUtility { .. } => u128::from(weight_of(&cx.params.objective, a.rtype)),
            // 6.3 and 6.4 passed, so V_c(t) >= a_V >= V_p(t).
            Objective::Welfare => u128::from(ca.value - pa.value),
        };
        let q = u128::from(a.quantity);
        score.primary = g
            .checked_mul(q)
            .and_then(|x| x.checked_add(score.primary))
            .ok_or(Violation::Overflow)?;
        score.quantity = score.quantity.checked_add(q).ok_or(Violation::Overflow)?;
    }
    Ok(())
}

/// Checks a whole solution from empty usage; its score.
pub fn verify(cx: &Context<'_>, assignments: &[Assignment]) -> Result<Score, Violation> {
    let mut score = Score::default();
    extend(cx, &mut Usage::new(), &mut score, assignments)?;
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{params::scale, reference::by_definition};
    use proptest::prelude::*;

    fn offer(id: OfferId, side: Side, alts: Vec<(TypeId, u64, u64)>) -> Offer {
        let mut alternatives: Vec<Alternative> = alts
            .into_iter()
            .map(|(rtype, quantity, value)| Alternative {
                rtype,
                quantity,
                value,
            })
            .collect();
        alternatives.sort_by_key(|a| a.rtype);
        alternatives.dedup_by_key(|a| a.rtype);
        Offer {
            id,
            cycle: 0,
            owner: Address([id as u8; 32]),
            side,
            misc: 0,
            scale: scale(&alternatives).unwrap(),
            alternatives,
            posted: true,
            hold: None,
        }
    }

    proptest! {
        /// `verify` accepts exactly the solutions the definition accepts, with the same score,
        /// on offers with unequal quantities (the exact-fraction path).
        #[test]
        fn verify_is_the_definition(
            alts in prop::collection::vec(prop::collection::vec((0..2u64, 1..7u64, 0..4u64), 1..3), 2..6),
            picks in prop::collection::vec((0..6usize, 0..6usize, 0..3usize, 0..4u64, 0..5u64), 0..8),
            welfare in any::<bool>(),
        ) {
            // Even ids provide, odd ones consume; consumers value one more, so prices overlap.
            let offers: BTreeMap<OfferId, Offer> = alts
                .into_iter()
                .enumerate()
                .map(|(i, alts)| {
                    let (side, bump) = if i % 2 == 0 { (Side::Provide, 0) } else { (Side::Consume, 1) };
                    let alts = alts.into_iter().map(|(t, q, v)| (t, q, v + bump)).collect();
                    (i as u64, offer(i as u64, side, alts))
                })
                .collect();
            let n = offers.len();
            let assignments: Vec<Assignment> = picks
                .into_iter()
                .map(|(p, c, a, quantity, price)| {
                    let (provider, consumer) = ((2 * p % n) as u64, ((2 * c + 1) % n) as u64);
                    let alts = &offers[&provider].alternatives;
                    let rtype = alts[a % alts.len()].rtype;
                    Assignment { provider, consumer, rtype, quantity, price }
                })
                .collect();
            let mut params = crate::types::MarketParams {
                receive_ms: 1,
                solve_ms: 1,
                max_quantity: 10,
                max_types_per_offer: 4,
                objective: Objective::Quantity,
                default_bound: None,
                price_bounds: vec![],
                pairs: PairRule::Any,
                settle: false,
                max_offers_per_cycle: 10,
                max_solutions_per_cycle: 10,
            };
            if welfare {
                params.objective = Objective::Welfare;
            }
            let zones = BTreeMap::new();
            let cx = Context { params: &params, cycle: 0, offers: &offers, zones: &zones };
            prop_assert_eq!(verify(&cx, &assignments).ok(), by_definition(&cx, &assignments));
        }
    }
}
