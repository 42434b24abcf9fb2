//! `agora sim energy experiment 1|2|3`: the seed's experiments with tiny parameters, as a user
//! runs them; each writes its table (CSV, JSON) and figures.

mod common;

use common::*;
use std::path::Path;

fn profiles_dir() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/microgrid-102/noBattery"
    )
}

/// Runs experiment `n` over `intervals` with `extra` options; checks the files it wrote and
/// returns its rows.
fn experiment(n: &str, intervals: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "sim",
        "energy",
        "experiment",
        n,
        "--profiles",
        profiles_dir(),
        "--interval-ms",
        "500",
        "--intervals",
        intervals,
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend(extra);
    let report = agora_json(&args);
    let rows = report["rows"].as_array().unwrap().clone();
    let dir = out.path();
    let csv = std::fs::read_to_string(dir.join(format!("experiment{n}.csv"))).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1, "{csv}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("experiment{n}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(json["rows"].as_array().unwrap(), &rows);
    let svgs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    assert!(!svgs.is_empty());
    for svg in svgs {
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<polyline"), "{}", svg.display());
    }
    rows
}

fn f(row: &serde_json::Value, column: &str) -> f64 {
    row[column]
        .as_f64()
        .unwrap_or_else(|| panic!("{column} in {row}"))
}

#[test]
fn experiment_1_reports_each_horizon() {
    let rows = experiment("1", "52..55", &["--horizons", "0,3"]);
    let horizons: Vec<f64> = rows.iter().map(|r| f(r, "horizon")).collect();
    assert_eq!(horizons, [0.0, 3.0]);
    for r in &rows {
        assert!(
            f(r, "traded_kwh") > 0.0 && f(r, "lp_variables") > 0.0,
            "{r}"
        );
    }
}

/// Around noon the homes produce more than they consume: the load without trading is
/// negative and stays so; batteries deliver their trades and store unsold surplus, and the
/// net load with trading moves by exactly that.
#[test]
fn experiment_2_keeps_negative_load_and_accounts_for_batteries() {
    let rows = experiment("2", "60..72", &[]);
    assert_eq!(rows.len(), 13);
    assert!(rows[..8]
        .iter()
        .all(|r| f(r, "net_load_without_trading_kwh") < 0.0));
    let batteries = 5.0; // the producers of the microgrid
    let mut charge = 7.0; // they start half full
    for r in &rows {
        let (delivered, stored) = (f(r, "battery_delivered_kwh"), f(r, "battery_stored_kwh"));
        let moved = f(r, "net_load_kwh") - f(r, "net_load_without_trading_kwh");
        assert!((moved - (stored - delivered)).abs() < 1e-6, "{r}");
        charge += (stored - delivered) / batteries;
        assert!((f(r, "battery_charge_kwh") - charge).abs() < 1e-6, "{r}");
        assert!((0.0..=14.0).contains(&charge), "{r}");
        assert!(delivered <= batteries * 1.875 + 1e-9 && stored <= batteries * 1.875 + 1e-9);
    }
    let delivered: f64 = rows.iter().map(|r| f(r, "battery_delivered_kwh")).sum();
    assert!(
        delivered > 0.0,
        "the evening's demand takes the batteries' energy"
    );
}

#[test]
fn experiment_3_difference_grows_with_the_error() {
    let rows = experiment("3", "50..53", &["--errors", "0,35", "--days", "2"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(f(&rows[0], "mean_difference_kwh"), 0.0, "exact predictions");
    assert_eq!(f(&rows[0], "std_difference_kwh"), 0.0);
    assert!(f(&rows[1], "std_difference_kwh") > 0.0, "{}", rows[1]);
    assert_eq!(f(&rows[1], "days"), 2.0);
}

#[test]
fn unknown_experiments_are_refused() {
    let out = agora_output(&["sim", "energy", "experiment", "4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("4"));
    assert!(Path::new(profiles_dir()).is_dir());
}
