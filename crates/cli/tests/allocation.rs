//! `agora solve allocation` and `agora bench allocation` as a user runs them.

mod common;

use common::{agora_json, agora_output};
use serde_json::{json, Value};

/// G1 of the allocation spec (docs/allocation.md's example), with `objective` and `pairs`.
fn g1(objective: Value, pairs: Value) -> Value {
    let offer = |id: u64, side: &str, owner: u8, zone: u32, alts: &[(u64, u64, u64)]| {
        let alts: Vec<Value> = alts
            .iter()
            .map(|(t, q, v)| json!({"rtype": t, "quantity": q, "value": v}))
            .collect();
        json!({"id": id, "side": side, "owner": hex::encode([owner; 32]), "zone": zone,
               "alternatives": alts})
    };
    json!({"objective": objective, "pairs": pairs, "offers": [
        offer(0, "provide", 1, 1, &[(1, 2, 1), (2, 4, 2)]),
        offer(1, "provide", 2, 2, &[(3, 3, 5)]),
        offer(2, "consume", 3, 3, &[(1, 2, 6)]),
        offer(3, "consume", 4, 4, &[(2, 3, 6), (3, 3, 6)]),
        offer(4, "consume", 5, 5, &[(2, 2, 1)]),
    ]})
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn solve_allocation_prints_assignments_score_bound_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let quantity = write(
        &dir,
        "g1.json",
        &g1(json!("Quantity"), json!("Any")).to_string(),
    );
    let s = agora_json(&["solve", "allocation", "--input", &quantity]);
    assert_eq!(s["score"], json!({"primary": 5, "quantity": 5}));
    assert_eq!(s["lp_objective"], json!(5.0));
    assert_eq!(s["integrality"], "lp");
    assert_eq!(s["formulation"], "pairwise");
    assert!(s["solve_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        s["assignments"],
        json!([
            {"provider": 0, "consumer": 2, "rtype": 1, "quantity": 2, "price": 3},
            {"provider": 1, "consumer": 3, "rtype": 3, "quantity": 3, "price": 5},
        ])
    );

    let welfare = write(
        &dir,
        "welfare.json",
        &g1(json!("Welfare"), json!("Any")).to_string(),
    );
    let s = agora_json(&[
        "solve",
        "allocation",
        "--input",
        &welfare,
        "--formulation",
        "compact",
        "--time-limit-s",
        "10",
    ]);
    assert_eq!(s["score"], json!({"primary": 14, "quantity": 4}));
    assert_eq!(s["lp_objective"], json!(14.5));
    assert_eq!(s["integrality"], "mip");
    assert_eq!(s["formulation"], "compact");

    let out = agora_output(&["solve", "allocation", "--input", &welfare]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("3 assignments, score 14 (quantity 4), LP bound 14.500 (gap 0.500)"),
        "{text}"
    );
    assert!(
        text.contains("offer 0 -> offer 3: 2 of type 2 at 4"),
        "{text}"
    );
}

#[test]
fn solve_allocation_refuses_malformed_input_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let mut zero = g1(json!("Quantity"), json!("Any"));
    zero["offers"][0]["alternatives"][0]["quantity"] = json!(0);
    let mut overflow = g1(json!("Quantity"), json!("Any"));
    overflow["offers"][0]["alternatives"] = json!([
        {"rtype": 1, "quantity": u64::MAX, "value": 1},
        {"rtype": 2, "quantity": u64::MAX - 1, "value": 1},
    ]);
    let zones = json!({"Zones": {"allowed": [
        {"provider": 1, "consumer": 3, "first": 1, "last": 3}]}});
    let cases = [
        (
            "not-json.json",
            "{ offers: ".to_string(),
            vec![],
            "not an allocation instance",
        ),
        (
            "no-offers.json",
            json!({"objective": "Quantity"}).to_string(),
            vec![],
            "not an allocation instance",
        ),
        (
            "bad-side.json",
            json!({"offers": [{"id": 0, "side": "sell", "alternatives": []}]}).to_string(),
            vec![],
            "not an allocation instance",
        ),
        ("zero.json", zero.to_string(), vec![], "zero quantity"),
        ("overflow.json", overflow.to_string(), vec![], "overflows"),
        (
            "zones.json",
            g1(json!("Quantity"), zones).to_string(),
            vec!["--formulation", "compact"],
            "pair rule",
        ),
        (
            "limit.json",
            g1(json!("Quantity"), json!("Any")).to_string(),
            vec!["--time-limit-s", "0"],
            "--time-limit-s",
        ),
    ];
    for (name, text, extra, expected) in cases {
        let path = write(&dir, name, &text);
        let out = agora_output(&[&["solve", "allocation", "--input", &path], &extra[..]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let missing = dir.path().join("missing.json");
    let out = agora_output(&["solve", "allocation", "--input", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn bench_allocation_runs_the_round_trip_on_a_fresh_chain() {
    let r = agora_json(&[
        "bench",
        "allocation",
        "--offers",
        "60",
        "--types",
        "12",
        "--types-per-offer",
        "3",
        "--price-spread",
        "4",
    ]);
    assert_eq!(r["offers"], 60);
    let score = &r["score"];
    assert!(score["primary"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(&r["finalized_score"], score);
    assert_eq!(r["solution_transactions"], 1);
    assert!(r["lp_objective"].as_f64().unwrap() >= score["primary"].as_f64().unwrap() - 1e-6);
    for field in [
        "offers_per_second",
        "open_problem_ms",
        "solve_ms",
        "verify_ms",
        "submit_to_receipt_ms",
        "finalize_submit_to_receipt_ms",
        "finalize_execution_ms",
    ] {
        assert!(r[field].as_f64().is_some_and(|v| v >= 0.0), "{field}: {r}");
    }
}
