//! `agora sim energy --replicate K --intervals A..B`: K copies of the homes, each on its own
//! copy of its feeder, trade exactly K times what the homes trade once.

mod common;

use common::*;
use std::path::Path;

fn profiles_dir() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/microgrid-102/noBattery"
    )
}

fn sim(copies: &str) -> serde_json::Value {
    agora_json(&[
        "sim",
        "energy",
        "--profiles",
        profiles_dir(),
        "--interval-ms",
        "1500",
        "--replicate",
        copies,
        "--intervals",
        "49..52",
    ])
}

fn wh(kwh: &serde_json::Value) -> i64 {
    (kwh.as_f64().unwrap() * 1000.0).round() as i64
}

#[test]
fn two_copies_trade_exactly_twice_as_much_in_the_window() {
    let (one, two) = (sim("1"), sim("2"));
    assert_eq!(
        (one["homes"].as_u64(), two["homes"].as_u64()),
        (Some(102), Some(204))
    );
    assert_eq!(
        two["feeders"].as_u64().unwrap(),
        2 * one["feeders"].as_u64().unwrap()
    );
    for s in [&one, &two] {
        let intervals: Vec<u64> = s["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["interval"].as_u64().unwrap())
            .collect();
        assert_eq!(intervals, [49, 50, 51, 52], "only the window is simulated");
    }
    // The window's optimum, solved off the ledger: the single run loses nothing.
    let profiles = agora_sim::profiles::read_profiles(Path::new(profiles_dir())).unwrap();
    let window = agora_sim::profiles::window(&profiles, 49, 52).unwrap();
    let optimum = agora_sim::energy::offline_optimum(&window, 2_500_000, 2_000_000).unwrap();
    assert!(optimum > 0);
    assert_eq!(wh(&one["total_traded_kwh"]), optimum as i64);
    assert_eq!(
        wh(&two["total_traded_kwh"]),
        2 * wh(&one["total_traded_kwh"])
    );
    for (a, b) in one["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .zip(two["intervals"].as_array().unwrap())
    {
        assert_eq!(wh(&b["traded_kwh"]), 2 * wh(&a["traded_kwh"]), "{a} {b}");
    }
}

#[test]
fn bad_windows_and_copies_are_refused() {
    for args in [
        ["--intervals", "0..3"],
        ["--intervals", "5..4"],
        ["--replicate", "0"],
    ] {
        let mut command = vec!["sim", "energy"];
        command.extend(args);
        let out = agora_output(&command);
        assert!(!out.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
}
