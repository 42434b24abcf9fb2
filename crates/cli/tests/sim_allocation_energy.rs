//! `agora sim allocation-energy` (seed 6.5.2, spec 5.2 and golden check G4): the 102 homes'
//! day on the allocation market, as a user runs it from the repository's root.

mod common;

use common::*;
use serde_json::Value;

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
