//! The literal pairwise model of eq. 2.8-2.15: the reference the compact model is tested
//! against, too large to solve in production.

use super::{in_window, run, EnergyInstance, Model, SolveOptions, SolverError};
use agora_energy::{Group, GroupId, Interval, Offer, OfferId, Side};
use agora_types::Address;
use highs::RowProblem;
use std::collections::BTreeMap;

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
    let (_, objective) = run(
        Model {
            problem,
            vars: Vec::new(),
        },
        options,
    )?;
    Ok(objective)
}
