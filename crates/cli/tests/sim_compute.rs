//! `agora sim compute` as a user runs it: every role an agent on a fresh chain, and each
//! role's net change exactly what the payout table (spec §2.5) predicts from the jobs.

mod common;

use common::*;
use serde_json::Value;

fn u(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// The market's terms as the summary reports them.
struct Terms {
    theta: i64,
    n: i64,
    bid: (i64, i64),
    ask: (i64, i64),
    med: (i64, i64),
    f_m: i64,
    f_d: i64,
    i_j: i64,
    i_r: i64,
}

fn terms(s: &Value) -> Terms {
    let t = &s["terms"];
    let pair = |p: &Value| (u(&p["instruction"]), u(&p["bandwidth"]));
    Terms {
        theta: u(&t["penalty_rate"]),
        n: u(&t["verification_count"]),
        bid: pair(&t["jc_max_prices"]),
        ask: pair(&t["rp_prices"]),
        med: pair(&t["mediator_prices"]),
        f_m: u(&t["mediator_fee"]),
        f_d: u(&t["directory_fee"]),
        i_j: u(&t["jc_incentive"]),
        i_r: u(&t["rp_incentive"]),
    }
}

/// Each role's net change less the fees it paid: what the market alone moved.
fn market_net(s: &Value, role: &str) -> i64 {
    let r = &s["roles"][role];
    assert_eq!(u(&s["net_change"][role]), u(&r["net_change"]));
    u(&r["net_change"]) + r["fees"].as_i64().unwrap_or(0)
}

fn run(args: &[&str]) -> Value {
    let mut all = vec!["sim", "compute"];
    all.extend_from_slice(args);
    agora_json(&all)
}

/// The limits of job `r`: L_I and L_B (the JC sets them from its own run, exactly).
fn limits(r: &Value) -> (i64, i64) {
    (
        u(&r["limits"]["instructions"]),
        u(&r["limits"]["bandwidth"]),
    )
}

fn check_common(s: &Value, jobs: i64) {
    assert_eq!(u(&s["jobs"]), jobs);
    assert_eq!(u(&s["completed"]), jobs);
    assert_eq!(s["supply_conserved"], true, "{s}");
    let t = terms(s);
    for r in s["job_records"].as_array().unwrap() {
        let (li, lb) = limits(r);
        assert_eq!(u(&r["estimate"]), li * t.bid.0 + lb * t.bid.1);
    }
    // The market only moves money among its roles and the sink.
    let roles = [
        "job_creator",
        "resource_provider",
        "mediator",
        "directory",
        "solver",
        "keeper",
        "sink",
    ];
    assert_eq!(roles.iter().map(|r| market_net(s, r)).sum::<i64>(), 0);
    for key in ["p50", "max"] {
        assert!(s["added_latency_ms"][key].as_f64().is_some());
    }
}

#[test]
fn an_honest_market_accepts_every_job_and_pays_exactly_the_accept_row() {
    let s = run(&["--jobs", "4", "--jc-verify-rate", "1", "--seed", "3"]);
    check_common(&s, 4);
    assert_eq!(u(&s["accepted"]), 4);
    assert_eq!(u(&s["verified"]), 4);
    for field in ["mediated", "rp_faulted", "jc_faulted", "timeouts"] {
        assert_eq!(u(&s[field]), 0, "{field}");
    }
    let t = terms(&s);
    let mut price_total = 0;
    for r in s["job_records"].as_array().unwrap() {
        let (li, lb) = limits(r);
        let result = &r["result"];
        // The RP's metered run equals the JC's: same fuel, so the bill is the limits'.
        assert_eq!(u(&result["instructions"]), li);
        assert_eq!(result["status"], "completed");
        price_total += li * t.ask.0 + lb * t.ask.1;
    }
    let jobs = 4;
    let a_j = t.f_m + t.f_d + t.i_j;
    let a_r = t.f_m + t.f_d + t.i_r;
    assert_eq!(market_net(&s, "job_creator"), -(price_total + jobs * a_j));
    assert_eq!(
        market_net(&s, "resource_provider"),
        price_total - jobs * a_r
    );
    assert_eq!(market_net(&s, "mediator"), jobs * 2 * t.f_m);
    assert_eq!(market_net(&s, "directory"), jobs * 2 * t.f_d);
    assert_eq!(market_net(&s, "solver"), jobs * (t.i_j + t.i_r));
    assert_eq!(market_net(&s, "sink"), 0);
    assert_eq!(market_net(&s, "keeper"), 0);
}

#[test]
fn a_cheating_rp_verified_every_time_is_always_mediated_and_fined_exactly_dmin() {
    let s = run(&[
        "--jobs",
        "3",
        "--rp-cheat-rate",
        "1",
        "--jc-verify-rate",
        "1",
        "--seed",
        "5",
    ]);
    check_common(&s, 3);
    for field in ["mediated", "rp_faulted", "forged", "verified"] {
        assert_eq!(u(&s[field]), 3, "{field}");
    }
    assert_eq!(u(&s["accepted"]), 0);
    assert_eq!(u(&s["jc_faulted"]), 0);
    let t = terms(&s);
    let (mut jc, mut rp, mut m, mut sink) = (0, 0, 0, 0);
    for r in s["job_records"].as_array().unwrap() {
        assert_eq!(r["rejected"], "wrong_results");
        assert_eq!(r["outcome"]["rp_fault"], "wrong_results");
        let (li, lb) = limits(r);
        let e = u(&r["estimate"]);
        // The mediator's agreeing runs use exactly the limits: πd at the RP's prices.
        let pi_d = li * t.ask.0 + lb * t.ask.1;
        let pi_m = t.n * (li * t.med.0 + lb * t.med.1);
        let dmin_r = (t.theta + t.n) * e + t.f_m + t.f_d + t.i_r;
        jc += pi_d - (t.f_m + t.f_d + t.i_j);
        rp -= dmin_r;
        m += pi_m + 2 * t.f_m;
        sink += (t.theta + t.n) * e - pi_d - pi_m;
    }
    assert_eq!(market_net(&s, "resource_provider"), rp);
    assert_eq!(market_net(&s, "job_creator"), jc);
    assert_eq!(market_net(&s, "mediator"), m);
    assert_eq!(market_net(&s, "sink"), sink);
    assert_eq!(market_net(&s, "directory"), 3 * 2 * t.f_d);
    assert_eq!(market_net(&s, "solver"), 3 * (t.i_j + t.i_r));
}

#[test]
fn a_silent_rp_times_out_the_keeper_closes_it_and_the_jc_gets_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let out = agora_output(&[
        "sim",
        "compute",
        "--jobs",
        "2",
        "--rp-silent-rate",
        "1",
        "--completion-window-ms",
        "3000",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "jobs 2",
        "completed 2",
        "accepted 0",
        "mediated 0",
        "timeouts 2",
        "supply_conserved true",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in {text}");
    }
    assert!(text.contains("added_latency_ms p50"), "{text}");
    assert!(
        text.contains("net_change ") && text.contains("resource_provider "),
        "{text}"
    );
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    check_common(&s, 2);
    let t = terms(&s);
    let estimates: i64 = s["job_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "result_timed_out");
            assert_eq!(r["silent"], true);
            u(&r["estimate"])
        })
        .sum();
    assert_eq!(
        market_net(&s, "resource_provider"),
        -(estimates + 2 * (t.f_m + t.f_d + t.i_r))
    );
    assert_eq!(
        market_net(&s, "job_creator"),
        estimates - 2 * (t.f_m + t.f_d + t.i_j)
    );
    assert!(u(&s["roles"]["keeper"]["transactions"]) >= 2);
    for figure in ["fig_3_6.svg", "latency.svg"] {
        let svg = std::fs::read_to_string(dir.path().join(figure)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{figure}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("jobs.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn probabilities_outside_zero_one_are_refused() {
    let out = agora_output(&["sim", "compute", "--rp-cheat-rate", "1.5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("probability"));
}
