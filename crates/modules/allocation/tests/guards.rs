//! Every call's guards: each refused, with its reason code, by a call that breaks it alone;
//! and many consecutive cycles.

use agora_allocation::{AllocationCall as C, *};
use agora_types::Keypair;
use serde_json::json;

mod common;
use common::*;

fn market(p: MarketParams) -> (Chain, Vec<Keypair>) {
    let k = keys(4);
    let mut chain = Chain::new(&k.iter().collect::<Vec<_>>());
    chain.ok_at(100, &k[0], C::CreateMarket(p));
    (chain, k)
}

#[test]
fn create_market_refuses_bad_parameters() {
    let (mut chain, k) = market(params(false));
    let range = |first, last| TypeRange {
        first,
        last,
        value: PriceBound { min: 1, max: 2 },
    };
    type Change = Box<dyn Fn(&mut MarketParams)>;
    let bad: Vec<Change> = vec![
        Box::new(|p| p.receive_ms = 0),
        Box::new(|p| p.solve_ms = 0),
        Box::new(|p| p.max_quantity = 0),
        Box::new(|p| p.max_types_per_offer = 1_025),
        Box::new(|p| p.max_offers_per_cycle = 0),
        Box::new(|p| p.default_bound = Some(PriceBound { min: 3, max: 2 })),
        Box::new(move |p| p.price_bounds = vec![range(5, 9), range(9, 12)]),
        Box::new(move |p| p.price_bounds = vec![range(5, 4)]),
        Box::new(|p| {
            let zr = |first, last| ZoneRule {
                provider: 1,
                consumer: 1,
                first,
                last,
            };
            p.pairs = PairRule::Zones {
                allowed: vec![zr(0, 5), zr(5, 6)],
            }
        }),
    ];
    for change in bad {
        let mut p = params(false);
        change(&mut p);
        assert_eq!(chain.refused(&k[1], C::CreateMarket(p)), "invalid_params");
    }
    let none = chain
        .exec
        .query("allocation", "market", &json!({"market": 1}));
    assert!(none.is_err(), "refused markets are not created");
}

#[test]
fn offer_calls_refuse_each_broken_guard() {
    let mut p = params(true);
    p.max_types_per_offer = 2;
    p.max_offers_per_cycle = 3;
    let (mut chain, k) = market(p);
    let (admin, a, b) = (&k[0], &k[1], &k[2]);
    let zone = C::SetZone {
        market: 0,
        account: a.address(),
        zone: 1,
    };
    assert_eq!(chain.refused(a, zone.clone()), "not_admin");
    chain.ok(admin, zone);
    assert_eq!(
        chain.refused(
            a,
            C::CreateOffer {
                market: 7,
                side: Side::Provide,
                misc: 0
            }
        ),
        "unknown_market"
    );
    chain.ok(
        a,
        C::CreateOffer {
            market: 0,
            side: Side::Consume,
            misc: 0,
        },
    );
    let update = |updates| C::UpdateOffer {
        market: 0,
        offer: 0,
        updates,
    };
    assert_eq!(
        chain.refused(
            a,
            C::UpdateOffer {
                market: 0,
                offer: 5,
                updates: vec![]
            }
        ),
        "unknown_offer"
    );
    assert_eq!(
        chain.refused(a, update(vec![alt(1, 1_001, 1)])),
        "quantity_too_large"
    );
    assert_eq!(
        chain.refused(a, update(vec![alt(1, 1, 1), alt(2, 1, 1), alt(3, 1, 1)])),
        "too_many_types"
    );
    assert_eq!(
        chain.refused(a, update(vec![alt(1, 1, 1); 1_025])),
        "too_many_updates"
    );
    assert_eq!(
        chain.refused(
            a,
            C::PostOffer {
                market: 0,
                offer: 0
            }
        ),
        "no_alternatives"
    );
    assert_eq!(
        chain.refused(
            a,
            C::CancelOffer {
                market: 0,
                offer: 0
            }
        ),
        "offer_not_posted"
    );
    // Quantity 0 removes an alternative.
    chain.ok(a, update(vec![alt(1, 5, 2), alt(2, 7, 1)]));
    chain.ok(a, update(vec![alt(2, 0, 0)]));
    let offer: Offer =
        serde_json::from_value(chain.query("offer", json!({"market": 0, "offer": 0}))).unwrap();
    assert_eq!(offer.alternatives, vec![alt(1, 5, 2)]);
    // Settlement: the hold is refused, with the bank's code, beyond the owner's funds.
    chain.ok(a, update(vec![alt(1, 5, FUNDS)]));
    assert_eq!(
        chain.refused(
            a,
            C::PostOffer {
                market: 0,
                offer: 0
            }
        ),
        "insufficient_funds"
    );
    chain.ok(a, update(vec![alt(1, 5, 2)]));
    chain.ok(
        a,
        C::PostOffer {
            market: 0,
            offer: 0,
        },
    );
    assert_eq!(chain.balance(a), FUNDS - 10);
    assert_eq!(
        chain.refused(
            b,
            C::CancelOffer {
                market: 0,
                offer: 0
            }
        ),
        "not_owner"
    );
    // Canceled: the hold returns, and the offer may be updated and posted again (A10).
    chain.ok(
        a,
        C::CancelOffer {
            market: 0,
            offer: 0,
        },
    );
    assert_eq!(chain.balance(a), FUNDS);
    chain.ok(a, update(vec![alt(1, 4, 2)]));
    chain.ok(
        a,
        C::PostOffer {
            market: 0,
            offer: 0,
        },
    );
    // Malformed offers are refused before they cost state.
    let placed = |alternatives| place(Side::Provide, alternatives);
    assert_eq!(
        chain.refused(b, placed(vec![alt(1, 0, 1)])),
        "zero_quantity"
    );
    assert_eq!(
        chain.refused(b, placed(vec![alt(2, 1, 1), alt(1, 1, 1)])),
        "unsorted_types"
    );
    assert_eq!(
        chain.refused(b, placed(vec![alt(1, 1, 1), alt(1, 2, 1)])),
        "unsorted_types"
    );
    assert_eq!(
        chain.refused(b, placed(vec![alt(1, 1, 1), alt(2, 1, 1), alt(3, 1, 1)])),
        "too_many_types"
    );
    let mut wide = params(false);
    wide.max_quantity = u64::MAX;
    chain.ok(admin, C::CreateMarket(wide));
    let huge = C::PlaceOffer {
        market: 1,
        side: Side::Provide,
        misc: 0,
        alternatives: vec![alt(1, u64::MAX, 0), alt(2, u64::MAX - 1, 0)],
    };
    assert_eq!(chain.refused(b, huge), "offer_scale_overflow");
    assert_eq!(chain.market().next_offer, 1, "refused offers take no id");
    chain.ok(b, placed(vec![alt(1, 3, 1)]));
    chain.ok(b, placed(vec![alt(1, 3, 1)]));
    assert_eq!(
        chain.refused(b, placed(vec![alt(1, 3, 1)])),
        "too_many_offers"
    );
    // Solve: every offer call is out of phase.
    chain.ok_at(1_100, b, CLOSE);
    for call in [
        C::SetZone {
            market: 0,
            account: b.address(),
            zone: 2,
        },
        C::CreateOffer {
            market: 0,
            side: Side::Provide,
            misc: 0,
        },
        update(vec![alt(1, 1, 1)]),
        C::PostOffer {
            market: 0,
            offer: 0,
        },
        C::CancelOffer {
            market: 0,
            offer: 0,
        },
        placed(vec![alt(1, 1, 1)]),
        CLOSE,
    ] {
        assert_eq!(chain.refused(admin, call), "wrong_phase");
    }
    // A new cycle: the old offer can no longer be touched.
    chain.ok_at(2_100, b, FINALIZE);
    assert_eq!(
        chain.refused(
            a,
            C::CancelOffer {
                market: 0,
                offer: 0
            }
        ),
        "offer_other_cycle"
    );
    assert_eq!(
        chain.refused(a, update(vec![alt(1, 1, 1)])),
        "offer_other_cycle"
    );
    assert_eq!(chain.refused(a, FINALIZE), "wrong_phase");
}

#[test]
fn solution_calls_refuse_each_broken_guard() {
    let mut p = params(false);
    p.max_solutions_per_cycle = 2;
    let (mut chain, k) = market(p);
    let (a, b, s, t) = (&k[0], &k[1], &k[2], &k[3]);
    chain.ok(a, place(Side::Provide, vec![alt(1, 4, 1)]));
    chain.ok(b, place(Side::Consume, vec![alt(1, 4, 3)]));
    chain.ok(
        b,
        C::CreateOffer {
            market: 0,
            side: Side::Consume,
            misc: 0,
        },
    );
    assert_eq!(
        chain.refused(s, C::CreateSolution { market: 0, misc: 0 }),
        "wrong_phase"
    );
    chain.ok_at(1_100, t, CLOSE);
    assert_eq!(
        chain.refused(s, submit(vec![asg(0, 2, 1, 1, 2)])),
        "offer_not_posted"
    );
    assert_eq!(chain.refused(s, submit(vec![])), "empty_part");
    assert_eq!(
        chain.refused(s, submit(vec![asg(0, 1, 1, 1, 2); 20_001])),
        "too_many_assignments"
    );
    let add = |solution, assignments| C::AddAssignments {
        market: 0,
        solution,
        assignments,
    };
    assert_eq!(
        chain.refused(s, add(0, vec![asg(0, 1, 1, 1, 2)])),
        "unknown_solution"
    );
    chain.ok(s, C::CreateSolution { market: 0, misc: 1 });
    assert_eq!(chain.refused(s, add(0, vec![])), "empty_part");
    // Staged in parts: the candidate grows with its own solution.
    chain.ok(s, add(0, vec![asg(0, 1, 1, 1, 2)]));
    chain.ok(s, add(0, vec![asg(0, 1, 1, 2, 2)]));
    assert_eq!(
        chain.market().candidate.score,
        Score {
            primary: 3,
            quantity: 3
        }
    );
    let solution = chain.query("solution", json!({"market": 0, "solution": 0}));
    assert_eq!(
        (
            solution["parts"].clone(),
            solution["assignments"].as_array().unwrap().len()
        ),
        (json!(2), 2)
    );
    // Another solver's whole solution must beat it strictly.
    assert_eq!(
        chain.refused(t, submit(vec![asg(0, 1, 1, 3, 2)])),
        "solution_not_better"
    );
    chain.ok(t, submit(vec![asg(0, 1, 1, 4, 2)]));
    assert_eq!(chain.market().candidate.solution, Some(1));
    assert_eq!(
        chain.refused(t, C::CreateSolution { market: 0, misc: 0 }),
        "too_many_solutions"
    );
    chain.ok_at(2_100, t, FINALIZE);
    // Next cycle: the old solution is closed to everyone.
    chain.ok(a, place(Side::Provide, vec![alt(1, 4, 1)]));
    chain.ok_at(3_200, t, CLOSE);
    assert_eq!(
        chain.refused(s, add(0, vec![asg(0, 1, 1, 1, 2)])),
        "solution_other_cycle"
    );
    assert_eq!(
        chain.refused(
            a,
            C::ReleaseOffer {
                market: 0,
                offer: 3
            }
        ),
        "not_final"
    );
    assert_eq!(
        chain.refused(
            a,
            C::ReleaseOffer {
                market: 0,
                offer: 0
            }
        ),
        "nothing_held"
    );
}

/// The prototype's finalize left the stale best score in place, so every cycle after the first
/// refused all solutions; here each of five cycles accepts and finalizes a positive score.
#[test]
fn many_consecutive_cycles_each_finalize_a_solution() {
    let (mut chain, k) = market(params(true));
    let (a, b, s) = (&k[0], &k[1], &k[2]);
    let mut now = 100;
    for cycle in 0..5u64 {
        let first = chain.market().next_offer;
        chain.ok(a, place(Side::Provide, vec![alt(1, 2, 1)]));
        chain.ok(b, place(Side::Consume, vec![alt(1, 2, 3)]));
        now += 1_000;
        chain.ok_at(now, s, CLOSE);
        chain.ok(s, submit(vec![asg(first, first + 1, 1, cycle % 2 + 1, 2)]));
        now += 1_000;
        chain.ok_at(now, s, FINALIZE);
        let record = chain.query("finalized", json!({"market": 0, "cycle": cycle}));
        assert_eq!(record["record"]["score"]["quantity"], cycle % 2 + 1);
        chain.ok(
            b,
            C::ReleaseOffer {
                market: 0,
                offer: first + 1,
            },
        );
    }
    // a was paid 2 per unit traded: 1 + 2 + 1 + 2 + 1 = 7 units.
    assert_eq!(chain.balance(a), FUNDS + 14);
    assert_eq!(chain.balance(b), FUNDS - 14);
    // A cycle with no solution finalizes the empty allocation.
    now += 1_000;
    chain.ok_at(now, s, CLOSE);
    now += 1_000;
    let empty = chain.ok_at(now, s, FINALIZE);
    assert_eq!(empty.events[0].data["assignments"], json!([]));
}
