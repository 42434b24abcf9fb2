//! Golden checks G4 (the 102-home energy day) and G5 (the reference carpool instance) of the
//! allocation spec: the platform's formulation against an independent one on the real data.

use agora_allocation::{Alternative, Objective, Side};
use agora_solver::allocation::{
    greedy, pairwise_optimum, solve, AllocationInstance, AllocationSolveOptions, Formulation,
    InstanceOffer,
};
use agora_solver::lp::Integrality;
use agora_types::Address;
use std::{collections::BTreeSet, path::PathBuf};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(path)
}

fn instance(offers: Vec<InstanceOffer>) -> AllocationInstance {
    serde_json::from_value(
        serde_json::json!({ "objective": Objective::Quantity, "offers": offers }),
    )
    .unwrap()
}

fn with(formulation: Formulation) -> AllocationSolveOptions {
    AllocationSolveOptions {
        formulation,
        ..Default::default()
    }
}

/// G4: every non-zero row of every home one offer (kWh x 1000 = Wh), intervals its types,
/// uniform prices.
fn microgrid(set: &str) -> AllocationInstance {
    let dir = data(&format!("microgrid-102/{set}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut offers = Vec::new();
    for (home, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split(',').collect();
            let (start, end): (u64, u64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            let wh = (f[2].parse::<f64>().unwrap() * 1000.0).round() as i64;
            if wh == 0 {
                continue;
            }
            let side = if wh > 0 { Side::Provide } else { Side::Consume };
            offers.push(InstanceOffer {
                id: offers.len() as u64,
                side,
                owner: Address([home as u8; 32]),
                zone: 0,
                alternatives: (start..=end)
                    .map(|t| Alternative {
                        rtype: t,
                        quantity: wh.unsigned_abs(),
                        value: 10,
                    })
                    .collect(),
                scale: None,
            });
        }
    }
    instance(offers)
}

#[test]
fn g4_no_battery_trades_the_sum_of_interval_minima() {
    let i = microgrid("noBattery");
    assert_eq!(i.offers.len(), 9_609);
    for formulation in [Formulation::Compact, Formulation::Pairwise] {
        let s = solve(&i, &with(formulation)).unwrap();
        assert_eq!(s.score.quantity, 4_131_200, "{formulation:?}");
        let expected = match formulation {
            Formulation::Compact => Integrality::Flow,
            _ => Integrality::Lp,
        };
        assert_eq!(s.integrality, expected);
        assert!((s.lp_objective - 4_131_200.0).abs() < 1e-3);
    }
}

#[test]
fn g4_with_battery_compact_equals_pairwise() {
    let i = microgrid("withBattery");
    assert_eq!(i.offers.len(), 9_638);
    let compact = solve(&i, &with(Formulation::Compact)).unwrap();
    let pairwise = solve(&i, &with(Formulation::Pairwise)).unwrap();
    let reference = pairwise_optimum(&i, &AllocationSolveOptions::default()).unwrap();
    assert_eq!(compact.score, pairwise.score);
    assert!((reference - compact.score.primary as f64).abs() < 1e-3);
    // Equal quantities per offer under eq. 6.5: the compact model is a flow; and F3: the
    // pairwise LP is integral.
    assert_eq!(compact.integrality, Integrality::Flow);
    assert_eq!(pairwise.integrality, Integrality::Lp);
    assert!((compact.lp_objective - pairwise.lp_objective).abs() < 1e-3);
    assert!(compact.score.quantity > 4_131_200);
}

/// G5's pick-up points, exactly as the spec writes them.
const PICKUPS: [(f64, f64); 20] = [
    (36.150792, -86.849441),
    (36.069024, -86.773063),
    (36.148208, -86.802802),
    (36.143422, -86.796600),
    (36.293523, -86.686419),
    (36.131929, -86.807556),
    (36.147199, -86.801004),
    (36.030609, -86.970035),
    (36.149252, -86.799062),
    (36.089576, -86.883996),
    (36.081645, -86.969141),
    (36.171985, -86.792385),
    (36.185776, -86.741621),
    (36.180318, -86.584221),
    (36.115978, -86.863280),
    (36.117356, -86.798184),
    (36.135766, -86.832449),
    (36.143715, -86.801646),
    (36.114345, -86.917524),
    (36.128580, -86.758644),
];

type LatLng = (f64, f64);

fn haversine_m((lat1, lng1): (f64, f64), (lat2, lng2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lng2 - lng1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * a.sqrt().asin()
}

/// G5: roles, seats and slots by ID; pick-ups within half the residence-garage distance (+1 m)
/// of the midpoint (drivers) or the residence (riders); types (slot, pick-up, garage).
fn carpool() -> (AllocationInstance, u64) {
    let text = std::fs::read_to_string(data("carpool/latlng.csv")).unwrap();
    let rows: Vec<(u64, LatLng, LatLng)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
            (f[0] as u64, (f[1], f[2]), (f[3], f[4]))
        })
        .collect();
    let mut garages: Vec<(f64, f64)> = rows.iter().map(|r| r.2).collect();
    garages.sort_by(|a, b| a.partial_cmp(b).unwrap());
    garages.dedup();
    assert_eq!(garages.len(), 5);
    let mut offers = Vec::new();
    let mut requested_by_posted = 0;
    for &(id, home, to) in &rows {
        let garage = garages.iter().position(|g| *g == to).unwrap() as u64;
        let driver = id % 2 == 0;
        let seats = 1 + id % 3;
        let slot = (id / 2) % 10;
        let radius = 0.5 * haversine_m(home, to);
        let centre = if driver {
            ((home.0 + to.0) / 2.0, (home.1 + to.1) / 2.0)
        } else {
            home
        };
        let mut alternatives = Vec::new();
        for s in (slot..=slot + 1).filter(|s| *s <= 9) {
            for (k, p) in PICKUPS.iter().enumerate() {
                if haversine_m(centre, *p) <= radius + 1.0 {
                    alternatives.push(Alternative {
                        rtype: (s << 32) | ((k as u64) << 16) | garage,
                        quantity: seats,
                        value: 10,
                    });
                }
            }
        }
        if alternatives.is_empty() {
            continue;
        }
        alternatives.sort_by_key(|a| a.rtype);
        if !driver {
            requested_by_posted += seats;
        }
        offers.push(InstanceOffer {
            id,
            side: if driver { Side::Provide } else { Side::Consume },
            owner: Address([id as u8; 32]),
            zone: 0,
            alternatives,
            scale: None,
        });
    }
    (instance(offers), requested_by_posted)
}

#[test]
fn g5_reference_carpool_matches_the_independent_formulation() {
    let (i, requested) = carpool();
    let drivers = i.offers.iter().filter(|o| o.side == Side::Provide).count();
    assert_eq!((i.offers.len(), drivers), (71, 38));
    let alternatives: usize = i.offers.iter().map(|o| o.alternatives.len()).sum();
    assert_eq!(alternatives, 423);
    let types: BTreeSet<u64> = i
        .offers
        .iter()
        .flat_map(|o| o.alternatives.iter().map(|a| a.rtype))
        .collect();
    assert_eq!(types.len(), 295);
    let offered: u64 = i
        .offers
        .iter()
        .filter(|o| o.side == Side::Provide)
        .map(|o| o.alternatives[0].quantity)
        .sum();
    assert_eq!((offered, requested), (76, 63));

    let auto = solve(&i, &AllocationSolveOptions::default()).unwrap();
    assert_eq!(auto.formulation, Formulation::Pairwise);
    assert_eq!(auto.variables, 76, "compatible triples");
    let compact = solve(&i, &with(Formulation::Compact)).unwrap();
    let reference = pairwise_optimum(&i, &AllocationSolveOptions::default()).unwrap();
    assert_eq!(auto.score, compact.score);
    assert!((reference - auto.score.primary as f64).abs() < 1e-6);
    assert!(auto.score.primary > 0);
    assert!(auto.lp_objective >= reference - 1e-6);
    let g = greedy(&i).unwrap();
    assert!(g.score <= auto.score);
    assert_eq!(
        agora_solver::allocation::Checker::new(&i)
            .unwrap()
            .check(&g.assignments),
        Ok(g.score)
    );
}
