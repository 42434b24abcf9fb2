//! `agora sim allocation-energy` (seed 6.5.2, spec 5.2 and golden check G4): the 102 homes'
//! day on the allocation market, as a user runs it from the repository's root.

mod common;

use agora_solver::allocation::{pairwise_optimum, AllocationInstance, AllocationSolveOptions};
use common::*;
use serde_json::{json, Value};
use std::path::Path;

fn allocation_energy(args: &[&str]) -> Value {
    let mut all = vec!["sim", "allocation-energy"];
    all.extend(args);
    agora_json_in_root(&all)
}

fn intervals(summary: &Value) -> Vec<(u64, u64, u64, u64)> {
    summary["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let f = |k: &str| i[k].as_u64().unwrap();
            (
                f("interval"),
                f("offered_wh"),
                f("requested_wh"),
                f("traded_wh"),
            )
        })
        .collect()
}

/// G4: with one alternative per offer and uniform prices, the day trades Σ_t min(P_t, C_t).
#[test]
fn the_no_battery_day_trades_g4s_maximum() {
    let summary = allocation_energy(&["--profiles", "data/microgrid-102/noBattery"]);
    assert_eq!(summary["offers_posted"].as_u64(), Some(9_609));
    assert_eq!(summary["offered_wh"].as_u64(), Some(4_544_100));
    assert_eq!(summary["requested_wh"].as_u64(), Some(8_312_200));
    assert_eq!(summary["traded_wh"].as_u64(), Some(4_131_200), "{summary}");
    let rows = intervals(&summary);
    let trading: Vec<u64> = rows.iter().filter(|r| r.3 > 0).map(|r| r.0).collect();
    assert_eq!(trading, (27..=86).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r.3 == r.1.min(r.2)));
    assert_eq!(
        rows.iter().max_by_key(|r| r.3).map(|r| (r.0, r.3)),
        Some((50, 127_200))
    );
    assert!(summary["solutions"]["accepted"].as_u64().unwrap() >= 1);
}

/// Fig. 6.9: one cycle per interval, two solvers, solver 0 fails at interval 34 (08:15); every
/// interval is still traded at its optimum.
#[test]
fn per_interval_failover_loses_nothing() {
    let out = tempfile::tempdir().unwrap();
    let summary = allocation_energy(&[
        "--intervals",
        "30..38",
        "--solvers",
        "2",
        "--fail-solver-at",
        "34",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(summary["per_interval_cycles"], true);
    assert_eq!(summary["cycles"].as_u64(), Some(9));
    assert_eq!(summary["intervals_without_solution"].as_u64(), Some(0));
    let rows = intervals(&summary);
    assert_eq!(rows.len(), 9);
    assert!(
        rows.iter().all(|r| r.3 == r.1.min(r.2) && r.3 > 0),
        "{rows:?}"
    );
    let finalized_by = summary["finalized_by"].as_array().unwrap();
    assert!(finalized_by[4..].iter().all(|s| s == "solver 1 (lp)"));
    let svg = std::fs::read_to_string(out.path().join("failover.svg")).unwrap();
    assert!(svg.contains(r#"class="marker""#) && svg.contains(r#"class="segment""#));
    assert!(out.path().join("energy.svg").exists());
}

/// G4's held-out withBattery value: the pairwise MILP (solved directly, not through the
/// platform's flow, daemon and ledger) of every row of the data as an offer.
fn with_battery_optimum() -> f64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/microgrid-102/withBattery");
    let profiles = agora_sim::profiles::read_profiles(&dir).unwrap();
    let offers: Vec<Value> = profiles
        .iter()
        .flat_map(|p| p.rows.iter().filter(|r| r.energy != 0))
        .enumerate()
        .map(|(id, r)| {
            let side = if r.energy > 0 { "provide" } else { "consume" };
            let alternatives: Vec<Value> = (r.first..=r.last)
                .map(|t| json!({"rtype": t, "quantity": r.energy.unsigned_abs(), "value": 10}))
                .collect();
            json!({"id": id, "side": side, "alternatives": alternatives})
        })
        .collect();
    let instance: AllocationInstance = serde_json::from_value(json!({ "offers": offers })).unwrap();
    pairwise_optimum(&instance, &AllocationSolveOptions::default()).unwrap()
}

#[test]
fn the_battery_day_trades_the_independent_optimum() {
    let summary = allocation_energy(&["--profiles", "data/microgrid-102/withBattery"]);
    assert_eq!(summary["offers_posted"].as_u64(), Some(9_638));
    let traded = summary["traded_wh"].as_u64().unwrap();
    assert_eq!(traded as f64, with_battery_optimum(), "{summary}");
    // Batteries move energy between intervals: more than the no-battery day's 4,131,200 Wh.
    assert!(traded > 4_131_200);
}
