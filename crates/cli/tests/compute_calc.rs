//! `agora compute calc --n N --theta T [--json]`: the contract of issue 10, run as a user does.

mod common;

use common::*;

fn calc(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["compute", "calc"];
    all.extend_from_slice(args);
    agora_json(&all)
}

#[test]
fn calc_reproduces_the_seed() {
    let one = calc(&["--n", "1", "--theta", "0"]);
    assert!((one["p_a"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    let four = calc(&["--n", "4", "--theta", "0"]);
    assert!((four["p_a"].as_f64().unwrap() - 0.943).abs() < 5e-4);
    let two = calc(&["--n", "2", "--theta", "50"]);
    assert!(two["p_a"].as_f64().unwrap() >= 0.99);
    assert!((two["p_v_max"].as_f64().unwrap() - 0.02).abs() < 1e-3);
}

#[test]
fn calc_prints_text_and_theta_min() {
    let out = agora_output(&["compute", "calc", "--n", "2", "--theta", "50"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("p_a 0.990498"), "{text}");
    assert!(text.contains("p_v_max 0.019416"), "{text}");
    let with_target = calc(&["--n", "2", "--theta", "50", "--pa", "0.99"]);
    assert_eq!(with_target["theta_min_market"], 48);
}

#[test]
fn calc_refuses_inputs_outside_the_game() {
    let cases: [(&[&str], &str); 3] = [
        (&["--n", "0", "--theta=1"], "n must be at least 1"),
        (&["--n", "1", "--theta=-1"], "theta must be"),
        (&["--n", "1", "--theta=1", "--pa=1"], "p_a must lie"),
    ];
    for (args, why) in cases {
        let mut all = vec!["compute", "calc"];
        all.extend_from_slice(args);
        let out = agora_output(&all);
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
}
