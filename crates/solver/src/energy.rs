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

use agora_energy::{
    verify, Group, GroupId, Interval, Offer, OfferId, Side, SolutionContext, Trade,
};
use agora_types::Address;
use highs::{HighsModelStatus, RowProblem, Sense};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

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

/// How the integral answer was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrality {
    /// The LP optimum was integral.
    Lp,
    /// The MIP on the same model.
    Mip,
    /// The LP optimum rounded down and repaired.
    Repair,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnergySolution {
    pub trades: Vec<Trade>,
    /// Energy traded (eq. 2.4), as the ledger computes it.
    pub objective: u64,
    /// The LP relaxation's optimum: an upper bound on `objective`.
    pub lp_objective: f64,
    pub integrality: Integrality,
    pub variables: usize,
    pub rows: usize,
    pub solve_ms: f64,
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
    rows: usize,
}

fn in_window(t: Interval, next_final: Interval, horizon: Option<u32>) -> bool {
    t >= next_final && horizon.is_none_or(|h| t as u64 <= next_final as u64 + h as u64)
}

/// Builds the compact model; `integer` makes x and y integer (the MIP).
fn build(instance: &EnergyInstance, options: &SolveOptions, integer: bool) -> Model {
    let offers: BTreeMap<OfferId, &Offer> = instance
        .offers
        .iter()
        .filter(|o| o.open)
        .map(|o| (o.id, o))
        .collect();
    // Per interval: the best buyer price, to drop sellers nobody can buy from.
    let mut best_buy: BTreeMap<Interval, u64> = BTreeMap::new();
    let mut min_sell: BTreeMap<Interval, u64> = BTreeMap::new();
    for o in offers.values() {
        for t in o
            .intervals
            .iter()
            .filter(|t| in_window(**t, instance.next_final, options.horizon))
        {
            let (map, better): (&mut BTreeMap<Interval, u64>, fn(u64, u64) -> u64) = match o.side {
                Side::Buy => (&mut best_buy, u64::max),
                Side::Sell => (&mut min_sell, u64::min),
            };
            map.entry(*t)
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
    for o in offers.values() {
        let left = o.energy.saturating_sub(o.finalized);
        if left == 0 {
            continue;
        }
        for &t in o
            .intervals
            .iter()
            .filter(|t| in_window(**t, instance.next_final, options.horizon))
        {
            if !tradeable(o, t) {
                continue;
            }
            let i = vars.len();
            // Only sellers count in the objective: each unit traded is sold once and bought once.
            let cost = if o.side == Side::Sell { 1.0 } else { 0.0 };
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
    let mut rows = 0;
    let mut row = |problem: &mut RowProblem, lo: f64, hi: f64, terms: &[(highs::Col, f64)]| {
        problem.add_row(lo..=hi, terms);
        rows += 1;
    };
    for (id, is) in &by_offer {
        let o = offers[id];
        let terms: Vec<_> = is.iter().map(|i| (cols[*i], 1.0)).collect();
        row(
            &mut problem,
            0.0,
            o.energy.saturating_sub(o.finalized) as f64,
            &terms,
        );
    }
    let held: BTreeMap<(Address, Side, GroupId, Interval), u64> = instance
        .assets
        .iter()
        .map(|a| ((a.account, a.side, a.group, a.interval), a.energy))
        .collect();
    for (key, is) in &by_asset {
        let terms: Vec<_> = is.iter().map(|i| (cols[*i], 1.0)).collect();
        row(
            &mut problem,
            0.0,
            held.get(key).copied().unwrap_or(0) as f64,
            &terms,
        );
    }
    let groups: BTreeMap<GroupId, &Group> = instance.groups.iter().map(|g| (g.id, g)).collect();
    let group_keys: BTreeSet<(GroupId, Interval)> =
        by_group.keys().map(|(g, t, _)| (*g, *t)).collect();
    for (g, t) in group_keys {
        let (c_int, c_ext) = groups
            .get(&g)
            .map_or((0.0, 0.0), |g| (g.c_int as f64, g.c_ext as f64));
        let side = |s| by_group.get(&(g, t, s)).map(Vec::as_slice).unwrap_or(&[]);
        let sold: Vec<_> = side(Side::Sell).iter().map(|i| (cols[*i], 1.0)).collect();
        let bought: Vec<_> = side(Side::Buy).iter().map(|i| (cols[*i], 1.0)).collect();
        if !sold.is_empty() {
            row(&mut problem, 0.0, c_int, &sold);
        }
        if !bought.is_empty() {
            row(&mut problem, 0.0, c_int, &bought);
        }
        let net: Vec<_> = sold
            .iter()
            .copied()
            .chain(bought.iter().map(|(c, _)| (*c, -1.0)))
            .collect();
        row(&mut problem, -c_ext, c_ext, &net);
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
        // Buyers below every seller's price cannot trade; they were left out of the model
        // by `tradeable`, so no row is needed for them.
    }
    Model {
        problem,
        vars,
        rows,
    }
}

fn run(
    model: Model,
    options: &SolveOptions,
) -> Result<(Vec<f64>, f64, Vec<Var>, usize, HighsModelStatus), SolverError> {
    let Model {
        problem,
        vars,
        rows,
    } = model;
    let mut m = problem.optimise(Sense::Maximise);
    m.make_quiet();
    m.set_option("threads", 1);
    m.set_option("random_seed", 0);
    m.set_option("mip_rel_gap", 0.0);
    m.set_option("time_limit", options.time_limit.as_secs_f64());
    let solved = m.solve();
    let status = solved.status();
    match status {
        HighsModelStatus::Optimal | HighsModelStatus::ModelEmpty => {}
        HighsModelStatus::ReachedTimeLimit
            if solved.primal_solution_status() == highs::HighsSolutionStatus::Feasible => {}
        other => return Err(SolverError::Status(other)),
    }
    let columns = if status == HighsModelStatus::ModelEmpty {
        vec![0.0; vars.len()]
    } else {
        solved.get_solution().columns().to_vec()
    };
    let objective = if status == HighsModelStatus::ModelEmpty {
        0.0
    } else {
        solved.objective_value()
    };
    Ok((columns, objective, vars, rows, status))
}

/// Two-pointer decomposition of one interval's sales and purchases into trades.
fn decompose(offers: &BTreeMap<OfferId, Offer>, vars: &[Var], amounts: &[u64]) -> Vec<Trade> {
    let mut per_interval: BTreeMap<Interval, (Vec<(u64, OfferId, u64)>, Vec<(u64, OfferId, u64)>)> =
        BTreeMap::new();
    for (v, amount) in vars.iter().zip(amounts) {
        if *amount == 0 {
            continue;
        }
        let o = &offers[&v.offer];
        let entry = per_interval.entry(v.interval).or_default();
        let list = if o.side == Side::Sell {
            &mut entry.0
        } else {
            &mut entry.1
        };
        list.push((o.price, o.id, *amount));
    }
    let mut trades = Vec::new();
    for (t, (mut sells, mut buys)) in per_interval {
        let by_price_desc =
            |a: &(u64, OfferId, u64), b: &(u64, OfferId, u64)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        sells.sort_by(by_price_desc);
        buys.sort_by(by_price_desc);
        let mut j = 0;
        for (s_price, s_id, mut left) in sells {
            while left > 0 && j < buys.len() {
                let (b_price, b_id, b_left) = buys[j];
                if b_price < s_price {
                    break;
                }
                let e = left.min(b_left);
                trades.push(Trade {
                    sell: s_id,
                    buy: b_id,
                    interval: t,
                    energy: e,
                    price: s_price + (b_price - s_price) / 2,
                });
                left -= e;
                buys[j].2 -= e;
                if buys[j].2 == 0 {
                    j += 1;
                }
            }
        }
    }
    trades.sort_by_key(|tr| (tr.interval, tr.sell, tr.buy));
    trades
}

/// An instance indexed the way the ledger's check reads it; built once per solve.
pub struct IndexedInstance {
    pub next_final: Interval,
    pub offers: BTreeMap<OfferId, Offer>,
    pub groups: BTreeMap<GroupId, Group>,
    pub assets: BTreeMap<(Address, Side, GroupId, Interval), u64>,
}

impl EnergyInstance {
    pub fn index(&self) -> IndexedInstance {
        IndexedInstance {
            next_final: self.next_final,
            offers: self.offers.iter().map(|o| (o.id, o.clone())).collect(),
            groups: self.groups.iter().map(|g| (g.id, g.clone())).collect(),
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
    pub fn check(&self, trades: &[Trade]) -> Result<u64, agora_energy::Violation> {
        let ctx = SolutionContext {
            next_final: self.next_final,
            offers: &self.offers,
            groups: &self.groups,
            assets: &self.assets,
        };
        verify(&ctx, trades)
    }
}

/// Cuts trades until the net limits (eq. 2.7), which rounding down can break, hold again.
fn repair(index: &IndexedInstance, mut trades: Vec<Trade>) -> Result<Vec<Trade>, SolverError> {
    let offers = &index.offers;
    for _ in 0..trades.len() * 4 + 8 {
        match index.check(&trades) {
            Ok(_) => return Ok(trades),
            Err(agora_energy::Violation::ExternalLimit {
                group,
                interval,
                net,
                limit,
            }) => {
                let mut excess = net - limit;
                let sold: u64 = trades
                    .iter()
                    .filter(|t| t.interval == interval && offers[&t.sell].group == group)
                    .map(|t| t.energy)
                    .sum();
                let bought: u64 = trades
                    .iter()
                    .filter(|t| t.interval == interval && offers[&t.buy].group == group)
                    .map(|t| t.energy)
                    .sum();
                let heavy_side_is_sell = sold > bought;
                for t in trades.iter_mut().filter(|t| t.interval == interval) {
                    let o = if heavy_side_is_sell {
                        &offers[&t.sell]
                    } else {
                        &offers[&t.buy]
                    };
                    if o.group != group || excess == 0 {
                        continue;
                    }
                    let cut = excess.min(t.energy);
                    t.energy -= cut;
                    excess -= cut;
                }
                trades.retain(|t| t.energy > 0);
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(trades)
}

/// Solves an instance: an integral solution that verifies, with the LP bound next to it.
pub fn solve(
    instance: &EnergyInstance,
    options: &SolveOptions,
) -> Result<EnergySolution, SolverError> {
    let start = Instant::now();
    let (columns, lp_objective, vars, rows, _) = run(build(instance, options, false), options)?;
    let variables = columns.len();
    let xy = &columns[..vars.len()];
    let integral = xy.iter().all(|v| (v - v.round()).abs() < 1e-6);
    let (amounts, integrality): (Vec<u64>, Integrality) = if integral {
        (
            xy.iter().map(|v| v.round().max(0.0) as u64).collect(),
            Integrality::Lp,
        )
    } else {
        match run(build(instance, options, true), options) {
            Ok((mip, _, _, _, _)) => (
                mip[..vars.len()]
                    .iter()
                    .map(|v| v.round().max(0.0) as u64)
                    .collect(),
                Integrality::Mip,
            ),
            Err(_) => (
                xy.iter()
                    .map(|v| (v + 1e-9).floor().max(0.0) as u64)
                    .collect(),
                Integrality::Repair,
            ),
        }
    };
    let index = instance.index();
    let trades = repair(&index, decompose(&index.offers, &vars, &amounts))?;
    let objective = index.check(&trades)?;
    Ok(EnergySolution {
        trades,
        objective,
        lp_objective,
        integrality,
        variables,
        rows,
        solve_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// The literal pairwise LP (one variable per matchable sell offer, buy offer and interval):
/// the reference the compact model is tested against. Returns its LP optimum.
pub fn pairwise_lp_optimum(
    instance: &EnergyInstance,
    options: &SolveOptions,
) -> Result<f64, SolverError> {
    let offers: Vec<&Offer> = instance
        .offers
        .iter()
        .filter(|o| o.open && o.energy > o.finalized)
        .collect();
    let mut problem = RowProblem::default();
    let mut by_offer: BTreeMap<OfferId, Vec<highs::Col>> = BTreeMap::new();
    let mut by_asset: BTreeMap<(Address, Side, GroupId, Interval), Vec<highs::Col>> =
        BTreeMap::new();
    let mut by_group: BTreeMap<(GroupId, Interval), (Vec<highs::Col>, Vec<highs::Col>)> =
        BTreeMap::new();
    for s in offers.iter().filter(|o| o.side == Side::Sell) {
        for b in offers
            .iter()
            .filter(|o| o.side == Side::Buy && o.price >= s.price)
        {
            for &t in s.intervals.iter().filter(|t| {
                b.intervals.contains(t) && in_window(**t, instance.next_final, options.horizon)
            }) {
                let c = problem.add_column(1.0, 0.0..);
                by_offer.entry(s.id).or_default().push(c);
                by_offer.entry(b.id).or_default().push(c);
                by_asset
                    .entry((s.account, Side::Sell, s.group, t))
                    .or_default()
                    .push(c);
                by_asset
                    .entry((b.account, Side::Buy, b.group, t))
                    .or_default()
                    .push(c);
                by_group.entry((s.group, t)).or_default().0.push(c);
                by_group.entry((b.group, t)).or_default().1.push(c);
            }
        }
    }
    for (id, cs) in &by_offer {
        let o = offers
            .iter()
            .find(|o| o.id == *id)
            .map(|o| o.energy - o.finalized)
            .unwrap_or(0);
        problem.add_row(
            ..=o as f64,
            cs.iter().map(|c| (*c, 1.0)).collect::<Vec<_>>(),
        );
    }
    let held: BTreeMap<_, u64> = instance
        .assets
        .iter()
        .map(|a| ((a.account, a.side, a.group, a.interval), a.energy))
        .collect();
    for (k, cs) in &by_asset {
        problem.add_row(
            ..=held.get(k).copied().unwrap_or(0) as f64,
            cs.iter().map(|c| (*c, 1.0)).collect::<Vec<_>>(),
        );
    }
    let groups: BTreeMap<GroupId, &Group> = instance.groups.iter().map(|g| (g.id, g)).collect();
    for ((g, _), (sold, bought)) in &by_group {
        let (c_int, c_ext) = groups
            .get(g)
            .map_or((0.0, 0.0), |g| (g.c_int as f64, g.c_ext as f64));
        problem.add_row(..=c_int, sold.iter().map(|c| (*c, 1.0)).collect::<Vec<_>>());
        problem.add_row(
            ..=c_int,
            bought.iter().map(|c| (*c, 1.0)).collect::<Vec<_>>(),
        );
        // A trade within the group is both sold and bought by it: it nets out.
        let mut net: BTreeMap<usize, (highs::Col, f64)> = BTreeMap::new();
        for c in sold {
            net.entry(c.index()).or_insert((*c, 0.0)).1 += 1.0;
        }
        for c in bought {
            net.entry(c.index()).or_insert((*c, 0.0)).1 -= 1.0;
        }
        problem.add_row(
            -c_ext..=c_ext,
            net.into_values()
                .filter(|(_, v)| *v != 0.0)
                .collect::<Vec<_>>(),
        );
    }
    let (_, objective, _, _, _) = run(
        Model {
            problem,
            vars: Vec::new(),
            rows: 0,
        },
        options,
    )?;
    Ok(objective)
}
