//! `agora sim stream strategies` as a user runs it: ten markets of agents on a fresh chain,
//! utilities from the ledger's balances, the figures written to --out.

mod common;

use common::*;

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// 60 allocations per market: the verifying group (5 customers) sees 10 allocations per P(s),
/// so the fitted break-even's sampling error is about 0.05; the bound is three of them.
#[test]
fn strategies_on_the_ledger_match_the_closed_forms() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let r = agora_json(&[
        "sim",
        "stream",
        "strategies",
        "--allocations",
        "60",
        "--seed",
        "3",
        "--out",
        dir,
    ]);
    // Every market's tokens: funded = balances + treasury + fees burned.
    assert_eq!(r["conserved"], true, "{}", r["markets"]);
    for m in r["markets"].as_array().unwrap() {
        let c = &m["conservation"];
        assert_eq!(
            f(&c["funded"]),
            f(&c["balances"]) + f(&c["treasury"]) + f(&c["fees"])
        );
    }
    // Supplier utility rises with P(s): the honest group beats the lazy one, and the trend
    // over the six groups is upward.
    let groups: Vec<(f64, f64)> = r["suppliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (f(&g["honesty"]), f(&g["utility"])))
        .collect();
    assert_eq!(groups.len(), 6);
    assert!(groups[5].1 > groups[0].1, "{groups:?}");
    let (mx, my) = groups
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / 6.0, b + y / 6.0));
    let slope: f64 = groups.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    assert!(slope > 0.0, "{groups:?}");
    assert_eq!(r["customers"].as_array().unwrap().len(), 6);
    // The verifying customer's break-even, measured on the ledger, beside its closed form.
    let (measured, formula) = (
        f(&r["break_even"]["measured"]),
        f(&r["break_even"]["formula"]),
    );
    assert!((measured - formula).abs() < 0.15, "{measured} vs {formula}");
    assert!((0.7..0.95).contains(&formula), "{formula}");
    // At P(s) = 100 % verifying gains F_c − n·π_cg over not verifying.
    let adv = &r["verifying_advantage"];
    assert!((f(&adv["measured"]) - f(&adv["formula"])).abs() < 0.1 * f(&adv["formula"]));
    for fig in ["fig4_5.svg", "fig4_6.svg", "strategies.json"] {
        let text = std::fs::read_to_string(out.path().join(fig)).unwrap();
        assert!(text.len() > 100, "{fig}");
    }
}
