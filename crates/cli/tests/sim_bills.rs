//! `agora sim energy --out DIR` writes every home's bill as the ledger settled it.

mod common;

use common::*;
use std::{collections::BTreeSet, path::Path};

#[test]
fn every_home_gets_a_bill_in_bills_csv() {
    let profiles = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/microgrid-102/noBattery"
    ));
    let out = tempfile::tempdir().unwrap();
    let summary = agora_json(&[
        "sim",
        "energy",
        "--profiles",
        profiles.to_str().unwrap(),
        "--interval-ms",
        "300",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(out.path().join("bills.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("home,meter,cycle,first_interval,intervals,residual_wh,shortfall_wh,amount")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let homes: BTreeSet<&str> = rows.iter().map(|r| r[0]).collect();
    let meters: BTreeSet<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!((rows.len(), homes.len(), meters.len()), (102, 102, 102));
    let amount = |r: &Vec<&str>| r[7].parse::<i64>().unwrap();
    assert_eq!(
        rows.iter().map(amount).sum::<i64>(),
        summary["total_billed"].as_i64().unwrap()
    );
    // Every home deposits all it withdrew, so no bill has a shortfall.
    assert!(rows.iter().all(|r| r[2] == "0" && r[6] == "0"));
    // Homes that only consume and trade nothing pay the DSO's price for all of it.
    assert!(rows
        .iter()
        .any(|r| r[5].parse::<i64>().unwrap() < 0 && amount(r) > 0));
}
