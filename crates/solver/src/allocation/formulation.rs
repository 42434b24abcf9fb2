//! The two models of spec 4.1, as HiGHS row problems, and their answers as assignments.
//!
//! **Pairwise**: one column x_{p,c,t} per compatible triple; one row per offer,
//! Σ w_o(t)·x <= scale_o (eq. 6.1/6.2 in integers). Prices, bounds and pair rules are in which
//! triples exist. **Compact**: one column y_{o,t} per offer and type, the same offer rows, and per
//! type the price-level rows: with the distinct asks p_1 > ... > p_m, what providers at >= p_j
//! sell is at most what consumers bidding >= p_j buy, and at p_m all sold is bought. That is
//! Hall's condition for the ask <= bid staircase, so a trade decomposition exists exactly when
//! they hold; one cumulative column D_j = S_j − B_j per level keeps the model linear in size.
//! Trades are recovered per type by pairing asks and bids in decreasing order.

use super::instance::{Book, Indexed, Leg, Triple};
use crate::lp::Built;
use agora_allocation::{Assignment, Objective, OfferId};
use highs::{Col, RowProblem};
use std::collections::{BTreeMap, BTreeSet};

/// What a model maximizes: the market's primary objective, or (the lexicographic second stage,
/// A7) the quantity moved among solutions reaching `primary`.
#[derive(Clone, Copy)]
pub(crate) enum Stage {
    Primary,
    Quantity { primary: u128 },
}

fn column(problem: &mut RowProblem, cost: f64, upper: u64, integer: bool) -> Col {
    problem.add_column_with_integrality(cost, 0.0..=upper as f64, integer)
}

/// The offer rows Σ w·x <= scale, by offer id.
fn offer_rows(
    problem: &mut RowProblem,
    ix: &Indexed,
    by_offer: BTreeMap<OfferId, Vec<(Col, f64)>>,
) {
    for (id, terms) in by_offer {
        let scale = ix.offers.get(&id).map_or(0, |o| o.scale);
        problem.add_row(..=scale as f64, terms);
    }
}

/// Under [`Stage::Quantity`], the row "primary objective >= z*" (integers: >= z* − 1/2 is exact).
fn primary_floor(problem: &mut RowProblem, stage: Stage, terms: Vec<(Col, f64)>) {
    if let Stage::Quantity { primary } = stage {
        problem.add_row(primary as f64 - 0.5.., terms);
    }
}

/// The pairwise model over `triples` (decision columns in their order).
pub(crate) fn pairwise(ix: &Indexed, triples: &[Triple], stage: Stage, integer: bool) -> Built<()> {
    let mut problem = RowProblem::default();
    let mut by_offer: BTreeMap<OfferId, Vec<(Col, f64)>> = BTreeMap::new();
    let mut primary = Vec::new();
    for k in triples {
        let cost = match stage {
            Stage::Primary => k.gain as f64,
            Stage::Quantity { .. } => 1.0,
        };
        let x = column(&mut problem, cost, k.cap(), integer);
        primary.push((x, k.gain as f64));
        for leg in [&k.provider, &k.consumer] {
            by_offer
                .entry(leg.offer)
                .or_default()
                .push((x, leg.weight as f64));
        }
    }
    offer_rows(&mut problem, ix, by_offer);
    primary_floor(&mut problem, stage, primary);
    Built {
        problem,
        decisions: triples.len(),
        meta: (),
    }
}

/// The pairwise model's amounts as assignments, in the triples' order.
pub(crate) fn pairwise_assignments(triples: &[Triple], amounts: &[u64]) -> Vec<Assignment> {
    triples
        .iter()
        .zip(amounts)
        .filter(|(_, q)| **q > 0)
        .map(|(k, q)| Assignment {
            provider: k.provider.offer,
            consumer: k.consumer.offer,
            rtype: k.rtype,
            quantity: *q,
            price: k.price,
        })
        .collect()
}

/// The objective's coefficient of one compact column: the primary objective counts providers
/// (6.5, 6.10) or both sides' values (6.12, exact since every unit sold is bought).
fn compact_cost(ix: &Indexed, book: &Book, leg: &Leg, provider: bool) -> f64 {
    match (&ix.params.objective, provider) {
        (Objective::Quantity, true) => 1.0,
        (o @ Objective::TypeUtility { .. }, true) => {
            agora_allocation::params::weight_of(o, book.rtype) as f64
        }
        (Objective::Welfare, true) => -(leg.value as f64),
        (Objective::Welfare, false) => leg.value as f64,
        (_, false) => 0.0,
    }
}

/// The compact model: per book (type ascending) its providers' then its consumers' columns.
pub(crate) fn compact(ix: &Indexed, stage: Stage, integer: bool) -> Built<()> {
    let mut problem = RowProblem::default();
    let mut by_offer: BTreeMap<OfferId, Vec<(Col, f64)>> = BTreeMap::new();
    let mut primary = Vec::new();
    let mut cols: Vec<(Vec<Col>, Vec<Col>)> = Vec::with_capacity(ix.books.len());
    for b in &ix.books {
        let mut side = |legs: &[Leg], provider: bool| -> Vec<Col> {
            legs.iter()
                .map(|leg| {
                    let gain = compact_cost(ix, b, leg, provider);
                    let cost = match stage {
                        Stage::Primary => gain,
                        Stage::Quantity { .. } => f64::from(u8::from(provider)),
                    };
                    let y = column(&mut problem, cost, leg.quantity, integer);
                    if gain != 0.0 {
                        primary.push((y, gain));
                    }
                    by_offer
                        .entry(leg.offer)
                        .or_default()
                        .push((y, leg.weight as f64));
                    y
                })
                .collect()
        };
        let providers = side(&b.providers, true);
        let consumers = side(&b.consumers, false);
        cols.push((providers, consumers));
    }
    let decisions = problem.num_cols();
    offer_rows(&mut problem, ix, by_offer);
    primary_floor(&mut problem, stage, primary);
    for (b, (providers, consumers)) in ix.books.iter().zip(&cols) {
        let asks: Vec<u64> = b
            .providers
            .iter()
            .map(|p| p.price)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .rev()
            .collect();
        let mut previous: Option<Col> = None;
        for (j, ask) in asks.iter().enumerate() {
            let last = j + 1 == asks.len();
            // D_j = S_j − B_j: D_j − D_{j−1} − Σ y_p (ask = p_j) + Σ y_c (bid in [p_j, p_{j−1})) = 0.
            let d = if last {
                problem.add_column(0.0, 0.0..=0.0)
            } else {
                problem.add_column(0.0, f64::NEG_INFINITY..=0.0)
            };
            let mut terms = vec![(d, 1.0)];
            terms.extend(previous.map(|p| (p, -1.0)));
            let above = j.checked_sub(1).map(|i| asks[i]);
            terms.extend(
                b.providers
                    .iter()
                    .zip(providers)
                    .filter(|(p, _)| p.price == *ask)
                    .map(|(_, y)| (*y, -1.0)),
            );
            terms.extend(
                b.consumers
                    .iter()
                    .zip(consumers)
                    .filter(|(c, _)| c.price >= *ask && above.is_none_or(|a| c.price < a))
                    .map(|(_, y)| (*y, 1.0)),
            );
            problem.add_row(0.0..=0.0, terms);
            previous = Some(d);
        }
    }
    Built {
        problem,
        decisions,
        meta: (),
    }
}

/// The compact model's amounts as assignments: per type, providers by ask and consumers by bid,
/// both descending (then by offer id), paired greedily; a provider no remaining bid covers
/// (possible only after rounding down) keeps its units.
pub(crate) fn compact_assignments(ix: &Indexed, amounts: &[u64]) -> Vec<Assignment> {
    let mut assignments = Vec::new();
    let mut next = amounts.iter().copied();
    for b in &ix.books {
        let mut take = |legs: &[Leg]| -> Vec<(Leg, u64)> {
            let mut v: Vec<(Leg, u64)> = legs
                .iter()
                .map(|l| (*l, next.next().unwrap_or(0)))
                .filter(|(_, q)| *q > 0)
                .collect();
            v.sort_by_key(|(l, _)| (std::cmp::Reverse(l.price), l.offer));
            v
        };
        let providers = take(&b.providers);
        let mut consumers = take(&b.consumers).into_iter().peekable();
        for (p, mut left) in providers {
            while left > 0 {
                let Some((c, wanted)) = consumers.peek_mut() else {
                    break;
                };
                if c.price < p.price {
                    break;
                }
                let q = left.min(*wanted);
                assignments.push(Assignment {
                    provider: p.offer,
                    consumer: c.offer,
                    rtype: b.rtype,
                    quantity: q,
                    price: p.price + (c.price - p.price) / 2,
                });
                left -= q;
                *wanted -= q;
                if *wanted == 0 {
                    consumers.next();
                }
            }
        }
    }
    assignments
}
