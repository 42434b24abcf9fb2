//! Exact, integer feasibility check of a solution (eq. 2.1-2.3, 2.5-2.7, 2.9-2.10) and its
//! objective (eq. 2.4), in O(n log n) for n trades.
//!
//! The check is a pure function of the solution and of the state it refers to, so the module,
//! solvers (to check before submitting) and benchmarks run the same code.

use crate::types::{Group, GroupId, Interval, Offer, OfferId, Side, Trade};
use agora_types::Address;
use std::collections::{BTreeMap, HashMap};

/// The state a solution is checked against.
pub struct SolutionContext<'a> {
    /// t_f: intervals before it are final and may not appear in a solution.
    pub next_final: Interval,
    /// Every offer the solution names (absent: unknown).
    pub offers: &'a BTreeMap<OfferId, Offer>,
    /// Every group of those offers.
    pub groups: &'a BTreeMap<GroupId, Group>,
    /// Assets held by the offers' accounts, by (account, side, group, interval).
    pub assets: &'a BTreeMap<(Address, Side, GroupId, Interval), u64>,
}

/// The first constraint a solution breaks; the message names the equation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Violation {
    #[error(
        "trades must be sorted by (interval, sell, buy) without repeats; trade {index} is not"
    )]
    Unsorted { index: usize },
    #[error("trade {index} has no energy")]
    ZeroEnergy { index: usize },
    #[error("eq. 2.9/2.10: trade {index} is in interval {interval}, which is already final (next to finalize: {next_final})")]
    Finalized {
        index: usize,
        interval: Interval,
        next_final: Interval,
    },
    #[error("trade {index} names unknown offer {offer}")]
    UnknownOffer { index: usize, offer: OfferId },
    #[error("trade {index} names offer {offer}, which is closed")]
    ClosedOffer { index: usize, offer: OfferId },
    #[error("eq. 2.1: offers {sell} and {buy} are not matchable in interval {interval}")]
    NotMatchable {
        sell: OfferId,
        buy: OfferId,
        interval: Interval,
    },
    #[error("eq. 2.3: price {price} of trade {sell}->{buy} is outside the reservation prices [{min}, {max}]")]
    Price {
        sell: OfferId,
        buy: OfferId,
        price: u64,
        min: u64,
        max: u64,
    },
    #[error("eq. 2.2: offer {offer} would trade {traded} Wh of its {energy} Wh")]
    OfferEnergy {
        offer: OfferId,
        traded: u64,
        energy: u64,
    },
    #[error("eq. 2.5: account {account} would {side:?} {traded} Wh in interval {interval} with assets for {assets} Wh")]
    AssetLimit {
        account: Address,
        side: Side,
        interval: Interval,
        traded: u64,
        assets: u64,
    },
    #[error("eq. 2.6: group {group} would move {traded} Wh within interval {interval}, its internal limit is {limit} Wh")]
    InternalLimit {
        group: GroupId,
        interval: Interval,
        traded: u64,
        limit: u64,
    },
    #[error("eq. 2.7: group {group} would have a net transfer of {net} Wh in interval {interval}, its external limit is {limit} Wh")]
    ExternalLimit {
        group: GroupId,
        interval: Interval,
        net: u64,
        limit: u64,
    },
    #[error("energy total overflows")]
    Overflow,
}

impl Violation {
    /// The stable reason code of a refused solution.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unsorted { .. } => "solution_unsorted",
            Self::ZeroEnergy { .. } => "solution_zero_energy",
            Self::Finalized { .. } => "eq_2_9_finalized_interval",
            Self::UnknownOffer { .. } => "unknown_offer",
            Self::ClosedOffer { .. } => "closed_offer",
            Self::NotMatchable { .. } => "eq_2_1_not_matchable",
            Self::Price { .. } => "eq_2_3_price",
            Self::OfferEnergy { .. } => "eq_2_2_offer_energy",
            Self::AssetLimit { .. } => "eq_2_5_prosumer_limit",
            Self::InternalLimit { .. } => "eq_2_6_internal_limit",
            Self::ExternalLimit { .. } => "eq_2_7_external_limit",
            Self::Overflow => "solution_overflow",
        }
    }
}

fn add(a: u64, b: u64) -> Result<u64, Violation> {
    a.checked_add(b).ok_or(Violation::Overflow)
}

/// Checks `trades` and returns their objective (eq. 2.4: total energy), or the first
/// violated constraint.
pub fn verify(ctx: &SolutionContext<'_>, trades: &[Trade]) -> Result<u64, Violation> {
    // Sums go into hash maps (fast); when several limits are broken, the smallest key among them
    // is reported, so every validator names the same violation.
    let mut per_offer: HashMap<OfferId, u64> = HashMap::with_capacity(2 * trades.len());
    let mut per_account: HashMap<(Address, Side, GroupId, Interval), u64> =
        HashMap::with_capacity(2 * trades.len());
    // (group, interval) -> (sold, bought)
    let mut per_group: HashMap<(GroupId, Interval), (u64, u64)> =
        HashMap::with_capacity(2 * trades.len());
    let mut objective = 0u64;
    let mut previous: Option<(Interval, OfferId, OfferId)> = None;
    for (index, trade) in trades.iter().enumerate() {
        let key = (trade.interval, trade.sell, trade.buy);
        if previous.is_some_and(|p| p >= key) {
            return Err(Violation::Unsorted { index });
        }
        previous = Some(key);
        if trade.energy == 0 {
            return Err(Violation::ZeroEnergy { index });
        }
        if trade.interval < ctx.next_final {
            return Err(Violation::Finalized {
                index,
                interval: trade.interval,
                next_final: ctx.next_final,
            });
        }
        let offer = |id: OfferId| -> Result<&Offer, Violation> {
            let offer = ctx
                .offers
                .get(&id)
                .ok_or(Violation::UnknownOffer { index, offer: id })?;
            if !offer.open {
                return Err(Violation::ClosedOffer { index, offer: id });
            }
            Ok(offer)
        };
        let (s, b) = (offer(trade.sell)?, offer(trade.buy)?);
        let matchable = s.side == Side::Sell
            && b.side == Side::Buy
            && s.price <= b.price
            && s.intervals.binary_search(&trade.interval).is_ok()
            && b.intervals.binary_search(&trade.interval).is_ok();
        if !matchable {
            return Err(Violation::NotMatchable {
                sell: s.id,
                buy: b.id,
                interval: trade.interval,
            });
        }
        if trade.price < s.price || trade.price > b.price {
            return Err(Violation::Price {
                sell: s.id,
                buy: b.id,
                price: trade.price,
                min: s.price,
                max: b.price,
            });
        }
        for o in [s, b] {
            let e = per_offer.entry(o.id).or_default();
            *e = add(*e, trade.energy)?;
            let a = per_account
                .entry((o.account, o.side, o.group, trade.interval))
                .or_default();
            *a = add(*a, trade.energy)?;
        }
        let sold = per_group.entry((s.group, trade.interval)).or_default();
        sold.0 = add(sold.0, trade.energy)?;
        let bought = per_group.entry((b.group, trade.interval)).or_default();
        bought.1 = add(bought.1, trade.energy)?;
        objective = add(objective, trade.energy)?;
    }
    let first_offer = per_offer
        .iter()
        .filter_map(|(id, traded)| {
            let offer = &ctx.offers[id];
            let total = traded.saturating_add(offer.finalized);
            (total > offer.energy).then_some((*id, total, offer.energy))
        })
        .min();
    if let Some((offer, traded, energy)) = first_offer {
        return Err(Violation::OfferEnergy {
            offer,
            traded,
            energy,
        });
    }
    let first_account = per_account
        .iter()
        .filter_map(|(key, traded)| {
            let assets = ctx.assets.get(key).copied().unwrap_or(0);
            (*traded > assets).then_some((*key, *traded, assets))
        })
        .min();
    if let Some(((account, side, _, interval), traded, assets)) = first_account {
        return Err(Violation::AssetLimit {
            account,
            side,
            interval,
            traded,
            assets,
        });
    }
    let first_group = per_group
        .iter()
        .filter_map(|((group, interval), (sold, bought))| {
            // Every offer's group was loaded with the offer; a missing one allows no trade.
            let (c_int, c_ext) = ctx
                .groups
                .get(group)
                .map(|g| (g.c_int, g.c_ext))
                .unwrap_or((0, 0));
            let internal = (*sold).max(*bought);
            let net = sold.abs_diff(*bought);
            if internal > c_int {
                Some((
                    (*group, *interval),
                    Violation::InternalLimit {
                        group: *group,
                        interval: *interval,
                        traded: internal,
                        limit: c_int,
                    },
                ))
            } else if net > c_ext {
                Some((
                    (*group, *interval),
                    Violation::ExternalLimit {
                        group: *group,
                        interval: *interval,
                        net,
                        limit: c_ext,
                    },
                ))
            } else {
                None
            }
        })
        .min_by_key(|(key, _)| *key);
    if let Some((_, violation)) = first_group {
        return Err(violation);
    }
    Ok(objective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INTERVALS: u32 = 4;

    fn account(i: u8) -> Address {
        Address([i; 32])
    }

    /// The constraints restated the slow, obvious way: loops over every offer, group and
    /// interval, no maps shared with `verify`.
    fn feasible_by_definition(ctx: &SolutionContext<'_>, trades: &[Trade]) -> bool {
        for w in trades.windows(2) {
            if (w[0].interval, w[0].sell, w[0].buy) >= (w[1].interval, w[1].sell, w[1].buy) {
                return false;
            }
        }
        for t in trades {
            let (Some(s), Some(b)) = (ctx.offers.get(&t.sell), ctx.offers.get(&t.buy)) else {
                return false;
            };
            let ok = t.energy > 0
                && t.interval >= ctx.next_final
                && s.open
                && b.open
                && s.side == Side::Sell
                && b.side == Side::Buy
                && s.price <= b.price
                && s.intervals.contains(&t.interval)
                && b.intervals.contains(&t.interval)
                && s.price <= t.price
                && t.price <= b.price;
            if !ok {
                return false;
            }
        }
        for o in ctx.offers.values() {
            let traded: u64 = trades
                .iter()
                .filter(|t| t.sell == o.id || t.buy == o.id)
                .map(|t| t.energy)
                .sum();
            if traded + o.finalized > o.energy {
                return false;
            }
        }
        for ((acc, side, group, interval), held) in ctx.assets.iter() {
            let energy: u64 = trades
                .iter()
                .filter(|t| t.interval == *interval)
                .map(|t| {
                    [&ctx.offers[&t.sell], &ctx.offers[&t.buy]]
                        .iter()
                        .filter(|o| o.account == *acc && o.side == *side && o.group == *group)
                        .count() as u64
                        * t.energy
                })
                .sum();
            if energy > *held {
                return false;
            }
        }
        for g in ctx.groups.values() {
            for interval in 0..INTERVALS {
                let sold: u64 = trades
                    .iter()
                    .filter(|t| t.interval == interval && ctx.offers[&t.sell].group == g.id)
                    .map(|t| t.energy)
                    .sum();
                let bought: u64 = trades
                    .iter()
                    .filter(|t| t.interval == interval && ctx.offers[&t.buy].group == g.id)
                    .map(|t| t.energy)
                    .sum();
                if sold.max(bought) > g.c_int || sold.abs_diff(bought) > g.c_ext {
                    return false;
                }
            }
        }
        true
    }

    fn offers() -> impl Strategy<Value = Vec<Offer>> {
        proptest::collection::vec(
            (
                0u8..3,
                any::<bool>(),
                0u32..2,
                1u64..40,
                proptest::collection::btree_set(0u32..INTERVALS, 1..3),
                0u64..20,
                0u64..10,
            ),
            2..8,
        )
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(
                    |(id, (acc, sell, group, energy, intervals, price, finalized))| Offer {
                        id: id as u64,
                        account: account(acc),
                        side: if sell { Side::Sell } else { Side::Buy },
                        group,
                        energy,
                        intervals: intervals.into_iter().collect(),
                        price,
                        finalized: finalized.min(energy),
                        hold: None,
                        open: true,
                    },
                )
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn verify_accepts_exactly_the_feasible_solutions(
            offers in offers(),
            picks in proptest::collection::vec((0usize..8, 0usize..8, 0u32..INTERVALS, 1u64..30, 0u64..20), 0..6),
            limits in proptest::collection::vec((0u64..60, 0u64..60), 2),
            held in proptest::collection::vec(0u64..50, 3 * 2 * 2 * INTERVALS as usize),
        ) {
            let offers: BTreeMap<OfferId, Offer> = offers.into_iter().map(|o| (o.id, o)).collect();
            let groups: BTreeMap<GroupId, Group> = limits.iter().enumerate()
                .map(|(i, (c_int, c_ext))| (i as u32, Group { id: i as u32, feeders: vec![i as u32], c_int: *c_int, c_ext: *c_ext }))
                .collect();
            let mut assets = BTreeMap::new();
            let mut k = 0;
            for acc in 0..3u8 {
                for side in [Side::Sell, Side::Buy] {
                    for group in 0..2u32 {
                        for t in 0..INTERVALS {
                            assets.insert((account(acc), side, group, t), held[k]);
                            k += 1;
                        }
                    }
                }
            }
            let n = offers.len();
            let mut trades: Vec<Trade> = picks.into_iter()
                .map(|(s, b, interval, energy, price)| Trade { sell: (s % n) as u64, buy: (b % n) as u64, interval, energy, price })
                .collect();
            trades.sort();
            trades.dedup_by_key(|t| (t.interval, t.sell, t.buy));
            trades.sort_by_key(|t| (t.interval, t.sell, t.buy));
            let ctx = SolutionContext { next_final: 0, offers: &offers, groups: &groups, assets: &assets };
            let result = verify(&ctx, &trades);
            prop_assert_eq!(result.is_ok(), feasible_by_definition(&ctx, &trades), "{:?}", result);
            if let Ok(objective) = result {
                prop_assert_eq!(objective, trades.iter().map(|t| t.energy).sum::<u64>());
            }
        }
    }
}
