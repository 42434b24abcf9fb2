//! `agora analyze stream` as a user runs it: Table 4.7's defaults, flags, text and JSON.

mod common;

use common::*;

fn near(v: &serde_json::Value, want: f64, tol: f64) {
    let got = v.as_f64().unwrap();
    assert!((got - want).abs() <= tol, "{got} != {want}");
}

#[test]
fn stream_analysis_prints_the_games_and_eq_4_6() {
    // Table 4.7 as printed, gas included.
    let r = agora_json(&["analyze", "stream"]);
    near(&r["inputs"], 12_000.0, 0.0);
    near(&r["partial"]["p_star"], 285.714, 1e-3);
    near(&r["partial"]["p_star_no_penalty"], 263.736, 1e-3);
    assert_eq!(r["partial"]["best_response"], 1.0);
    // With the seed's gas the customer never checks: Theorem 7 fails.
    assert_eq!(
        r["one_input_game"]["pure_nash"],
        serde_json::json!(["not_s/not_s_c"])
    );
    assert_eq!(
        r["commitment_game"]["pure_nash"],
        serde_json::json!(["s/s_c"])
    );
    assert_eq!(r["outcomes"].as_array().unwrap().len(), 4);
    assert_eq!(r["replicas"], 2);

    let free = agora_json(&["analyze", "stream", "--no-gas"]);
    assert_eq!(free["one_input_game"]["pure_nash"], serde_json::json!([]));
    near(&free["break_even"]["formula"], 0.571_430_6, 1e-6);
    near(&free["partial"]["utility"][4][1], 0.23916, 1e-9);

    // Eq. 4.6 at ρ = λΔ/n for other parameters: P* = 1/e_s whatever n.
    let other = agora_json(&["analyze", "stream", "--n", "24", "--rho", "500"]);
    near(&other["partial"]["p_star"], 1.0 / 0.0035, 1e-6);

    let out = agora_output(&["analyze", "stream"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "Table 4.2",
        "Table 4.3",
        "Table 4.4",
        "eq. 4.4",
        "P* = 285.714",
        "break-even",
    ] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }

    let bad = agora_output(&["analyze", "stream", "--p-f", "1.5"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("p_f"));
}
