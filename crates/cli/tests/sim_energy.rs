//! `agora sim energy` on the real microgrid data, as a user runs it.

mod common;

use common::*;
use std::path::Path;

fn profiles_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/microgrid-102/noBattery"
    ))
}

fn optimum_kwh() -> f64 {
    let profiles = agora_sim::profiles::read_profiles(profiles_dir()).unwrap();
    agora_sim::energy::offline_optimum(&profiles, 2_500_000, 2_000_000).unwrap() as f64 / 1000.0
}

fn check_summary(summary: &serde_json::Value) {
    let intervals = summary["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 97);
    for field in ["offered_kwh", "requested_kwh", "traded_kwh", "dso_load_kwh"] {
        assert!(
            intervals.iter().all(|i| i[field].as_f64().is_some()),
            "{field}"
        );
    }
    let traded: f64 = intervals
        .iter()
        .map(|i| i["traded_kwh"].as_f64().unwrap())
        .sum();
    assert!((traded - summary["total_traded_kwh"].as_f64().unwrap()).abs() < 1e-6);
    assert!(traded <= summary["total_offered_kwh"].as_f64().unwrap() + 1e-6);
    assert!(traded <= summary["total_requested_kwh"].as_f64().unwrap() + 1e-6);
}

#[test]
fn no_battery_day_trades_the_most_the_data_and_limits_allow() {
    let out = tempfile::tempdir().unwrap();
    let summary = agora_json(&[
        "sim",
        "energy",
        "--profiles",
        profiles_dir().to_str().unwrap(),
        "--interval-ms",
        "400",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    check_summary(&summary);
    for chart in ["energy.svg", "dso_load.svg"] {
        let svg = std::fs::read_to_string(out.path().join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{chart}"
        );
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(written["total_traded_kwh"], summary["total_traded_kwh"]);
    let traded = summary["total_traded_kwh"].as_f64().unwrap();
    assert!(
        (traded - optimum_kwh()).abs() < 1e-6,
        "traded {traded} kWh, optimum {} kWh",
        optimum_kwh()
    );
    // A solution computed just before a finalization may be refused (it trades in an interval
    // that became final): that is the ledger doing its job, not a loss.
    assert!(summary["solutions"]["accepted"].as_u64().unwrap() > 0);
}

#[test]
fn trading_goes_on_when_one_of_two_solvers_fails() {
    // 600 ms like the other day runs: a solver's round (status, open problem, solve, nonce,
    // submit) took up to 540 ms on this machine, so at 400 ms an interval sometimes closed
    // before the surviving solver's answer arrived.
    let summary = agora_json(&[
        "sim",
        "energy",
        "--profiles",
        profiles_dir().to_str().unwrap(),
        "--interval-ms",
        "600",
        "--solvers",
        "2",
        "--fail-solver-at",
        "40",
    ]);
    check_summary(&summary);
    let traded = summary["total_traded_kwh"].as_f64().unwrap();
    assert!(
        (traded - optimum_kwh()).abs() < 1e-6,
        "traded {traded} kWh, optimum {} kWh",
        optimum_kwh()
    );
    let after_failure: f64 = summary["intervals"].as_array().unwrap()[41..]
        .iter()
        .map(|i| i["traded_kwh"].as_f64().unwrap())
        .sum();
    assert!(
        after_failure > 0.0,
        "trading stopped with the failed solver"
    );
}

/// `agora sim energy --json` on the homes of `profiles`, with `flags`.
fn sim_day(profiles: &Path, flags: &[&str]) -> serde_json::Value {
    let mut args = vec!["sim", "energy", "--profiles", profiles.to_str().unwrap()];
    args.extend(flags);
    agora_json(&args)
}

/// A day of the homes of feeders 1 and 7 (three of the five producers) in one privacy group,
/// mixing, with `flags`; and the public optimum of those homes.
fn mix_feeders_1_and_7(flags: &[&str]) -> (serde_json::Value, f64) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(profiles_dir()).unwrap() {
        let path = entry.unwrap().path();
        let home: u32 = path.file_stem().unwrap().to_str().unwrap()["prosumer_".len()..]
            .parse()
            .unwrap();
        if [1, 7].contains(&(home / 100)) {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut args = vec!["--interval-ms", "250", "--privacy-group-size", "2", "--mix"];
    args.extend(flags);
    let summary = sim_day(dir.path(), &args);
    let profiles = agora_sim::profiles::read_profiles(dir.path()).unwrap();
    let optimum = agora_sim::energy::offline_optimum(&profiles, 2_500_000, 2_000_000).unwrap()
        as f64
        / 1000.0;
    (summary, optimum)
}

/// Checks the mix summary's own consistency and returns it.
fn check_mix(summary: &serde_json::Value) -> &serde_json::Value {
    check_summary(summary);
    let mix = &summary["mix"];
    assert!(mix["sessions"].as_u64().unwrap() >= 2, "{mix}");
    assert_eq!(mix["reruns"], 0, "honest homes complete in one run");
    let sets = mix["outputs_by_anonymity_set"].as_object().unwrap();
    let smallest = sets
        .keys()
        .map(|k| k.parse::<u64>().unwrap())
        .min()
        .unwrap();
    assert_eq!(
        mix["min_anonymity_set"].as_u64().unwrap(),
        smallest,
        "{mix}"
    );
    assert!(smallest >= 2, "{mix}");
    let offered = mix["anonymous_offered_kwh"].as_f64().unwrap()
        + mix["public_offered_kwh"].as_f64().unwrap();
    assert!(
        (offered
            - summary["total_offered_kwh"].as_f64().unwrap()
            - summary["total_requested_kwh"].as_f64().unwrap())
        .abs()
            < 1e-6,
        "{mix}"
    );
    mix
}

/// Mixing by denominations: every offer comes from an anonymous account, and the largest
/// producer's capacity beyond what the others hold (79.7 - 30.2 - 9.4 kWh) is not offered.
#[test]
fn mixed_homes_trade_from_anonymous_accounts() {
    let (summary, optimum) = mix_feeders_1_and_7(&[]);
    let mix = check_mix(&summary);
    let groups = summary["trading_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["feeders"], serde_json::json!([1, 7]));
    assert_eq!(groups[0]["homes"], 19);
    assert_eq!(mix["public_remainder"], false);
    assert_eq!(mix["public_offered_kwh"], 0.0);
    assert!(
        (mix["unmixed_kwh_per_interval"].as_f64().unwrap() - 40.1).abs() < 1e-6,
        "{mix}"
    );
    assert!(mix["unoffered_kwh"].as_f64().unwrap() > 0.0, "{mix}");
    // Withholding supply costs trade only when demand could have taken it, so the day trades
    // something, never beyond what was offered, and at most the public optimum.
    let traded = summary["total_traded_kwh"].as_f64().unwrap();
    let offered = summary["total_offered_kwh"].as_f64().unwrap();
    assert!(
        traded > 0.0 && traded <= offered + 1e-6 && traded <= optimum + 1e-6,
        "traded {traded} kWh, offered {offered} kWh, public optimum {optimum} kWh"
    );
}

/// With `--public-remainder` the largest producer offers its unmixed capacity in public, and
/// the day trades what it would without mixing.
#[test]
fn a_public_remainder_trades_the_public_optimum() {
    let (summary, optimum) = mix_feeders_1_and_7(&["--public-remainder"]);
    let mix = check_mix(&summary);
    assert_eq!(mix["public_remainder"], true);
    assert!(mix["public_offered_kwh"].as_f64().unwrap() > 0.0, "{mix}");
    assert_eq!(mix["unoffered_kwh"], 0.0, "{mix}");
    let traded = summary["total_traded_kwh"].as_f64().unwrap();
    assert!(
        (traded - optimum).abs() < 1e-6,
        "traded {traded} kWh, public optimum {optimum} kWh"
    );
}

/// The contract of issue 12: one privacy group of all eleven feeders, mixing by denominations,
/// reports the smallest anonymity set of any mixed output and trades at least 95% of the public
/// optimum.
#[test]
fn one_privacy_group_mixes_every_output_with_others() {
    let summary = sim_day(
        profiles_dir(),
        // Rounds of a 102-home group take about 250 ms on 2 cores: intervals twice as long
        // keep solutions from arriving after their interval closed.
        &[
            "--interval-ms",
            "600",
            "--mix",
            "--privacy-group-size",
            "11",
        ],
    );
    let mix = check_mix(&summary);
    assert!(mix["min_anonymity_set"].as_u64().unwrap() >= 2, "{mix}");
    let traded = summary["total_traded_kwh"].as_f64().unwrap();
    assert!(
        traded >= 0.95 * optimum_kwh(),
        "traded {traded} kWh, public optimum {} kWh",
        optimum_kwh()
    );
}
