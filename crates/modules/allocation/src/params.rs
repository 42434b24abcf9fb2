//! Market parameters: their validation, the per-type tables (eq. 6.10, 6.13, 6.14) and the exact
//! scale of an offer (spec 1.8).

use crate::types::*;

/// Why market parameters are refused.
pub fn check(p: &MarketParams) -> Result<(), &'static str> {
    if p.receive_ms == 0 || p.solve_ms == 0 {
        return Err("phase lengths must be positive");
    }
    if p.max_quantity == 0 {
        return Err("max_quantity must be positive");
    }
    if p.max_types_per_offer == 0 || p.max_types_per_offer > MAX_ALTERNATIVES {
        return Err("max_types_per_offer must be 1 to 1,024");
    }
    if p.max_offers_per_cycle == 0 || p.max_solutions_per_cycle == 0 {
        return Err("per-cycle limits must be positive");
    }
    if let Objective::TypeUtility { betas, .. } = &p.objective {
        check_ranges(betas)?;
    }
    check_ranges(&p.price_bounds)?;
    let bounds = p.price_bounds.iter().map(|r| &r.value);
    if bounds.chain(&p.default_bound).any(|b| b.min > b.max) {
        return Err("a price bound needs min <= max");
    }
    if let PairRule::Zones { allowed } = &p.pairs {
        if allowed.len() > MAX_TABLE || allowed.iter().any(|r| r.first > r.last) {
            return Err("zone rules: at most 10,000, each first <= last");
        }
        let key = |r: &ZoneRule| (r.provider, r.consumer, r.first);
        let disjoint = allowed.windows(2).all(|w| {
            key(&w[0]) < key(&w[1])
                && ((w[0].provider, w[0].consumer) != (w[1].provider, w[1].consumer)
                    || w[0].last < w[1].first)
        });
        if !disjoint {
            return Err("zone rules must be sorted by (provider, consumer, first) and disjoint");
        }
    }
    Ok(())
}

fn check_ranges<T>(ranges: &[TypeRange<T>]) -> Result<(), &'static str> {
    if ranges.len() > MAX_TABLE || ranges.iter().any(|r| r.first > r.last) {
        return Err("type ranges: at most 10,000, each first <= last");
    }
    if ranges.windows(2).any(|w| w[0].last >= w[1].first) {
        return Err("type ranges must be sorted and disjoint");
    }
    Ok(())
}

/// The range of a sorted, disjoint table that holds `t`.
fn lookup<T>(ranges: &[TypeRange<T>], t: TypeId) -> Option<&T> {
    let i = ranges.partition_point(|r| r.first <= t);
    let r = ranges.get(i.checked_sub(1)?)?;
    (t <= r.last).then_some(&r.value)
}

/// Eq. 6.13's bounds for type `t`, if any.
pub fn bound_of(p: &MarketParams, t: TypeId) -> Option<&PriceBound> {
    lookup(&p.price_bounds, t).or(p.default_bound.as_ref())
}

/// β_t of eq. 6.10 (1 under the other objectives).
pub fn weight_of(objective: &Objective, t: TypeId) -> u64 {
    match objective {
        Objective::TypeUtility {
            default_beta,
            betas,
        } => lookup(betas, t).copied().unwrap_or(*default_beta),
        _ => 1,
    }
}

/// Eq. 6.14: may an offer of an owner in zone `provider` give type `t` to one in `consumer`?
pub fn pair_allowed(rule: &PairRule, provider: Zone, consumer: Zone, t: TypeId) -> bool {
    match rule {
        PairRule::Any => true,
        PairRule::Zones { allowed } => {
            let i = allowed
                .partition_point(|r| (r.provider, r.consumer, r.first) <= (provider, consumer, t));
            i.checked_sub(1)
                .and_then(|i| allowed.get(i))
                .is_some_and(|r| (r.provider, r.consumer) == (provider, consumer) && t <= r.last)
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// lcm of the quantities (all > 0), `None` if it exceeds `u64`.
pub fn scale(alternatives: &[Alternative]) -> Option<u64> {
    alternatives.iter().try_fold(1u64, |l, a| {
        (l / gcd(l, a.quantity)).checked_mul(a.quantity)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt(quantity: u64) -> Alternative {
        Alternative {
            rtype: 0,
            quantity,
            value: 0,
        }
    }

    #[test]
    fn scale_is_the_exact_lcm() {
        assert_eq!(scale(&[alt(60_000), alt(60_001)]), Some(3_600_060_000));
        assert_eq!(scale(&[alt(4), alt(6)]), Some(12));
        assert_eq!(scale(&[alt(u64::MAX), alt(u64::MAX - 1)]), None);
    }

    #[test]
    fn tables_find_their_range() {
        let r = |first, last, value| TypeRange { first, last, value };
        let table = [r(1, 3, 10u64), r(5, 5, 20)];
        assert_eq!(lookup(&table, 0), None);
        assert_eq!(lookup(&table, 3), Some(&10));
        assert_eq!(lookup(&table, 4), None);
        assert_eq!(lookup(&table, 5), Some(&20));
        let zr = |provider, consumer, first, last| ZoneRule {
            provider,
            consumer,
            first,
            last,
        };
        let rule = PairRule::Zones {
            allowed: vec![zr(1, 2, 0, 9), zr(1, 3, 5, 5)],
        };
        assert!(pair_allowed(&rule, 1, 2, 9));
        assert!(!pair_allowed(&rule, 1, 2, 10));
        assert!(!pair_allowed(&rule, 1, 3, 4));
        assert!(pair_allowed(&rule, 1, 3, 5));
        assert!(!pair_allowed(&rule, 2, 1, 5));
    }
}
