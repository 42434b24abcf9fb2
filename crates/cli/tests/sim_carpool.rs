//! `agora sim carpool` (seed 6.5.1, spec 5.1 and golden check G5) as a user runs it, from the
//! repository's root: riders and drivers, a director and solver daemons on a fresh chain.

mod common;

use agora_sim::allocation::{
    carpool::{read_commuters, read_pickups, Carpool, CarpoolConfig, Pickups},
    objective::CarpoolObjective,
};
use agora_solver::allocation::{pairwise_optimum, AllocationInstance, AllocationSolveOptions};
use common::*;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const PICKUPS: &str = "crates/cli/tests/data/pickups-g5.csv";

/// `agora sim carpool --reference --pickups-file PICKUPS ARGS --json`, run in the root.
fn carpool(args: &[&str]) -> Value {
    let mut all = vec!["sim", "carpool", "--reference", "--pickups-file", PICKUPS];
    all.extend(args);
    agora_json_in_root(&all)
}

/// The primary optimum of G5's instance changed by `change`, under `objective`, by the pairwise
/// MILP solved directly (not the platform's LP, repair and ledger pipeline), on the instance
/// rebuilt from the data.
fn optimum(change: impl FnOnce(&mut CarpoolConfig), objective: CarpoolObjective) -> f64 {
    let commuters = read_commuters(&root().join("data/carpool/latlng.csv")).unwrap();
    let mut cfg = CarpoolConfig {
        pickups: Pickups::Points(read_pickups(&root().join(PICKUPS)).unwrap()),
        reference: true,
        ..CarpoolConfig::default()
    };
    change(&mut cfg);
    let mut carpool = Carpool::new(commuters, cfg).unwrap();
    let offers: Vec<Value> = carpool
        .next_cycle()
        .iter()
        .filter_map(|o| o.offer.as_ref())
        .enumerate()
        .map(|(id, o)| json!({"id": id, "side": o.side, "alternatives": o.alternatives}))
        .collect();
    let objective = carpool.objective(objective).unwrap();
    let instance: AllocationInstance =
        serde_json::from_value(json!({ "offers": offers, "objective": objective })).unwrap();
    pairwise_optimum(&instance, &AllocationSolveOptions::default()).unwrap()
}

fn g5_optimum() -> f64 {
    optimum(|_| {}, CarpoolObjective::Quantity)
}

fn matched_per_cycle(summary: &Value) -> Vec<u64> {
    summary["per_cycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seats_matched"].as_u64().unwrap())
        .collect()
}

/// The `data-*` attributes of each element of every class in an SVG file, parsed as XML (a
/// file that is not well-formed fails the test).
fn svg_marks(path: &Path) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let file = std::fs::File::open(path).unwrap();
    let mut marks: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for event in xml::EventReader::new(std::io::BufReader::new(file)) {
        let event = event.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let xml::reader::XmlEvent::StartElement { attributes, .. } = event {
            let get = |name: &str| attributes.iter().find(|a| a.name.local_name == name);
            let Some(class) = get("class") else { continue };
            let data = attributes
                .iter()
                .filter_map(|a| {
                    Some((
                        a.name.local_name.strip_prefix("data-")?.to_string(),
                        a.value.clone(),
                    ))
                })
                .collect();
            marks.entry(class.value.clone()).or_default().push(data);
        }
    }
    marks
}

fn distinct(marks: &[BTreeMap<String, String>], key: &str) -> usize {
    marks.iter().map(|m| &m[key]).collect::<BTreeSet<_>>().len()
}

/// map.svg, offers.svg and matched.svg show what the summary counts: every commuter, pick-up
/// point, garage, posted offer and finalized assignment.
fn check_figures(dir: &Path, summary: &Value) {
    let count = |field: &str| summary[field].as_u64().unwrap() as usize;
    let map = svg_marks(&dir.join("map.svg"));
    assert_eq!(map["residence"].len(), count("commuters"));
    assert_eq!(map["radius"].len(), count("commuters"));
    assert_eq!(map["pickup"].len(), count("pickups"));
    let garages = summary["commuters_per_garage"].as_array().unwrap().len();
    assert_eq!(map["garage"].len(), garages);
    let offers = svg_marks(&dir.join("offers.svg"));
    assert_eq!(
        distinct(&offers["segment"], "offer"),
        count("offers_posted")
    );
    let matched = svg_marks(&dir.join("matched.svg"));
    let pairs = &matched["pair"];
    assert_eq!(pairs.len(), count("assignments"));
    let seats: u64 = pairs
        .iter()
        .map(|p| p["seats"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(seats, summary["seats_matched"].as_u64().unwrap());
    assert_eq!(
        distinct(pairs, "driver-offer"),
        count("driver_offers_matched")
    );
    assert_eq!(
        distinct(pairs, "rider-offer"),
        count("rider_offers_matched")
    );
}

#[test]
fn the_reference_instance_finalizes_the_optimum() {
    let out = tempfile::tempdir().unwrap();
    let summary = carpool(&["--out", out.path().to_str().unwrap()]);
    check_figures(out.path(), &summary);
    let optimum = g5_optimum();
    // G5's optimum, found by the allocation solver's two formulations.
    assert_eq!(optimum, 31.0);
    assert_eq!(summary["seats_matched"].as_u64(), Some(31), "{summary}");
    assert_eq!(summary["score"], json!({"primary": 31, "quantity": 31}));
    assert_eq!(summary["lp_objective"].as_f64(), Some(31.0));
    for (field, value) in [
        ("commuters", 75),
        ("drivers", 38),
        ("riders", 37),
        ("offers_posted", 71),
        ("offers_without_pickup", 4),
        ("alternatives", 423),
        ("seats_offered", 76),
        ("seats_requested", 74),
        ("cycles", 1),
    ] {
        assert_eq!(summary[field].as_u64(), Some(value), "{field}");
    }
    for field in ["solve_ms", "finalize_ms"] {
        assert!(summary[field].as_f64().unwrap() > 0.0, "{field}");
    }
    let solutions = &summary["solutions"];
    assert!(solutions["accepted"].as_u64().unwrap() >= 1);
    let total = ["accepted", "rejected"].map(|k| solutions[k].as_u64().unwrap());
    assert_eq!(solutions["submitted"].as_u64(), Some(total[0] + total[1]));
}

#[test]
fn a_failed_solver_loses_nothing() {
    let summary = carpool(&["--solvers", "2", "--fail-solver-at", "1", "--cycles", "2"]);
    assert_eq!(matched_per_cycle(&summary), [31, 31], "{summary}");
    // From cycle 1 only solver 1 runs, and its solution is the one finalized.
    assert_eq!(summary["finalized_by"][1], "solver 1 (lp)");
    let failed = &summary["solutions"]["by_solver"]["solver 0 (lp)"];
    assert!(failed.is_null() || failed["submitted"].as_u64() <= Some(1));
}

#[test]
fn a_byzantine_solver_changes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let summary = carpool(&["--byzantine-solver", "--cycles", "2", "--out", dir]);
    assert_eq!(matched_per_cycle(&summary), [31, 31], "{summary}");
    let solutions = &summary["solutions"];
    assert_eq!(solutions["by_solver"]["byzantine"]["accepted"], 0);
    let lies = solutions["lies"].as_array().unwrap();
    let told: Vec<(u64, &str)> = lies
        .iter()
        .map(|l| (l["cycle"].as_u64().unwrap(), l["lie"].as_str().unwrap()))
        .collect();
    // Over capacity and above a bid in every cycle; an earlier cycle's offer from cycle 1.
    for lie in ["over-uses a consumption offer", "prices above a bid"] {
        assert!(
            told.contains(&(0, lie)) && told.contains(&(1, lie)),
            "{lie}"
        );
    }
    assert!(told.contains(&(1, "names an offer of an earlier cycle")));
    assert_eq!(
        solutions["lies_refused_as_expected"].as_u64(),
        Some(lies.len() as u64),
        "{lies:?}"
    );
    let svg = std::fs::read_to_string(out.path().join("failover.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(r#"class="segment""#));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(written["seats_matched"], summary["seats_matched"]);
}

#[test]
fn bad_input_is_refused_before_any_chain_starts() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("pickups.csv");
    std::fs::write(&bad, "lat,lng\n36.1,-86.8\n").unwrap();
    let bad = bad.to_str().unwrap();
    let missing = dir.path().join("none");
    let cases: [(&[&str], &str); 6] = [
        (&["--pickups-file", bad], "expected the header id,lat,lng"),
        (&["--reference"], "--pickups-file"),
        (&["--data", missing.to_str().unwrap()], "latlng.csv"),
        (
            &["--price-spread", "11"],
            "--price-spread must be at most --price",
        ),
        (&["--objective", "speed"], "quantity, utility or welfare"),
        (&["--rider-seats", "0"], "--rider-seats"),
    ];
    for (args, message) in cases {
        let out = agora()
            .current_dir(root())
            .args(["sim", "carpool"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn rider_seats_gives_eq_6_9_riders() {
    let summary = carpool(&["--rider-seats", "1"]);
    // 37 riders of one seat each, 33 of them posted; drivers keep 1 + ID mod 3.
    for (field, value) in [
        ("riders", 37),
        ("seats_requested", 37),
        ("seats_requested_posted", 33),
        ("seats_offered", 76),
    ] {
        assert_eq!(summary[field].as_u64(), Some(value), "{field}");
    }
    let best = optimum(|c| c.rider_seats = Some(1), CarpoolObjective::Quantity);
    assert_eq!(summary["seats_matched"].as_f64(), Some(best), "{summary}");
    // One seat per rider offer: each matched rider offer has exactly one seat.
    assert!(summary["rider_offers_matched"].as_f64() == Some(best));
}

#[test]
fn random_garage_redraws_every_destination() {
    let summary = carpool(&["--random-garage", "--seed", "5"]);
    let per_garage: Vec<u64> = summary["commuters_per_garage"]
        .as_array()
        .unwrap()
        .iter()
        .map(u64_of)
        .collect();
    assert_eq!(per_garage.len(), 5);
    assert_eq!(per_garage.iter().sum::<u64>(), 75);
    assert_ne!(per_garage, [19, 12, 15, 17, 12], "the data's garages");
    let best = optimum(
        |c| {
            c.random_garage = true;
            c.seed = 5;
        },
        CarpoolObjective::Quantity,
    );
    assert_eq!(summary["seats_matched"].as_f64(), Some(best), "{summary}");
}

/// Eq. 6.10 and 6.12 on the ledger reach the independent MILP's optimum of the same objective;
/// 6.12 with uniform prices scores 0 and still moves every seat it can (A7). The daemon solves
/// twice under these objectives (primary, then seats), so the solving phase is longer than the
/// default: a loaded machine must not make a cycle finalize before the solution lands.
#[test]
fn each_objective_finalizes_its_optimum() {
    let carpool = |args: &[&str]| {
        let mut all = vec!["--solve-ms", "5000"];
        all.extend(args);
        carpool(&all)
    };
    let utility = carpool(&["--objective", "utility"]);
    let best = optimum(|_| {}, CarpoolObjective::Utility);
    assert_eq!(utility["objective"], "utility");
    assert_eq!(
        u64_of(&utility["score"]["primary"]) as f64,
        best,
        "{utility}"
    );
    assert!(best > 31.0, "β ≥ 1 per seat: {best}");

    let welfare = carpool(&["--objective", "welfare", "--price-spread", "3"]);
    let best = optimum(|c| c.price_spread = 3, CarpoolObjective::Welfare);
    assert!(best > 0.0);
    assert_eq!(
        u64_of(&welfare["score"]["primary"]) as f64,
        best,
        "{welfare}"
    );

    let uniform = carpool(&["--objective", "welfare"]);
    assert_eq!(uniform["score"], json!({"primary": 0, "quantity": 31}));
}

/// With --settle every commuter's balance moves by exactly what the finalized assignments
/// say (paid as a rider, received as a driver), less its own fees; riders get back the rest of
/// their holds, and the bank's conservation holds.
#[test]
fn settle_moves_balances_by_the_finalized_payments() {
    let summary = carpool(&["--settle", "--price-spread", "3", "--cycles", "2"]);
    let settlement = &summary["settlement"];
    assert_eq!(settlement["conserved"], true);
    let cycles = settlement["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 2);
    let mut paid_total = 0;
    for cycle in cycles {
        let mut owner = BTreeMap::new();
        for c in cycle["commuters"].as_array().unwrap() {
            for o in c["offers"].as_array().unwrap() {
                owner.insert(u64_of(o), u64_of(&c["commuter"]));
            }
        }
        let mut expected: BTreeMap<u64, i128> = BTreeMap::new();
        let mut paid = 0;
        for a in cycle["assignments"].as_array().unwrap() {
            let amount = i128::from(u64_of(&a["quantity"]) * u64_of(&a["price"]));
            *expected.entry(owner[&u64_of(&a["provider"])]).or_default() += amount;
            *expected.entry(owner[&u64_of(&a["consumer"])]).or_default() -= amount;
            paid += amount;
        }
        assert!(paid > 0, "{cycle}");
        assert_eq!(i128::from(u64_of(&cycle["paid"])), paid);
        paid_total += paid;
        let mut moved = 0;
        for c in cycle["commuters"].as_array().unwrap() {
            let id = u64_of(&c["commuter"]);
            let change = i128::from(u64_of(&c["after"])) - i128::from(u64_of(&c["before"]));
            let net = change + i128::from(u64_of(&c["fees"]));
            assert_eq!(
                net,
                expected.get(&id).copied().unwrap_or(0),
                "commuter {id}"
            );
            moved += usize::from(net != 0);
        }
        assert!(moved > 0);
    }
    assert_eq!(i128::from(u64_of(&settlement["paid"])), paid_total);
}
