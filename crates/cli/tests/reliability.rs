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
