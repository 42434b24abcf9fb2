//! The reliability benchmarks' commands, at tiny counts.

mod common;

use common::agora_json;

#[test]
fn bench_faults_counts_seeds_and_violations() {
    let report = agora_json(&["bench", "faults", "--seeds", "2"]);
    assert_eq!(report["seeds"], 2);
    assert_eq!(report["safety_violations"], 0, "{report}");
    assert_eq!(report["liveness_violations"], 0, "{report}");
}

#[test]
fn bench_crash_counts_restarts_and_losses() {
    let report = agora_json(&["bench", "crash", "--restarts", "2"]);
    assert_eq!(report["restarts"], 2);
    assert_eq!(report["finalized_lost"], 0, "{report}");
    assert_eq!(report["executed_twice"], 0, "{report}");
}

#[test]
fn bench_fuzz_runs_every_target_for_its_budget() {
    let report = agora_json(&["bench", "fuzz", "--seconds", "1"]);
    let names: Vec<&str> = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["target"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["transaction", "modules", "mixer", "discovery"]);
    for t in report["targets"].as_array().expect("targets") {
        assert!(t["inputs"].as_u64() > Some(0), "{t}");
    }
    assert_eq!(report["crashes"], 0, "{report}");
}

#[test]
fn bench_fuzz_refuses_an_unknown_target() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["bench", "fuzz", "--target", "nope", "--seconds", "1"])
        .output()
        .expect("agora runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no fuzz target \"nope\""), "{err}");
}
