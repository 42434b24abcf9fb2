//! The allocation solver against golden check G1, the pairwise MILP, an exhaustive search by
//! the module's by-definition reference, and malformed input.

use agora_allocation::{
    reference::by_definition, Alternative, Assignment, Context, MarketParams, Objective, Offer,
    OfferId, PairRule, PriceBound, Score, Side, TypeRange, ZoneRule,
};
use agora_solver::{
    allocation::{
        greedy, pairwise_optimum, solve, AllocationInstance, AllocationSolveOptions, Checker,
        Formulation, InstanceOffer, SolverError,
    },
    lp::Integrality,
};
use agora_types::Address;
use proptest::prelude::*;
use std::collections::BTreeMap;

const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;

fn offer(id: u64, owner: u8, side: Side, alts: &[(u64, u64, u64)]) -> InstanceOffer {
    InstanceOffer {
        id,
        side,
        owner: Address([owner; 32]),
        zone: 0,
        alternatives: alts
            .iter()
            .map(|&(rtype, quantity, value)| Alternative {
                rtype,
                quantity,
                value,
            })
            .collect(),
        scale: None,
    }
}

fn instance(objective: Objective, offers: Vec<InstanceOffer>) -> AllocationInstance {
    serde_json::from_value(serde_json::json!({
        "objective": objective,
        "offers": offers,
    }))
    .unwrap()
}

/// G1's five offers (spec section 8).
fn g1(objective: Objective) -> AllocationInstance {
    instance(
        objective,
        vec![
            offer(0, 1, Side::Provide, &[(A, 2, 1), (B, 4, 2)]),
            offer(1, 2, Side::Provide, &[(C, 3, 5)]),
            offer(2, 3, Side::Consume, &[(A, 2, 6)]),
            offer(3, 4, Side::Consume, &[(B, 3, 6), (C, 3, 6)]),
            offer(4, 5, Side::Consume, &[(B, 2, 1)]),
        ],
    )
}

fn utility() -> Objective {
    Objective::TypeUtility {
        default_beta: 1,
        betas: vec![TypeRange {
            first: B,
            last: B,
            value: 3,
        }],
    }
}

fn with(formulation: Formulation) -> AllocationSolveOptions {
    AllocationSolveOptions {
        formulation,
        ..Default::default()
    }
}

fn sorted(mut a: Vec<Assignment>) -> Vec<(u64, u64, u64, u64, u64)> {
    a.sort_by_key(|a| (a.provider, a.consumer, a.rtype));
    a.into_iter()
        .map(|a| (a.provider, a.consumer, a.rtype, a.quantity, a.price))
        .collect()
}

/// The instance's offers as the module stores them, for the by-definition reference.
fn offers_of(instance: &AllocationInstance) -> BTreeMap<OfferId, Offer> {
    instance
        .offers
        .iter()
        .map(|o| {
            let offer = Offer {
                id: o.id,
                cycle: 0,
                owner: o.owner,
                side: o.side,
                misc: 0,
                alternatives: o.alternatives.clone(),
                posted: true,
                scale: agora_allocation::params::scale(&o.alternatives).unwrap(),
                hold: None,
            };
            (o.id, offer)
        })
        .collect()
}

fn params(objective: Objective) -> MarketParams {
    MarketParams {
        receive_ms: 1,
        solve_ms: 1,
        max_quantity: 100,
        max_types_per_offer: 8,
        objective,
        default_bound: None,
        price_bounds: vec![],
        pairs: PairRule::Any,
        settle: false,
        max_offers_per_cycle: 100,
        max_solutions_per_cycle: 100,
    }
}

/// The score the by-definition reference gives (None: infeasible).
fn reference_score(instance: &AllocationInstance, assignments: &[Assignment]) -> Option<Score> {
    let offers = offers_of(instance);
    let params = params(instance.objective.clone());
    let zones = BTreeMap::new();
    let cx = Context {
        params: &params,
        cycle: 0,
        offers: &offers,
        zones: &zones,
    };
    by_definition(&cx, assignments)
}

#[test]
fn g1_objectives_reach_their_milp_optima() {
    let cases = [
        (Objective::Quantity, (5, 5), 5.0, Integrality::Lp),
        (utility(), (9, 3), 9.5, Integrality::Mip),
        (Objective::Welfare, (14, 4), 14.5, Integrality::Mip),
    ];
    for (objective, (primary, quantity), lp, integrality) in cases {
        for formulation in [Formulation::Pairwise, Formulation::Compact] {
            let s = solve(&g1(objective.clone()), &with(formulation)).unwrap();
            let what = format!("{objective:?} {formulation:?}");
            assert_eq!(s.score, Score { primary, quantity }, "{what}");
            assert!(
                (s.lp_objective - lp).abs() < 1e-6,
                "{what}: {}",
                s.lp_objective
            );
            assert_eq!(s.integrality, integrality, "{what}");
            assert_eq!(s.formulation, formulation);
        }
    }
    // The assignments and midpoint prices the spec lists.
    let s = solve(&g1(Objective::Quantity), &with(Formulation::Auto)).unwrap();
    assert_eq!(s.formulation, Formulation::Pairwise);
    assert_eq!(sorted(s.assignments), [(0, 2, A, 2, 3), (1, 3, C, 3, 5)]);
    let s = solve(&g1(Objective::Welfare), &with(Formulation::Auto)).unwrap();
    assert_eq!(
        sorted(s.assignments),
        [(0, 2, A, 1, 3), (0, 3, B, 2, 4), (1, 3, C, 1, 5)]
    );
}

#[test]
fn g1_price_bounds_and_pair_rules_remove_triples() {
    let mut bounded = g1(Objective::Quantity);
    bounded.price_bounds = vec![TypeRange {
        first: A,
        last: A,
        value: PriceBound { min: 7, max: 9 },
    }];
    for formulation in [Formulation::Pairwise, Formulation::Compact] {
        let s = solve(&bounded, &with(formulation)).unwrap();
        assert_eq!(
            s.score,
            Score {
                primary: 3,
                quantity: 3
            }
        );
        assert!((s.lp_objective - 3.0).abs() < 1e-6);
    }

    let mut zoned = g1(Objective::Quantity);
    for (o, zone) in zoned.offers.iter_mut().zip([1, 2, 3, 4, 5]) {
        o.zone = zone;
    }
    // Every (provider zone, consumer zone) pair on every type, except (2, 4) on C.
    let mut allowed = Vec::new();
    for provider in [1, 2] {
        for consumer in [3, 4, 5] {
            let rule = |first, last| ZoneRule {
                provider,
                consumer,
                first,
                last,
            };
            if (provider, consumer) == (2, 4) {
                allowed.push(rule(A, B));
            } else {
                allowed.push(rule(A, C));
            }
        }
    }
    zoned.pairs = PairRule::Zones { allowed };
    let s = solve(&zoned, &with(Formulation::Auto)).unwrap();
    assert_eq!(s.formulation, Formulation::Pairwise);
    assert_eq!(
        s.score,
        Score {
            primary: 3,
            quantity: 3
        }
    );
    assert!((s.lp_objective - 3.5).abs() < 1e-6);
    assert_eq!(s.integrality, Integrality::Mip);
    assert!(matches!(
        solve(&zoned, &with(Formulation::Compact)),
        Err(SolverError::CompactWithPairRule)
    ));
}

#[test]
fn same_instance_gives_identical_bytes() {
    for objective in [Objective::Quantity, utility(), Objective::Welfare] {
        for formulation in [Formulation::Pairwise, Formulation::Compact] {
            let run = || {
                let s = solve(&g1(objective.clone()), &with(formulation)).unwrap();
                serde_json::to_vec(&(s.assignments, s.score)).unwrap()
            };
            assert_eq!(run(), run());
        }
    }
}

#[test]
fn malformed_instances_are_refused() {
    let base = || g1(Objective::Quantity);
    let mut zero = base();
    zero.offers[0].alternatives[0].quantity = 0;
    let mut unsorted = base();
    unsorted.offers[0].alternatives.reverse();
    let mut twice = base();
    twice.offers[1].id = 0;
    let mut wrong_scale = base();
    wrong_scale.offers[0].scale = Some(2);
    let mut overflow = base();
    overflow.offers[0].alternatives[0].quantity = u64::MAX;
    overflow.offers[0].alternatives[1].quantity = u64::MAX - 1;
    let mut two_zones = base();
    two_zones.offers[1].owner = two_zones.offers[0].owner;
    two_zones.offers[1].zone = 7;
    let mut empty = base();
    empty.offers[4].alternatives.clear();
    let mut bad_table = base();
    bad_table.default_bound = Some(PriceBound { min: 2, max: 1 });
    for (what, bad) in [
        ("zero", zero),
        ("unsorted", unsorted),
        ("twice", twice),
        ("scale", wrong_scale),
        ("overflow", overflow),
        ("zones", two_zones),
        ("empty", empty),
        ("table", bad_table),
    ] {
        let e = solve(&bad, &AllocationSolveOptions::default());
        assert!(matches!(e, Err(SolverError::Invalid(_))), "{what}: {e:?}");
        assert!(
            matches!(greedy(&bad), Err(SolverError::Invalid(_))),
            "{what}"
        );
    }
    // The correct scale is accepted.
    let mut right = base();
    right.offers[0].scale = Some(4);
    assert!(solve(&right, &AllocationSolveOptions::default()).is_ok());
}

#[test]
fn greedy_is_feasible_and_at_most_optimal() {
    for objective in [Objective::Quantity, Objective::Welfare] {
        let g = greedy(&g1(objective.clone())).unwrap();
        assert_eq!(g.integrality, Integrality::Greedy);
        let i = g1(objective.clone());
        assert_eq!(reference_score(&i, &g.assignments), Some(g.score));
        let best = solve(&i, &AllocationSolveOptions::default()).unwrap();
        assert!(g.score <= best.score);
    }
    // Welfare greedy takes x1 (margin 5) first: 2 units, then x2 gets 0 (p1 full), x3 3 units.
    let g = greedy(&g1(Objective::Welfare)).unwrap();
    assert_eq!(
        g.score,
        Score {
            primary: 13,
            quantity: 5
        }
    );
}

/// The best score over every feasible allocation of the compatible triples, by depth-first
/// search with the by-definition check (independent of the solver and of `verify`).
fn exhaustive(instance: &AllocationInstance) -> Score {
    let mut triples = Vec::new();
    for p in instance.offers.iter().filter(|o| o.side == Side::Provide) {
        for c in instance.offers.iter().filter(|o| o.side == Side::Consume) {
            for pa in &p.alternatives {
                for ca in c.alternatives.iter().filter(|ca| ca.rtype == pa.rtype) {
                    if pa.value <= ca.value {
                        triples.push((
                            p.id,
                            c.id,
                            pa.rtype,
                            pa.quantity.min(ca.quantity),
                            pa.value,
                        ));
                    }
                }
            }
        }
    }
    fn dfs(
        instance: &AllocationInstance,
        triples: &[(u64, u64, u64, u64, u64)],
        chosen: &mut Vec<Assignment>,
        best: &mut Score,
    ) {
        let Some(&(provider, consumer, rtype, cap, price)) = triples.first() else {
            if let Some(s) = reference_score(instance, chosen) {
                *best = (*best).max(s);
            }
            return;
        };
        dfs(instance, &triples[1..], chosen, best);
        for quantity in 1..=cap {
            chosen.push(Assignment {
                provider,
                consumer,
                rtype,
                quantity,
                price,
            });
            let feasible = reference_score(instance, chosen).is_some();
            if feasible {
                dfs(instance, &triples[1..], chosen, best);
            }
            chosen.pop();
            if !feasible {
                break;
            }
        }
    }
    let mut best = Score::default();
    dfs(instance, &triples, &mut Vec::new(), &mut best);
    best
}

/// Random small markets: even ids provide, odd ones consume; unequal quantities per offer.
fn market() -> impl Strategy<Value = Vec<InstanceOffer>> {
    prop::collection::vec(
        prop::collection::btree_map(0..3u64, (1..4u64, 0..5u64), 1..3),
        2..6,
    )
    .prop_map(|offers| {
        offers
            .into_iter()
            .enumerate()
            .map(|(i, alts)| {
                let side = if i % 2 == 0 {
                    Side::Provide
                } else {
                    Side::Consume
                };
                let alts: Vec<(u64, u64, u64)> =
                    alts.into_iter().map(|(t, (q, v))| (t, q, v)).collect();
                offer(i as u64, i as u8, side, &alts)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The solver's score equals the pairwise MILP optimum and the exhaustive optimum, the LP
    /// bound is at least it, compact agrees with pairwise, and the answer is feasible by
    /// definition with the score it claims.
    #[test]
    fn solve_is_optimal_on_small_markets(offers in market(), welfare in any::<bool>()) {
        let objective = if welfare { Objective::Welfare } else { Objective::Quantity };
        let i = instance(objective, offers);
        let best = exhaustive(&i);
        let reference = pairwise_optimum(&i, &AllocationSolveOptions::default()).unwrap();
        for formulation in [Formulation::Pairwise, Formulation::Compact] {
            let s = solve(&i, &with(formulation)).unwrap();
            prop_assert_eq!(s.score.primary, best.primary, "{:?}", formulation);
            prop_assert_eq!(s.score, best, "{:?}: lexicographic", formulation);
            prop_assert!((reference - best.primary as f64).abs() < 1e-6);
            prop_assert!(s.lp_objective >= reference - 1e-6);
            prop_assert_eq!(reference_score(&i, &s.assignments), Some(s.score));
        }
        let g = greedy(&i).unwrap();
        prop_assert_eq!(reference_score(&i, &g.assignments), Some(g.score));
        prop_assert!(g.score <= best);
    }

    /// Equal quantities per offer under eq. 6.5: the compact model is solved as a maximum flow,
    /// which reaches the pairwise MILP optimum, with and without price bounds.
    #[test]
    fn max_flow_reaches_the_pairwise_optimum(
        offers in prop::collection::vec(
            (1..5u64, prop::collection::btree_map(0..6u64, 0..6u64, 1..4)), 2..30),
        bound in prop::option::of((0..6u64, 0..6u64)),
    ) {
        let offers = offers
            .into_iter()
            .enumerate()
            .map(|(i, (q, alts))| {
                let side = if i % 2 == 0 { Side::Provide } else { Side::Consume };
                let alts: Vec<(u64, u64, u64)> = alts.into_iter().map(|(t, v)| (t, q, v)).collect();
                offer(i as u64, i as u8, side, &alts)
            })
            .collect();
        let mut i = instance(Objective::Quantity, offers);
        if let Some((a, b)) = bound {
            i.default_bound = Some(PriceBound { min: a.min(b), max: a.max(b) });
        }
        let reference = pairwise_optimum(&i, &AllocationSolveOptions::default()).unwrap();
        let flow = solve(&i, &with(Formulation::Compact)).unwrap();
        prop_assert_eq!(flow.integrality, Integrality::Flow);
        prop_assert!((reference - flow.score.primary as f64).abs() < 1e-6);
        prop_assert!((flow.lp_objective - reference).abs() < 1e-6);
        prop_assert_eq!(solve(&i, &with(Formulation::Pairwise)).unwrap().score, flow.score);
        let again = solve(&i, &with(Formulation::Compact)).unwrap();
        prop_assert_eq!(again.assignments, flow.assignments);
    }

    /// Quantities and values near u64::MAX (inexact in the LP's floats, overflowing sums):
    /// every formulation answers without panicking, and what it returns passes the module's
    /// check with the score it claims.
    #[test]
    fn huge_numbers_never_yield_an_unchecked_answer(
        offers in prop::collection::vec(
            (
                any::<bool>(),
                prop::collection::btree_map(
                    0..3u64,
                    (prop_oneof![1..10u64, 1..=u64::MAX], prop_oneof![0..10u64, any::<u64>()]),
                    1..3,
                ),
            ),
            2..8),
        welfare in any::<bool>(),
    ) {
        let offers = offers
            .into_iter()
            .enumerate()
            .map(|(i, (equal, alts))| {
                let side = if i % 2 == 0 { Side::Provide } else { Side::Consume };
                let first = alts.values().next().map_or(1, |a| a.0);
                let alts: Vec<(u64, u64, u64)> = alts
                    .into_iter()
                    .map(|(t, (q, v))| (t, if equal { first } else { q }, v))
                    .collect();
                offer(i as u64, i as u8, side, &alts)
            })
            .collect();
        let objective = if welfare { Objective::Welfare } else { Objective::Quantity };
        let i = instance(objective, offers);
        let checker = match Checker::new(&i) {
            Ok(c) => c,
            // Only an lcm beyond u64 is refused.
            Err(e) => return { prop_assert!(e.to_string().contains("overflows"), "{}", e); Ok(()) },
        };
        for formulation in [Formulation::Pairwise, Formulation::Compact] {
            match solve(&i, &with(formulation)) {
                Ok(s) => prop_assert_eq!(checker.check(&s.assignments), Ok(s.score)),
                Err(SolverError::Unverified(v)) => prop_assert_eq!(v.reason(), "overflow"),
                Err(SolverError::Status(_)) => {}
                Err(e) => prop_assert!(false, "{:?}: {}", formulation, e),
            }
        }
        if let Ok(g) = greedy(&i) {
            prop_assert_eq!(checker.check(&g.assignments), Ok(g.score));
        }
    }

    /// With price bounds, compact and pairwise agree with the pairwise MILP.
    #[test]
    fn formulations_agree_with_price_bounds(
        offers in market(),
        bound in (0..5u64, 0..5u64),
        welfare in any::<bool>(),
    ) {
        let objective = if welfare { Objective::Welfare } else { Objective::Quantity };
        let mut i = instance(objective, offers);
        i.price_bounds = vec![TypeRange { first: 1, last: 1, value: PriceBound {
            min: bound.0.min(bound.1), max: bound.0.max(bound.1) } }];
        let reference = pairwise_optimum(&i, &AllocationSolveOptions::default()).unwrap();
        let p = solve(&i, &with(Formulation::Pairwise)).unwrap();
        let c = solve(&i, &with(Formulation::Compact)).unwrap();
        prop_assert!((reference - p.score.primary as f64).abs() < 1e-6);
        prop_assert_eq!(p.score, c.score);
    }
}
