//! Exact, integer feasibility check of a solution (eq. 2.1-2.3, 2.5-2.7, 2.9-2.10), of the
//! feeders' physical limits whatever the groupings, and of the clearing rule
//! ([`crate::clearing`]); returns the solution's [`Score`] (eq. 2.4 first). O(n log n) for n
//! trades, plus the feeders of the groups the trades touch.
//!
//! The check is a pure function of the solution and of the state it refers to, so the module,
//! solvers (to check before submitting) and benchmarks run the same code.
//!
//! # Feeders under any grouping
//!
//! Eq. 2.6 and 2.7 bound each group. A feeder's prosumers may trade through its own group and
//! through every privacy group that contains it, and an anonymous offer of a privacy group may
//! come from any of its feeders; so per feeder f and interval the check takes the worst case:
//! f's prosumers sold at most S = min(sold through every group containing f, Σ L⁺ of f) and
//! bought at most B = min(bought through them, Σ L⁻ of f), and they certainly sold S_f and
//! bought B_f through f's own group. Then max(S, B) <= C^i_f and S - B_f <= C^e_f and
//! B - S_f <= C^e_f. Where groups partition the feeders and meet eq. 2.17/2.19 this adds
//! nothing; where they overlap, or a privacy group's internal trades cross a feeder with a
//! low external limit, it is what keeps the feeder safe.

use crate::clearing::{self, Amount, Score};
use crate::types::{FeederId, FeederLimits, Group, GroupId, Interval, Offer, OfferId, Side, Trade};
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
    /// Every feeder of those groups; a feeder absent here allows no trade through it.
    pub feeders: &'a BTreeMap<FeederId, FeederLimits>,
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
    #[error(
        "eq. 2.3 and the clearing rule: trade {sell}->{buy} must clear at {required}, not {price}"
    )]
    Price {
        sell: OfferId,
        buy: OfferId,
        price: u64,
        required: u64,
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
    #[error("eq. 2.6 at feeder {feeder}: its prosumers could move {traded} Wh in interval {interval} through its groups, its internal limit is {limit} Wh")]
    FeederInternalLimit {
        feeder: FeederId,
        interval: Interval,
        traded: u64,
        limit: u64,
    },
    #[error("eq. 2.7 at feeder {feeder}: its prosumers could transfer a net {net} Wh in interval {interval} through its groups, its external limit is {limit} Wh")]
    FeederExternalLimit {
        feeder: FeederId,
        interval: Interval,
        net: u64,
        limit: u64,
    },
    #[error("the clearing rule pairs interval {interval}'s amounts otherwise (offer {offer} left unpaired or paired differently)")]
    NotCanonical { interval: Interval, offer: OfferId },
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
            Self::FeederInternalLimit { .. } => "eq_2_6_feeder_internal_limit",
            Self::FeederExternalLimit { .. } => "eq_2_7_feeder_external_limit",
            Self::NotCanonical { .. } => "solution_not_canonical",
            Self::Overflow => "solution_overflow",
        }
    }
}

fn add(a: u64, b: u64) -> Result<u64, Violation> {
    a.checked_add(b).ok_or(Violation::Overflow)
}

/// Checks `trades` and returns their score, or the first violated constraint.
pub fn verify(ctx: &SolutionContext<'_>, trades: &[Trade]) -> Result<Score, Violation> {
    // Sums go into hash maps (fast); when several limits are broken, the smallest key among them
    // is reported, so every validator names the same violation.
    let mut per_offer: HashMap<OfferId, u64> = HashMap::with_capacity(2 * trades.len());
    let mut per_account: HashMap<(Address, Side, GroupId, Interval), u64> =
        HashMap::with_capacity(2 * trades.len());
    // (group, interval) -> (sold, bought)
    let mut per_group: HashMap<(GroupId, Interval), (u64, u64)> =
        HashMap::with_capacity(2 * trades.len());
    let mut score = Score::default();
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
        let required = clearing::price(s.price, b.price);
        if trade.price != required {
            return Err(Violation::Price {
                sell: s.id,
                buy: b.id,
                price: trade.price,
                required,
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
        score.energy = add(score.energy, trade.energy)?;
        score.gains = u128::from(trade.energy)
            .checked_mul(u128::from(b.price - s.price))
            .and_then(|g| g.checked_add(score.gains))
            .ok_or(Violation::Overflow)?;
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
    check_groups(ctx, &per_group)?;
    check_feeders(ctx, &per_group)?;
    check_pairing(ctx, trades)?;
    Ok(score)
}

/// Eq. 2.6 and 2.7 per group and interval.
fn check_groups(
    ctx: &SolutionContext<'_>,
    per_group: &HashMap<(GroupId, Interval), (u64, u64)>,
) -> Result<(), Violation> {
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
    match first_group {
        Some((_, violation)) => Err(violation),
        None => Ok(()),
    }
}

/// What a feeder's prosumers traded in one interval: through its own group (certainly
/// theirs) and through every group containing it (possibly theirs).
#[derive(Default)]
struct FeederFlow {
    own_sold: u64,
    own_bought: u64,
    any_sold: u64,
    any_bought: u64,
}

/// The feeders' own limits under the worst-case attribution of every group's trades (see the
/// module docs).
fn check_feeders(
    ctx: &SolutionContext<'_>,
    per_group: &HashMap<(GroupId, Interval), (u64, u64)>,
) -> Result<(), Violation> {
    let mut flows: BTreeMap<(FeederId, Interval), FeederFlow> = BTreeMap::new();
    for ((g, t), (sold, bought)) in per_group {
        let Some(group) = ctx.groups.get(g) else {
            continue; // refused by check_groups already
        };
        for f in &group.feeders {
            let flow = flows.entry((*f, *t)).or_default();
            if ctx.feeders.get(f).is_some_and(|l| l.own_group == *g) {
                flow.own_sold = add(flow.own_sold, *sold)?;
                flow.own_bought = add(flow.own_bought, *bought)?;
            }
            flow.any_sold = add(flow.any_sold, *sold)?;
            flow.any_bought = add(flow.any_bought, *bought)?;
        }
    }
    for ((feeder, interval), flow) in flows {
        let limits = ctx.feeders.get(&feeder);
        let (c_int, c_ext) = limits.map_or((0, 0), |l| (l.c_int, l.c_ext));
        let (l_prod, l_cons) = limits.map_or((u64::MAX, u64::MAX), |l| (l.l_prod, l.l_cons));
        let sold = flow.any_sold.min(l_prod);
        let bought = flow.any_bought.min(l_cons);
        let traded = sold.max(bought);
        if traded > c_int {
            return Err(Violation::FeederInternalLimit {
                feeder,
                interval,
                traded,
                limit: c_int,
            });
        }
        let net = sold
            .saturating_sub(flow.own_bought)
            .max(bought.saturating_sub(flow.own_sold));
        if net > c_ext {
            return Err(Violation::FeederExternalLimit {
                feeder,
                interval,
                net,
                limit: c_ext,
            });
        }
    }
    Ok(())
}

/// The trades of each interval must be the clearing rule's pairing of their own amounts.
fn check_pairing(ctx: &SolutionContext<'_>, trades: &[Trade]) -> Result<(), Violation> {
    for chunk in trades.chunk_by(|a, b| a.interval == b.interval) {
        let interval = chunk[0].interval;
        let mut amounts: BTreeMap<OfferId, Amount> = BTreeMap::new();
        for t in chunk {
            for id in [t.sell, t.buy] {
                let a = amounts.entry(id).or_insert(Amount {
                    offer: id,
                    price: ctx.offers[&id].price,
                    energy: 0,
                });
                a.energy = add(a.energy, t.energy)?;
            }
        }
        let (sells, buys): (Vec<Amount>, Vec<Amount>) = amounts
            .into_values()
            .partition(|a| ctx.offers[&a.offer].side == Side::Sell);
        let expected = clearing::pair(interval, sells, buys).map_err(|u| match u {
            clearing::Unpaired::Seller(offer) | clearing::Unpaired::Buyer(offer) => {
                Violation::NotCanonical { interval, offer }
            }
        })?;
        if let Some((got, want)) = chunk.iter().zip(&expected).find(|(g, w)| g != w) {
            return Err(Violation::NotCanonical {
                interval,
                offer: got.sell.min(want.sell),
            });
        }
        if expected.len() != chunk.len() {
            let offer = expected
                .get(chunk.len())
                .or(chunk.get(expected.len()))
                .map_or(0, |t| t.sell);
            return Err(Violation::NotCanonical { interval, offer });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INTERVALS: u32 = 4;
    /// Groups 0 and 1 are feeders 0 and 1's own; group 2 is a privacy group of both.
    const GROUPS: u32 = 3;

    fn account(i: u8) -> Address {
        Address([i; 32])
    }

    /// The clearing rule's pairing restated with plain loops: sellers and buyers by decreasing
    /// price (ties by id), each seller filled from the buyers in order.
    fn reference_pairing(ctx: &SolutionContext<'_>, trades: &[Trade]) -> Option<Vec<Trade>> {
        let mut out = Vec::new();
        for t in 0..INTERVALS {
            let mut sells: Vec<(u64, OfferId, u64)> = Vec::new();
            let mut buys: Vec<(u64, OfferId, u64)> = Vec::new();
            for o in ctx.offers.values() {
                let sold: u64 = trades
                    .iter()
                    .filter(|x| x.interval == t && (x.sell == o.id || x.buy == o.id))
                    .map(|x| x.energy)
                    .sum();
                if sold > 0 {
                    let list = if o.side == Side::Sell {
                        &mut sells
                    } else {
                        &mut buys
                    };
                    list.push((o.price, o.id, sold));
                }
            }
            sells.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            buys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut j = 0;
            let mut these = Vec::new();
            for (sp, sid, mut left) in sells {
                while left > 0 {
                    if j >= buys.len() || buys[j].0 < sp {
                        return None;
                    }
                    let e = left.min(buys[j].2);
                    these.push(Trade {
                        sell: sid,
                        buy: buys[j].1,
                        interval: t,
                        energy: e,
                        price: sp + (buys[j].0 - sp) / 2,
                    });
                    left -= e;
                    buys[j].2 -= e;
                    if buys[j].2 == 0 {
                        j += 1;
                    }
                }
            }
            if j < buys.len() {
                return None;
            }
            these.sort_by_key(|x| (x.sell, x.buy));
            out.extend(these);
        }
        Some(out)
    }

    /// The constraints restated the slow, obvious way: loops over every offer, group, feeder
    /// and interval, no maps shared with `verify`.
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
                && t.price == s.price + (b.price - s.price) / 2;
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
        let flow = |interval: u32, side: Side, group: GroupId| -> u64 {
            trades
                .iter()
                .filter(|t| t.interval == interval)
                .filter(|t| {
                    let id = if side == Side::Sell { t.sell } else { t.buy };
                    ctx.offers[&id].group == group
                })
                .map(|t| t.energy)
                .sum()
        };
        for interval in 0..INTERVALS {
            for g in ctx.groups.values() {
                let (sold, bought) = (
                    flow(interval, Side::Sell, g.id),
                    flow(interval, Side::Buy, g.id),
                );
                if sold.max(bought) > g.c_int || sold.abs_diff(bought) > g.c_ext {
                    return false;
                }
            }
            for f in ctx.feeders.values() {
                let containing: Vec<GroupId> = ctx
                    .groups
                    .values()
                    .filter(|g| g.feeders.contains(&f.feeder))
                    .map(|g| g.id)
                    .collect();
                let any = |side| {
                    containing
                        .iter()
                        .map(|g| flow(interval, side, *g))
                        .sum::<u64>()
                };
                let most_sold = any(Side::Sell).min(f.l_prod);
                let most_bought = any(Side::Buy).min(f.l_cons);
                let least_sold = flow(interval, Side::Sell, f.own_group);
                let least_bought = flow(interval, Side::Buy, f.own_group);
                if most_sold.max(most_bought) > f.c_int
                    || most_sold.saturating_sub(least_bought) > f.c_ext
                    || most_bought.saturating_sub(least_sold) > f.c_ext
                {
                    return false;
                }
            }
        }
        reference_pairing(ctx, trades).as_deref() == Some(trades)
    }

    fn offers() -> impl Strategy<Value = Vec<Offer>> {
        proptest::collection::vec(
            (
                0u8..3,
                any::<bool>(),
                0u32..GROUPS,
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
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn verify_accepts_exactly_the_feasible_solutions(
            offers in offers(),
            picks in proptest::collection::vec((0usize..8, 0usize..8, 0u32..INTERVALS, 1u64..30, 0u64..4), 0..6),
            limits in proptest::collection::vec((0u64..60, 0u64..60), GROUPS as usize),
            prosumer_limits in proptest::collection::vec((0u64..80, 0u64..80), 2),
            held in proptest::collection::vec(0u64..50, 3 * 2 * GROUPS as usize * INTERVALS as usize),
            canonical in any::<bool>(),
        ) {
            let offers: BTreeMap<OfferId, Offer> = offers.into_iter().map(|o| (o.id, o)).collect();
            let groups: BTreeMap<GroupId, Group> = limits.iter().enumerate()
                .map(|(i, (c_int, c_ext))| {
                    let feeders = if i < 2 { vec![i as u32] } else { vec![0, 1] };
                    (i as u32, Group { id: i as u32, feeders, c_int: *c_int, c_ext: *c_ext })
                })
                .collect();
            let feeders: BTreeMap<FeederId, FeederLimits> = (0..2u32)
                .map(|f| (f, FeederLimits {
                    feeder: f,
                    own_group: f,
                    c_int: limits[f as usize].0,
                    c_ext: limits[f as usize].1,
                    l_prod: prosumer_limits[f as usize].0,
                    l_cons: prosumer_limits[f as usize].1,
                }))
                .collect();
            let mut assets = BTreeMap::new();
            let mut k = 0;
            for acc in 0..3u8 {
                for side in [Side::Sell, Side::Buy] {
                    for group in 0..GROUPS {
                        for t in 0..INTERVALS {
                            assets.insert((account(acc), side, group, t), held[k]);
                            k += 1;
                        }
                    }
                }
            }
            let n = offers.len();
            // Mostly the rule's price; sometimes one off it.
            let mut trades: Vec<Trade> = picks.into_iter()
                .map(|(s, b, interval, energy, off)| {
                    let (sp, bp) = (offers[&((s % n) as u64)].price, offers[&((b % n) as u64)].price);
                    let price = if sp <= bp { sp + (bp - sp) / 2 } else { sp };
                    Trade { sell: (s % n) as u64, buy: (b % n) as u64, interval, energy, price: price + u64::from(off == 0) }
                })
                .collect();
            trades.sort();
            trades.dedup_by_key(|t| (t.interval, t.sell, t.buy));
            trades.sort_by_key(|t| (t.interval, t.sell, t.buy));
            let ctx = SolutionContext { next_final: 0, offers: &offers, groups: &groups, feeders: &feeders, assets: &assets };
            if canonical {
                let matchable = trades.iter().all(|t| offers[&t.sell].side == Side::Sell && offers[&t.buy].side == Side::Buy);
                if let Some(paired) = reference_pairing(&ctx, &trades).filter(|_| matchable) {
                    trades = paired;
                }
            }
            let result = verify(&ctx, &trades);
            prop_assert_eq!(result.is_ok(), feasible_by_definition(&ctx, &trades), "{:?}", result);
            if let Ok(score) = result {
                prop_assert_eq!(score.energy, trades.iter().map(|t| t.energy).sum::<u64>());
            }
        }
    }
}
