//! Off the ledger: the whole day as one instance and its optimum, which a simulated day
//! compares with, and the module's `verify` timed as a validator runs it.

use super::price;
use crate::profiles::Profile;
use agora_energy::{Interval, Side, Trade};
use agora_solver::energy::{solve, EnergyInstance, SolveOptions};
use agora_types::Address;
use std::collections::{BTreeMap, BTreeSet};

/// Every row of every profile as an open offer at interval 0, sized to the homes' limits the
/// way the prosumer agents size them, with one group per feeder: the whole day as one instance.
pub fn day_instance(profiles: &[Profile], c_int: u64, c_ext: u64) -> EnergyInstance {
    use agora_energy::{Group, Offer};
    use agora_solver::energy::AssetHolding;
    let feeders: BTreeSet<u32> = profiles.iter().map(|p| p.feeder).collect();
    let group_of: BTreeMap<u32, u32> = feeders
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i as u32))
        .collect();
    let mut offers = Vec::new();
    let mut assets: BTreeMap<(Address, Side, u32, Interval), u64> = BTreeMap::new();
    for p in profiles {
        let mut account = [0u8; 32];
        account[..4].copy_from_slice(&p.home.to_be_bytes());
        let account = Address(account);
        let (l_prod, l_cons) = p.limits();
        let mut withdrawn: BTreeMap<(Side, Interval), u64> = BTreeMap::new();
        for (i, row) in p.rows.iter().enumerate() {
            let (side, limit, base) = if row.energy > 0 {
                (Side::Sell, l_prod, 10)
            } else {
                (Side::Buy, l_cons, 20)
            };
            let room = (row.first..=row.last)
                .map(|t| limit.saturating_sub(withdrawn.get(&(side, t)).copied().unwrap_or(0)))
                .min()
                .unwrap_or(0);
            let energy = row.energy.unsigned_abs().min(room);
            if energy == 0 {
                continue;
            }
            let group = group_of[&p.feeder];
            for t in row.first..=row.last {
                *withdrawn.entry((side, t)).or_default() += energy;
                *assets.entry((account, side, group, t)).or_default() += energy;
            }
            offers.push(Offer {
                id: offers.len() as u64,
                account,
                side,
                group,
                energy,
                intervals: (row.first..=row.last).collect(),
                price: price(base, p.home, i),
                finalized: 0,
                hold: None,
                open: true,
            });
        }
    }
    EnergyInstance {
        next_final: 0,
        offers,
        groups: feeders
            .iter()
            .map(|f| Group {
                id: group_of[f],
                feeders: vec![*f],
                c_int,
                c_ext,
            })
            .collect(),
        feeders: Vec::new(),
        assets: assets
            .into_iter()
            .map(|((account, side, group, interval), energy)| AssetHolding {
                account,
                side,
                group,
                interval,
                energy,
            })
            .collect(),
    }
}

/// The whole day solved at once with every row offered (no prediction window, no horizon):
/// the most energy the data and limits allow, for comparison with a simulated day.
pub fn offline_optimum(
    profiles: &[Profile],
    c_int: u64,
    c_ext: u64,
) -> Result<u64, agora_solver::energy::SolverError> {
    Ok(solve(
        &day_instance(profiles, c_int, c_ext),
        &SolveOptions::default(),
    )?
    .objective)
}

/// Runs the module's `verify` on `trades` as a validator would: with only the offers the
/// solution names and the assets they draw on loaded. Returns the objective and the time (ms).
pub fn verify_timed(
    instance: &EnergyInstance,
    trades: &[Trade],
) -> Result<(u64, f64), agora_energy::Violation> {
    let agora_solver::energy::IndexedInstance {
        offers,
        groups,
        feeders,
        assets,
        ..
    } = instance.index();
    let named: BTreeMap<_, _> = trades
        .iter()
        .flat_map(|t| [t.sell, t.buy])
        .filter_map(|id| offers.get(&id).map(|o| (id, o.clone())))
        .collect();
    let held: BTreeMap<_, _> = trades
        .iter()
        .flat_map(|t| [(t.sell, t.interval), (t.buy, t.interval)])
        .filter_map(|(id, i)| named.get(&id).map(|o| (o.account, o.side, o.group, i)))
        .map(|k| (k, assets.get(&k).copied().unwrap_or(0)))
        .collect();
    let ctx = agora_energy::SolutionContext {
        next_final: instance.next_final,
        offers: &named,
        groups: &groups,
        feeders: &feeders,
        assets: &held,
    };
    let start = std::time::Instant::now();
    let objective = agora_energy::verify(&ctx, trades)?.energy;
    Ok((objective, start.elapsed().as_secs_f64() * 1e3))
}
