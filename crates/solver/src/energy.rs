//! The TRANSAX energy trading problem (eq. 2.8-2.15) as a compact linear program.
//!
//! # Formulation
//!
//! The literal model has one variable ε_{s,b,t} per matchable sell offer, buy offer and
//! interval: about 290,000 at 1,000 prosumers. This one has one variable per offer and
//! interval, x_{s,t} (sold by s in t) and y_{b,t} (bought by b in t), and recovers the trades
//! afterwards:
//!
//! - offers (eq. 2.2): Σ_t x_{s,t} <= E_s - finalized_s, likewise for y;
//! - assets (eq. 2.5): per account, side, group and t, the offers' sum <= the assets held;
//! - groups (eq. 2.6, 2.7): per group and t, Σ x <= C^i, Σ y <= C^i, |Σ x - Σ y| <= C^e;
//! - matchability and prices (eq. 2.1, 2.3) through **price levels**: in each interval a seller
//!   at price R can only sell to buyers at R_b >= R, so with p_1 > p_2 > ... the distinct
//!   sellers' prices, what sellers at >= p_j sell is at most what buyers at >= p_j buy, and all
//!   sold is bought. By Hall's theorem this is exactly the condition for a trade matrix ε with
//!   these row and column sums to exist on matchable pairs only. Cumulative sums S_j and B_j
//!   keep the model linear in size;
//! - planning horizon (eq. 2.15): intervals beyond `next_final + horizon` get no variables.
//!
//! Objective: the energy traded (eq. 2.13). Trades come from a two-pointer decomposition per
//! interval: sellers and buyers both in decreasing price; the price-level condition guarantees
//! every pair it forms is matchable. Each trade's price is the midpoint of the two reservation
//! prices, rounded down (see `agora_energy`'s crate docs).
//!
//! # Integral answers
//!
//! Energy on the ledger is whole Wh. LP optima of these instances are often fractional, and
//! rounding them breaks the net limit (eq. 2.7) first. The solver solves the LP; if its optimum
//! is integral it is used as is, otherwise the same model is solved as a MIP (x, y integer,
//! `mip_rel_gap = 0`). If the MIP stops at its time limit, its best integral point is used;
//! without one, the LP optimum is rounded down and repaired (trades on the heavy side of an
//! over-limit group are cut) until it verifies. Every answer is checked with the ledger's own
//! [`agora_energy::verify`] before it is returned.
//!
//! HiGHS runs on one thread with a fixed seed and the model is built in a fixed order
//! (offers by id, intervals ascending), so the same instance gives the same answer.

use crate::lp::{self, Built};
use agora_energy::{
    clearing::{self, Amount},
    verify, FeederId, FeederLimits, Group, GroupId, Interval, Offer, OfferId, Score, Side,
    SolutionContext, Trade,
};
use agora_types::Address;
use highs::{HighsModelStatus, RowProblem};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

mod pairwise;
pub use crate::lp::Integrality;
pub use pairwise::pairwise_lp_optimum;

/// Assets an account holds (eq. 2.5's bound).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetHolding {
    pub account: Address,
    pub side: Side,
    pub group: GroupId,
    pub interval: Interval,
    pub energy: u64,
}

/// One instance of the problem: the open part of a market (the JSON input of
/// `agora solve energy`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EnergyInstance {
    /// t_f: the first interval a solution may trade in.
    pub next_final: Interval,
    /// Open offers; `finalized` is their energy in final trades.
    pub offers: Vec<Offer>,
    pub groups: Vec<Group>,
    /// Every feeder's limits (the feeder check of [`agora_energy::verify`]). Absent, each
    /// single-feeder group stands for its feeder with unbounded prosumer limits.
    #[serde(default)]
    pub feeders: Vec<FeederLimits>,
    pub assets: Vec<AssetHolding>,
}

#[derive(Clone, Debug)]
pub struct SolveOptions {
    /// T_h: intervals considered beyond `next_final` (eq. 2.15); `None`: all.
    pub horizon: Option<u32>,
    /// Time limit of each HiGHS run.
    pub time_limit: Duration,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            horizon: None,
            time_limit: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnergySolution {
    pub trades: Vec<Trade>,
    /// Energy traded (eq. 2.4), as the ledger computes it.
    pub objective: u64,
    /// Gains from trade, Σ ε·(R_b - R_s), the ledger's second criterion.
    pub gains: u128,
    /// The LP relaxation's optimum: an upper bound on `objective`.
    pub lp_objective: f64,
    pub integrality: Integrality,
    pub variables: usize,
    pub rows: usize,
    pub solve_ms: f64,
}

impl EnergySolution {
    /// How the ledger ranks this solution.
    pub fn score(&self) -> Score {
        Score {
            energy: self.objective,
            gains: self.gains,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SolverError {
    #[error("HiGHS stopped with status {0:?}")]
    Status(HighsModelStatus),
    #[error("the solution does not verify: {0}")]
    Unverified(#[from] agora_energy::Violation),
}

/// A column of the model: offer `offer` trading in `interval`.
#[derive(Clone, Copy)]
struct Var {
    offer: OfferId,
    interval: Interval,
}

struct Model {
    problem: RowProblem,
    /// The x and y columns, which come first in `problem`; auxiliary columns follow.
    vars: Vec<Var>,
}

/// What the model maximizes: the ledger's ranking ([`agora_energy::clearing`]) in two stages.
#[derive(Clone, Copy)]
enum Objective {
    /// Eq. 2.13: the energy traded.
    Energy,
    /// The gains from trade, Σ R_b·y - Σ R_s·x, among solutions trading at least this energy.
    Gains { energy: u64 },
}

fn in_window(t: Interval, next_final: Interval, horizon: Option<u32>) -> bool {
    t >= next_final && horizon.is_none_or(|h| t as u64 <= next_final as u64 + h as u64)
}

/// Builds the compact model; `integer` makes x and y integer (the MIP).
fn build(
    instance: &EnergyInstance,
    options: &SolveOptions,
    objective: Objective,
    integer: bool,
) -> Model {
    let offers: BTreeMap<OfferId, &Offer> = instance
        .offers
        .iter()
        .filter(|o| o.open)
        .map(|o| (o.id, o))
        .collect();
    // The (offer, interval) pairs that can still trade: the offer has energy left and the
    // interval is in the window.
    let live = |o: &Offer| o.energy > o.finalized;
    let window = |o: &Offer| {
        o.intervals
            .iter()
            .copied()
            .filter(|t| in_window(*t, instance.next_final, options.horizon))
            .collect::<Vec<_>>()
    };
    // Per interval, the best live buyer and the cheapest live seller. A seller is modelled only
    // if a live buyer pays its price, a buyer only if a live seller asks no more than its
    // price; so every modelled buyer sits at or above the lowest price level, which bounds it.
    let mut best_buy: BTreeMap<Interval, u64> = BTreeMap::new();
    let mut min_sell: BTreeMap<Interval, u64> = BTreeMap::new();
    for o in offers.values().copied().filter(|o| live(o)) {
        for t in window(o) {
            let (map, better): (&mut BTreeMap<Interval, u64>, fn(u64, u64) -> u64) = match o.side {
                Side::Buy => (&mut best_buy, u64::max),
                Side::Sell => (&mut min_sell, u64::min),
            };
            map.entry(t)
                .and_modify(|p| *p = better(*p, o.price))
                .or_insert(o.price);
        }
    }
    let tradeable = |o: &Offer, t: Interval| match o.side {
        Side::Sell => best_buy.get(&t).is_some_and(|p| *p >= o.price),
        Side::Buy => min_sell.get(&t).is_some_and(|p| *p <= o.price),
    };

    let mut problem = RowProblem::default();
    let mut vars = Vec::new();
    let mut cols = Vec::new();
    let mut by_offer: BTreeMap<OfferId, Vec<usize>> = BTreeMap::new();
    let mut by_asset: BTreeMap<(Address, Side, GroupId, Interval), Vec<usize>> = BTreeMap::new();
    let mut by_group: BTreeMap<(GroupId, Interval, Side), Vec<usize>> = BTreeMap::new();
    let mut by_interval: BTreeMap<Interval, Vec<usize>> = BTreeMap::new();
    for o in offers.values().copied().filter(|o| live(o)) {
        let left = o.energy - o.finalized;
        for t in window(o) {
            if !tradeable(o, t) {
                continue;
            }
            let i = vars.len();
            let cost = match (objective, o.side) {
                // Only sellers count: each unit traded is sold once and bought once.
                (Objective::Energy, Side::Sell) => 1.0,
                (Objective::Energy, Side::Buy) => 0.0,
                (Objective::Gains { .. }, Side::Sell) => -(o.price as f64),
                (Objective::Gains { .. }, Side::Buy) => o.price as f64,
            };
            let col = if integer {
                problem.add_integer_column(cost, 0.0..=left as f64)
            } else {
                problem.add_column(cost, 0.0..=left as f64)
            };
            cols.push(col);
            vars.push(Var {
                offer: o.id,
                interval: t,
            });
            by_offer.entry(o.id).or_default().push(i);
            by_asset
                .entry((o.account, o.side, o.group, t))
                .or_default()
                .push(i);
            by_group.entry((o.group, t, o.side)).or_default().push(i);
            by_interval.entry(t).or_default().push(i);
        }
    }
    let row = |problem: &mut RowProblem, lo: f64, hi: f64, terms: &[(highs::Col, f64)]| {
        problem.add_row(lo..=hi, terms);
    };
    let terms = |is: &[usize], coef: f64| -> Vec<(highs::Col, f64)> {
        is.iter().map(|i| (cols[*i], coef)).collect()
    };
    if let Objective::Gains { energy } = objective {
        let sold: Vec<usize> = (0..vars.len())
            .filter(|i| offers[&vars[*i].offer].side == Side::Sell)
            .collect();
        row(
            &mut problem,
            energy as f64,
            f64::INFINITY,
            &terms(&sold, 1.0),
        );
    }
    for (id, is) in &by_offer {
        let o = offers[id];
        row(
            &mut problem,
            0.0,
            (o.energy - o.finalized) as f64,
            &terms(is, 1.0),
        );
    }
    let held: BTreeMap<(Address, Side, GroupId, Interval), u64> = instance
        .assets
        .iter()
        .map(|a| ((a.account, a.side, a.group, a.interval), a.energy))
        .collect();
    for (key, is) in &by_asset {
        let limit = held.get(key).copied().unwrap_or(0) as f64;
        row(&mut problem, 0.0, limit, &terms(is, 1.0));
    }
    let groups: BTreeMap<GroupId, &Group> = instance.groups.iter().map(|g| (g.id, g)).collect();
    let side = |g: GroupId, t: Interval, s: Side| -> &[usize] {
        by_group.get(&(g, t, s)).map(Vec::as_slice).unwrap_or(&[])
    };
    let group_keys: BTreeSet<(GroupId, Interval)> =
        by_group.keys().map(|(g, t, _)| (*g, *t)).collect();
    for &(g, t) in &group_keys {
        let (c_int, c_ext) = groups
            .get(&g)
            .map_or((0.0, 0.0), |g| (g.c_int as f64, g.c_ext as f64));
        let (sold, bought) = (side(g, t, Side::Sell), side(g, t, Side::Buy));
        if !sold.is_empty() {
            row(&mut problem, 0.0, c_int, &terms(sold, 1.0));
        }
        if !bought.is_empty() {
            row(&mut problem, 0.0, c_int, &terms(bought, 1.0));
        }
        let net: Vec<_> = terms(sold, 1.0)
            .into_iter()
            .chain(terms(bought, -1.0))
            .collect();
        row(&mut problem, -c_ext, c_ext, &net);
    }
    // Feeders in privacy groups: the ledger's worst-case attribution (see `agora_energy::verify`),
    // made linear by dropping the prosumer-limit minimum where it could bind, which only
    // tightens it. A feeder in no privacy group is exactly its own group, already modelled.
    for f in feeders(instance).values() {
        let containing: Vec<GroupId> = groups
            .values()
            .filter(|g| g.feeders.contains(&f.feeder))
            .map(|g| g.id)
            .collect();
        if containing.iter().all(|g| *g == f.own_group) {
            continue;
        }
        let intervals: BTreeSet<Interval> = group_keys
            .iter()
            .filter(|(g, _)| containing.contains(g))
            .map(|(_, t)| *t)
            .collect();
        for t in intervals {
            let any = |s: Side| -> Vec<usize> {
                containing
                    .iter()
                    .flat_map(|g| side(*g, t, s))
                    .copied()
                    .collect()
            };
            let (any_sold, any_bought) = (any(Side::Sell), any(Side::Buy));
            let (own_sold, own_bought) = (
                side(f.own_group, t, Side::Sell),
                side(f.own_group, t, Side::Buy),
            );
            let (c_int, c_ext) = (f.c_int as f64, f.c_ext as f64);
            if f.l_prod > f.c_int {
                row(&mut problem, 0.0, c_int, &terms(&any_sold, 1.0));
            }
            if f.l_cons > f.c_int {
                row(&mut problem, 0.0, c_int, &terms(&any_bought, 1.0));
            }
            if f.l_prod > f.c_ext {
                let net: Vec<_> = terms(&any_sold, 1.0)
                    .into_iter()
                    .chain(terms(own_bought, -1.0))
                    .collect();
                row(&mut problem, f64::NEG_INFINITY, c_ext, &net);
            }
            if f.l_cons > f.c_ext {
                let net: Vec<_> = terms(&any_bought, 1.0)
                    .into_iter()
                    .chain(terms(own_sold, -1.0))
                    .collect();
                row(&mut problem, f64::NEG_INFINITY, c_ext, &net);
            }
        }
    }
    // Price levels per interval, with cumulative sums S_j (sold at >= p_j) and B_j (bought at >= p_j).
    for is in by_interval.values() {
        let mut levels: Vec<u64> = is
            .iter()
            .filter(|i| offers[&vars[**i].offer].side == Side::Sell)
            .map(|i| offers[&vars[*i].offer].price)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        levels.reverse();
        let mut previous: Option<(highs::Col, highs::Col)> = None;
        for (j, p) in levels.iter().enumerate() {
            let upper = if j == 0 { u64::MAX } else { levels[j - 1] };
            let s = problem.add_column(0.0, 0.0..);
            let b = problem.add_column(0.0, 0.0..);
            // S_j = S_{j-1} + Σ x of sellers at p_j ; B_j = B_{j-1} + Σ y of buyers in [p_j, p_{j-1}).
            let mut s_terms = vec![(s, -1.0)];
            let mut b_terms = vec![(b, -1.0)];
            if let Some((ps, pb)) = previous {
                s_terms.push((ps, 1.0));
                b_terms.push((pb, 1.0));
            }
            for i in is {
                let o = offers[&vars[*i].offer];
                match o.side {
                    Side::Sell if o.price == *p => s_terms.push((cols[*i], 1.0)),
                    Side::Buy if o.price >= *p && (j == 0 || o.price < upper) => {
                        b_terms.push((cols[*i], 1.0))
                    }
                    _ => {}
                }
            }
            row(&mut problem, 0.0, 0.0, &s_terms);
            row(&mut problem, 0.0, 0.0, &b_terms);
            // Sellers at >= p_j sell no more than buyers at >= p_j buy; at the last level, exactly.
            let last = j + 1 == levels.len();
            row(
                &mut problem,
                if last { 0.0 } else { f64::NEG_INFINITY },
                0.0,
                &[(s, 1.0), (b, -1.0)],
            );
            previous = Some((s, b));
        }
        // Buyers below every modelled seller's price cannot trade; `tradeable` left them out
        // of the model, so no row is needed for them.
    }
    Model { problem, vars }
}

/// The model's LP optimum (columns and objective).
fn run(model: Model, options: &SolveOptions) -> Result<(Vec<f64>, f64), SolverError> {
    let optimum = lp::maximise(model.problem, options.time_limit).map_err(SolverError::Status)?;
    Ok((optimum.columns, optimum.objective))
}

/// Trades for per-offer amounts, paired and priced by the ledger's clearing rule; energy the
/// rule cannot pair (after rounding) is left out.
fn pair_amounts(
    offers: &BTreeMap<OfferId, Offer>,
    amounts: impl IntoIterator<Item = (OfferId, Interval, u64)>,
) -> Vec<Trade> {
    let mut per_interval: BTreeMap<Interval, BTreeMap<OfferId, u64>> = BTreeMap::new();
    for (offer, interval, energy) in amounts {
        *per_interval
            .entry(interval)
            .or_default()
            .entry(offer)
            .or_default() += energy;
    }
    let mut trades = Vec::new();
    for (t, amounts) in per_interval {
        let (sells, buys): (Vec<Amount>, Vec<Amount>) = amounts
            .into_iter()
            .map(|(offer, energy)| Amount {
                offer,
                price: offers[&offer].price,
                energy,
            })
            .partition(|a| offers[&a.offer].side == Side::Sell);
        trades.extend(clearing::pair_greedily(t, sells, buys).0);
    }
    trades
}

/// The model's amounts as trades.
fn decompose(offers: &BTreeMap<OfferId, Offer>, vars: &[Var], amounts: &[u64]) -> Vec<Trade> {
    pair_amounts(
        offers,
        vars.iter()
            .zip(amounts)
            .map(|(v, amount)| (v.offer, v.interval, *amount)),
    )
}

/// Trades re-paired by the rule after some were cut: the same amounts per offer.
fn repaired(offers: &BTreeMap<OfferId, Offer>, trades: &[Trade]) -> Vec<Trade> {
    pair_amounts(
        offers,
        trades.iter().flat_map(|t| {
            [
                (t.sell, t.interval, t.energy),
                (t.buy, t.interval, t.energy),
            ]
        }),
    )
}

/// An instance indexed the way the ledger's check reads it; built once per solve.
pub struct IndexedInstance {
    pub next_final: Interval,
    pub offers: BTreeMap<OfferId, Offer>,
    pub groups: BTreeMap<GroupId, Group>,
    pub feeders: BTreeMap<FeederId, FeederLimits>,
    pub assets: BTreeMap<(Address, Side, GroupId, Interval), u64>,
}

/// The instance's feeders, or (absent) its single-feeder groups with unbounded prosumer limits.
fn feeders(instance: &EnergyInstance) -> BTreeMap<FeederId, FeederLimits> {
    if !instance.feeders.is_empty() {
        return instance.feeders.iter().map(|f| (f.feeder, *f)).collect();
    }
    instance
        .groups
        .iter()
        .filter_map(|g| match g.feeders[..] {
            [feeder] => Some((
                feeder,
                FeederLimits {
                    feeder,
                    own_group: g.id,
                    c_int: g.c_int,
                    c_ext: g.c_ext,
                    l_prod: u64::MAX,
                    l_cons: u64::MAX,
                },
            )),
            _ => None,
        })
        .collect()
}

impl EnergyInstance {
    pub fn index(&self) -> IndexedInstance {
        IndexedInstance {
            next_final: self.next_final,
            offers: self.offers.iter().map(|o| (o.id, o.clone())).collect(),
            groups: self.groups.iter().map(|g| (g.id, g.clone())).collect(),
            feeders: feeders(self),
            assets: self
                .assets
                .iter()
                .map(|a| ((a.account, a.side, a.group, a.interval), a.energy))
                .collect(),
        }
    }
}

impl IndexedInstance {
    /// The ledger's own check ([`agora_energy::verify`]) of `trades` against this instance.
    pub fn check(&self, trades: &[Trade]) -> Result<Score, agora_energy::Violation> {
        let ctx = SolutionContext {
            next_final: self.next_final,
            offers: &self.offers,
            groups: &self.groups,
            feeders: &self.feeders,
            assets: &self.assets,
        };
        verify(&ctx, trades)
    }
}

/// Cuts trades on the heavy side of `groups` in `interval` by `excess`.
fn cut(
    offers: &BTreeMap<OfferId, Offer>,
    trades: &mut [Trade],
    interval: Interval,
    groups: &[GroupId],
    side: Side,
    mut excess: u64,
) {
    for t in trades.iter_mut().filter(|t| t.interval == interval) {
        let id = if side == Side::Sell { t.sell } else { t.buy };
        if excess == 0 || !groups.contains(&offers[&id].group) {
            continue;
        }
        let cut = excess.min(t.energy);
        t.energy -= cut;
        excess -= cut;
    }
}

/// Cuts trades until the net limits (eq. 2.7, of groups and of feeders), which rounding down
/// can break, hold again; the rest is re-paired by the clearing rule.
fn repair(index: &IndexedInstance, mut trades: Vec<Trade>) -> Result<Vec<Trade>, SolverError> {
    let offers = &index.offers;
    let flow = |trades: &[Trade], interval: Interval, groups: &[GroupId], side: Side| -> u64 {
        trades
            .iter()
            .filter(|t| t.interval == interval)
            .filter(|t| {
                let id = if side == Side::Sell { t.sell } else { t.buy };
                groups.contains(&offers[&id].group)
            })
            .map(|t| t.energy)
            .sum()
    };
    for _ in 0..trades.len() * 4 + 8 {
        match index.check(&trades) {
            Ok(_) => return Ok(trades),
            Err(agora_energy::Violation::ExternalLimit {
                group,
                interval,
                net,
                limit,
            }) => {
                let heavy = if flow(&trades, interval, &[group], Side::Sell)
                    > flow(&trades, interval, &[group], Side::Buy)
                {
                    Side::Sell
                } else {
                    Side::Buy
                };
                cut(offers, &mut trades, interval, &[group], heavy, net - limit);
            }
            Err(agora_energy::Violation::FeederExternalLimit {
                feeder,
                interval,
                net,
                limit,
            }) => {
                let containing: Vec<GroupId> = index
                    .groups
                    .values()
                    .filter(|g| g.feeders.contains(&feeder))
                    .map(|g| g.id)
                    .collect();
                let own = index
                    .feeders
                    .get(&feeder)
                    .map(|f| vec![f.own_group])
                    .unwrap_or_default();
                let export = flow(&trades, interval, &containing, Side::Sell).saturating_sub(flow(
                    &trades,
                    interval,
                    &own,
                    Side::Buy,
                ));
                let import = flow(&trades, interval, &containing, Side::Buy).saturating_sub(flow(
                    &trades,
                    interval,
                    &own,
                    Side::Sell,
                ));
                let heavy = if export >= import {
                    Side::Sell
                } else {
                    Side::Buy
                };
                cut(
                    offers,
                    &mut trades,
                    interval,
                    &containing,
                    heavy,
                    net - limit,
                );
            }
            Err(other) => return Err(other.into()),
        }
        trades = repaired(offers, &trades);
    }
    Ok(trades)
}

/// An integral point of the model (see [`lp::integral_point`]); its `meta` are the columns.
fn integral_point(
    instance: &EnergyInstance,
    options: &SolveOptions,
    objective: Objective,
) -> Result<lp::Point<Vec<Var>>, SolverError> {
    lp::integral_point(
        |integer| {
            let model = build(instance, options, objective, integer);
            Built {
                problem: model.problem,
                decisions: model.vars.len(),
                meta: model.vars,
            }
        },
        options.time_limit,
    )
    .map_err(SolverError::Status)
}

/// Solves an instance: an integral solution that verifies, ranked as the ledger ranks
/// ([`agora_energy::clearing`]): the most energy, then, among solutions trading that much, the
/// most gains from trade. The LP bound on energy comes with it.
pub fn solve(
    instance: &EnergyInstance,
    options: &SolveOptions,
) -> Result<EnergySolution, SolverError> {
    let start = Instant::now();
    let index = instance.index();
    let first = integral_point(instance, options, Objective::Energy)?;
    let mut trades = repair(
        &index,
        decompose(&index.offers, &first.meta, &first.amounts),
    )?;
    let mut score = index.check(&trades)?;
    if score.energy > 0 {
        // Second stage; kept only if it verifies and ranks higher (it may fail to be integral).
        let second = integral_point(
            instance,
            options,
            Objective::Gains {
                energy: score.energy,
            },
        );
        if let Some(second) = second.ok().filter(|p| p.integrality != Integrality::Repair) {
            let better = decompose(&index.offers, &second.meta, &second.amounts);
            if let Ok(s) = index.check(&better) {
                if s > score {
                    (trades, score) = (better, s);
                }
            }
        }
    }
    Ok(EnergySolution {
        trades,
        objective: score.energy,
        gains: score.gains,
        lp_objective: first.lp_objective,
        integrality: first.integrality,
        variables: first.variables,
        rows: first.rows,
        solve_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}
