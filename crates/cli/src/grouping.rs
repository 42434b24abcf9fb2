//! `agora analyze grouping`: is a grouping of feeders safe, what does it cost, and what does it
//! reveal (section 2.8.2 and Example 2 of the seed)?

use crate::output::Output;
use agora_energy::grouping::{
    anonymity_threshold, grouping_cost, least_traded, safe_group_limit, FeederLoad,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

#[derive(Deserialize)]
struct Input {
    feeders: Vec<Feeder>,
    groups: Vec<GroupSpec>,
}

#[derive(Deserialize)]
struct Feeder {
    id: u32,
    /// C^i_f and C^e_f, Wh per interval.
    c_int: u64,
    c_ext: u64,
    /// Each prosumer's production and consumption limits L⁺, L⁻ (Wh per interval).
    prosumers: Vec<Limits>,
}

#[derive(Deserialize)]
struct Limits {
    l_prod: u64,
    l_cons: u64,
}

#[derive(Deserialize)]
struct GroupSpec {
    feeders: Vec<u32>,
    c_int: u64,
    c_ext: u64,
    /// The group's potential sales and purchases in an interval, for the cost (eq. 2.18).
    #[serde(default)]
    sell: u64,
    #[serde(default)]
    buy: u64,
}

#[derive(Serialize)]
struct GroupReport {
    feeders: Vec<u32>,
    safe: bool,
    /// The largest safe internal and external limits (eq. 2.17, 2.19).
    safe_c_int: u64,
    safe_c_ext: u64,
    /// Tradeable energy the internal limit removes (eq. 2.18).
    cost: u64,
    /// Largest total the group can sell (buy) before an observer learns that a member trades.
    anonymity_threshold_sell: u64,
    anonymity_threshold_buy: u64,
    /// What an observer learns when the group sells at its limit: the least each member sold.
    least_sold_at_limit: Vec<u64>,
}

pub fn run(input: &Path, out: &Output) -> Result<()> {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let input: Input = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a grouping description", input.display()))?;
    let feeders: BTreeMap<u32, &Feeder> = input.feeders.iter().map(|f| (f.id, f)).collect();
    let mut reports = Vec::new();
    for g in &input.groups {
        let mut members = Vec::new();
        for id in &g.feeders {
            let Some(f) = feeders.get(id) else {
                bail!("group names unknown feeder {id}")
            };
            members.push(*f);
        }
        let load = |f: &Feeder, limit: u64| FeederLoad {
            limit,
            prosumer_limits: f
                .prosumers
                .iter()
                .map(|p| p.l_prod)
                .sum::<u64>()
                .max(f.prosumers.iter().map(|p| p.l_cons).sum()),
        };
        let safe_c_int = safe_group_limit(members.iter().map(|f| load(f, f.c_int)));
        let safe_c_ext = safe_group_limit(members.iter().map(|f| load(f, f.c_ext)));
        let sells: Vec<u64> = members
            .iter()
            .flat_map(|f| f.prosumers.iter().map(|p| p.l_prod))
            .collect();
        let buys: Vec<u64> = members
            .iter()
            .flat_map(|f| f.prosumers.iter().map(|p| p.l_cons))
            .collect();
        let at_limit = g.c_int.min(sells.iter().sum());
        reports.push(GroupReport {
            feeders: g.feeders.clone(),
            safe: g.c_int <= safe_c_int && g.c_ext <= safe_c_ext,
            safe_c_int,
            safe_c_ext,
            cost: grouping_cost(g.sell, g.buy, g.c_int),
            anonymity_threshold_sell: anonymity_threshold(&sells),
            anonymity_threshold_buy: anonymity_threshold(&buys),
            least_sold_at_limit: least_traded(&sells, at_limit),
        });
    }
    out.print(&reports, || {
        reports
            .iter()
            .map(|r| {
                format!(
                    "group {:?}: {} (safe limits {}/{} Wh), cost {} Wh, anonymous up to {} Wh sold / {} Wh bought",
                    r.feeders,
                    if r.safe { "safe" } else { "UNSAFE" },
                    r.safe_c_int,
                    r.safe_c_ext,
                    r.cost,
                    r.anonymity_threshold_sell,
                    r.anonymity_threshold_buy
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
