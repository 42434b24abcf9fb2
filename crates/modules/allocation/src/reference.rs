//! The allocation problem's feasibility and score by definition (eq. 6.0a-6.5, 6.12), with exact
//! rationals Σ a_Q / o_Q(t) ≤ 1 and none of [`crate::verify`]'s machinery (scales, weights): the
//! independent reference tests and solver cross-checks compare against, for small instances
//! (the rationals are not reduced against overflow). Price bounds and zones are not modelled.

use crate::{
    types::*,
    verify::{alternative, Context},
};
use std::collections::BTreeMap;

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `Some(score)` iff `assignments` are feasible for the offers of `cx` (objectives 6.5, 6.12).
pub fn by_definition(cx: &Context<'_>, assignments: &[Assignment]) -> Option<Score> {
    let mut used: BTreeMap<OfferId, (u128, u128)> = BTreeMap::new();
    let mut score = Score::default();
    for a in assignments {
        let (p, c) = (cx.offers.get(&a.provider)?, cx.offers.get(&a.consumer)?);
        if a.quantity == 0 || p.side != Side::Provide || c.side != Side::Consume {
            return None;
        }
        let (pa, ca) = (alternative(p, a.rtype)?, alternative(c, a.rtype)?);
        if !(pa.value <= a.price && a.price <= ca.value) {
            return None;
        }
        for (o, alt) in [(p, pa), (c, ca)] {
            let (n, d) = used.entry(o.id).or_insert((0, 1));
            let (q, big_q) = (u128::from(a.quantity), u128::from(alt.quantity));
            let (n2, d2) = (*n * big_q + q * *d, *d * big_q);
            let g = gcd(n2, d2);
            (*n, *d) = (n2 / g, d2 / g);
            if *n > *d {
                return None;
            }
        }
        let g = match cx.params.objective {
            Objective::Welfare => u128::from(ca.value - pa.value),
            _ => 1,
        };
        score.primary += g * u128::from(a.quantity);
        score.quantity += u128::from(a.quantity);
    }
    Some(score)
}
