//! The spec's golden checks G1 (every rule refused by a solution that breaks it alone, every
//! objective's optimum scored), G2 (exact fractions where 2^32 fixed point fails) and G3 (two
//! cycles to the millisecond, with and without settlement).

use agora_allocation::{AllocationCall as C, *};
use agora_types::Keypair;
use serde_json::json;

mod common;
use common::*;

const A: TypeId = 1;
const B: TypeId = 2;
const TC: TypeId = 3;

/// G1's five offers (ids 0-4), closed: returns the chain at the start of Solve.
fn g1(p: MarketParams, zones: &[(usize, Zone)]) -> Chain {
    let k = keys(6);
    let mut chain = Chain::new(&k.iter().collect::<Vec<_>>());
    chain.ok_at(100, &k[0], C::CreateMarket(p));
    for (who, zone) in zones {
        let account = k[*who].address();
        chain.ok(
            &k[0],
            C::SetZone {
                market: 0,
                account,
                zone: *zone,
            },
        );
    }
    chain.ok(
        &k[1],
        place(Side::Provide, vec![alt(A, 2, 1), alt(B, 4, 2)]),
    );
    chain.ok(&k[2], place(Side::Provide, vec![alt(TC, 3, 5)]));
    chain.ok(&k[3], place(Side::Consume, vec![alt(A, 2, 6)]));
    chain.ok(
        &k[4],
        place(Side::Consume, vec![alt(B, 3, 6), alt(TC, 3, 6)]),
    );
    chain.ok(&k[5], place(Side::Consume, vec![alt(B, 2, 1)]));
    chain.ok_at(1_100, &k[0], CLOSE);
    chain
}

fn solver() -> Keypair {
    Keypair::from_seed(99)
}

fn score(chain: &Chain) -> (u128, u128) {
    let c = chain.market().candidate.score;
    (c.primary, c.quantity)
}

#[test]
fn g1_each_rule_refuses_alone() {
    let mut chain = g1(params(false), &[]);
    let s = solver();
    let cases = [
        (
            vec![asg(0, 2, A, 2, 3), asg(0, 3, B, 1, 4)],
            "eq_6_1_provider_capacity",
        ),
        (
            vec![asg(0, 3, B, 1, 4), asg(1, 3, TC, 3, 5)],
            "eq_6_2_consumer_capacity",
        ),
        (vec![asg(0, 2, A, 1, 0)], "eq_6_3_provider_price"),
        (vec![asg(0, 2, A, 1, 7)], "eq_6_4_consumer_price"),
        (vec![asg(0, 4, B, 1, 2)], "eq_6_4_consumer_price"),
        (vec![asg(1, 2, A, 1, 5)], "type_not_offered"),
        (vec![asg(0, 2, A, 0, 3)], "zero_quantity"),
        (vec![asg(2, 0, A, 1, 3)], "wrong_side"),
        (vec![asg(0, 9, A, 1, 3)], "unknown_offer"),
    ];
    for (solution, reason) in cases {
        assert_eq!(
            chain.refused(&s, submit(solution.clone())),
            reason,
            "{solution:?}"
        );
    }
    assert_eq!(score(&chain), (0, 0), "refusals change nothing");
    // At the exact limits: p1 used 2·2 + 2 = 4 = its scale, prices at the reservation values.
    chain.ok(&s, submit(vec![asg(0, 2, A, 1, 1), asg(0, 3, B, 2, 6)]));
    assert_eq!(score(&chain), (3, 3));
}

#[test]
fn g1_objectives_score_their_optima() {
    let mut chain = g1(params(false), &[]);
    chain.ok(
        &solver(),
        submit(vec![asg(0, 2, A, 2, 3), asg(1, 3, TC, 3, 5)]),
    );
    assert_eq!(score(&chain), (5, 5));

    let range = |first, last, value| TypeRange { first, last, value };
    let mut p = params(false);
    p.objective = Objective::TypeUtility {
        default_beta: 1,
        betas: vec![range(B, B, 3)],
    };
    let mut chain = g1(p, &[]);
    chain.ok(&solver(), submit(vec![asg(0, 3, B, 3, 4)]));
    assert_eq!(score(&chain), (9, 3));

    let mut p = params(false);
    p.objective = Objective::Welfare;
    let mut chain = g1(p, &[]);
    // The floor of the LP point, welfare 12, loses to the MILP optimum 14.
    chain.ok(&solver(), submit(vec![asg(0, 3, B, 3, 4)]));
    assert_eq!(score(&chain), (12, 3));
    let best = vec![asg(0, 2, A, 1, 3), asg(0, 3, B, 2, 4), asg(1, 3, TC, 1, 5)];
    chain.ok(&solver(), submit(best));
    assert_eq!(score(&chain), (14, 4));
}

#[test]
fn g1_extensions_are_enforced() {
    let mut p = params(false);
    p.price_bounds = vec![TypeRange {
        first: A,
        last: A,
        value: PriceBound { min: 7, max: 9 },
    }];
    let mut chain = g1(p, &[]);
    let s = solver();
    assert_eq!(
        chain.refused(&s, submit(vec![asg(0, 2, A, 1, 6)])),
        "eq_6_13_price_bounds"
    );
    chain.ok(&s, submit(vec![asg(0, 3, B, 3, 4)]));

    let zr = |provider, consumer, first, last| ZoneRule {
        provider,
        consumer,
        first,
        last,
    };
    let mut p = params(false);
    p.pairs = PairRule::Zones {
        allowed: vec![
            zr(1, 3, 0, u64::MAX),
            zr(1, 4, 0, u64::MAX),
            zr(2, 3, 0, u64::MAX),
            zr(2, 4, 0, TC - 1),
            zr(2, 4, TC + 1, u64::MAX),
        ],
    };
    let mut chain = g1(p, &[(1, 1), (2, 2), (3, 3), (4, 4)]);
    let msg = chain.refused(&s, submit(vec![asg(1, 3, TC, 1, 5)]));
    assert_eq!(msg, "eq_6_14_pair_not_allowed");
    chain.ok(&s, submit(vec![asg(0, 2, A, 2, 3)]));
}

/// G2: rounding each term down to 2^-32 would accept this; the exact scale refuses it, and
/// accepts 1/3 + 1/3 + 1/3, which rounding up would refuse.
#[test]
fn g2_exact_fractions() {
    let k = keys(4);
    let mut chain = Chain::new(&k.iter().collect::<Vec<_>>());
    let mut p = params(false);
    p.max_quantity = 100_000;
    chain.ok_at(100, &k[0], C::CreateMarket(p));
    chain.ok(
        &k[1],
        place(Side::Provide, vec![alt(1, 60_000, 0), alt(2, 60_001, 0)]),
    );
    chain.ok(
        &k[2],
        place(Side::Consume, vec![alt(1, 60_000, 0), alt(2, 60_001, 0)]),
    );
    chain.ok(
        &k[1],
        place(
            Side::Provide,
            vec![alt(1, 3, 0), alt(2, 3, 0), alt(3, 3, 0)],
        ),
    );
    for _ in 0..3 {
        chain.ok(
            &k[3],
            place(
                Side::Consume,
                vec![alt(1, 1, 0), alt(2, 1, 0), alt(3, 1, 0)],
            ),
        );
    }
    let offer: Offer =
        serde_json::from_value(chain.query("offer", json!({"market": 0, "offer": 0}))).unwrap();
    assert_eq!(offer.scale, 3_600_060_000);
    chain.ok_at(1_100, &k[0], CLOSE);
    let s = solver();
    let msg = chain.refused(
        &s,
        submit(vec![asg(0, 1, 1, 1, 0), asg(0, 1, 2, 60_000, 0)]),
    );
    assert_eq!(msg, "eq_6_1_provider_capacity");
    chain.ok(
        &s,
        submit(vec![
            asg(2, 3, 1, 1, 0),
            asg(2, 4, 2, 1, 0),
            asg(2, 5, 3, 1, 0),
        ]),
    );
    assert_eq!(score(&chain), (3, 3));
}

fn update(offer: OfferId, alternatives: Vec<Alternative>) -> C {
    C::UpdateOffer {
        market: 0,
        offer,
        updates: alternatives,
    }
}

/// G3 as written in the spec, transaction by transaction; with `settle` the variant's payments.
fn g3(settle: bool) {
    let [a, b, s, t, x] = [1, 2, 3, 4, 5].map(Keypair::from_seed);
    let mut chain = Chain::new(&[&a, &b, &s, &t, &x]);
    chain.ok_at(100, &a, C::CreateMarket(params(settle)));
    let m = chain.market();
    assert_eq!(
        (m.cycle, m.phase, m.phase_since_ms, m.admin),
        (0, Phase::Receive, 100, a.address())
    );
    chain.ok_at(
        101,
        &a,
        C::CreateOffer {
            market: 0,
            side: Side::Provide,
            misc: 7,
        },
    );
    assert_eq!(
        chain.refused_at(102, &b, update(0, vec![alt(1, 2, 5)])),
        "not_owner"
    );
    chain.ok_at(103, &a, update(0, vec![alt(1, 2, 5)]));
    let posted = chain.ok_at(
        104,
        &a,
        C::PostOffer {
            market: 0,
            offer: 0,
        },
    );
    assert_eq!(posted.events.last().unwrap().data["scale"], 2);
    assert_eq!(
        chain.refused_at(
            105,
            &a,
            C::PostOffer {
                market: 0,
                offer: 0
            }
        ),
        "offer_posted"
    );
    assert_eq!(
        chain.refused_at(106, &a, update(0, vec![alt(2, 1, 5)])),
        "offer_posted"
    );
    chain.ok_at(
        107,
        &b,
        C::CreateOffer {
            market: 0,
            side: Side::Consume,
            misc: 0,
        },
    );
    chain.ok_at(108, &b, update(1, vec![alt(1, 1, 6)]));
    chain.ok_at(
        109,
        &b,
        C::PostOffer {
            market: 0,
            offer: 1,
        },
    );
    if settle {
        assert_eq!(chain.balance(&b), FUNDS - 6, "hold max_t Q·V (F1)");
    }
    assert_eq!(
        chain.refused_at(110, &s, submit(vec![asg(0, 1, 1, 1, 5)])),
        "wrong_phase"
    );
    assert_eq!(chain.refused_at(1_099, &x, CLOSE), "not_due");
    let closed = chain.ok_at(1_100, &x, CLOSE);
    assert_eq!(
        closed.events[0].data,
        json!({"market": 0, "cycle": 0, "posted_offers": 2})
    );
    assert_eq!(
        (chain.market().phase, chain.market().phase_since_ms),
        (Phase::Solve, 1_100)
    );
    assert_eq!(
        chain.refused_at(
            1_101,
            &a,
            C::CancelOffer {
                market: 0,
                offer: 0
            }
        ),
        "wrong_phase"
    );
    let cases = [
        (1_102, asg(0, 1, 1, 2, 5), "eq_6_2_consumer_capacity"),
        (1_103, asg(0, 1, 1, 1, 7), "eq_6_4_consumer_price"),
        (1_104, asg(0, 1, 1, 1, 4), "eq_6_3_provider_price"),
        (1_105, asg(0, 1, 2, 1, 5), "type_not_offered"),
    ];
    for (at, a, reason) in cases {
        assert_eq!(chain.refused_at(at, &s, submit(vec![a])), reason);
    }
    let accepted = chain.ok_at(1_106, &s, submit(vec![asg(0, 1, 1, 1, 5)]));
    assert!(accepted
        .events
        .iter()
        .any(|e| e.name == "SolutionAccepted" && e.data["solution"] == 0));
    assert_eq!(chain.market().candidate.solution, Some(0));
    chain.ok_at(1_107, &t, C::CreateSolution { market: 0, misc: 0 });
    let add = |assignments| C::AddAssignments {
        market: 0,
        solution: 1,
        assignments,
    };
    let added = chain.ok_at(1_108, &t, add(vec![asg(0, 1, 1, 1, 6)]));
    assert!(
        added.events.iter().all(|e| e.name != "SolutionAccepted"),
        "a tie keeps the earlier"
    );
    assert_eq!(chain.market().candidate.solution, Some(0));
    assert_eq!(
        chain.refused_at(1_109, &s, add(vec![asg(0, 1, 1, 1, 5)])),
        "not_solution_creator"
    );
    assert_eq!(
        chain.refused_at(1_110, &t, add(vec![asg(0, 1, 1, 1, 5)])),
        "eq_6_2_consumer_capacity"
    );
    assert_eq!(
        chain.refused_at(1_111, &t, submit(vec![asg(0, 1, 1, 1, 6)])),
        "solution_not_better"
    );
    if settle {
        let release = C::ReleaseOffer {
            market: 0,
            offer: 1,
        };
        assert_eq!(chain.refused_at(1_112, &b, release), "not_final");
    }
    assert_eq!(chain.refused_at(2_099, &x, FINALIZE), "not_due");
    let fin = chain.ok_at(2_100, &x, FINALIZE);
    let event = fin.events.iter().find(|e| e.name == "Finalized").unwrap();
    assert_eq!(event.data["cycle"], 0);
    assert_eq!(event.data["solution"], 0);
    assert_eq!(event.data["score"], json!({"primary": 1, "quantity": 1}));
    assert_eq!(event.data["assignments"], json!([asg(0, 1, 1, 1, 5)]));
    let m = chain.market();
    assert_eq!(
        (m.cycle, m.phase, m.phase_since_ms),
        (1, Phase::Receive, 2_100)
    );
    assert_eq!(
        (m.candidate.solution, m.candidate.score),
        (None, Score::default())
    );
    if settle {
        assert_eq!(chain.balance(&a), FUNDS + 5);
        chain.ok_at(
            2_100,
            &x,
            C::ReleaseOffer {
                market: 0,
                offer: 1,
            },
        );
        assert_eq!(
            chain.balance(&b),
            FUNDS - 5,
            "the rest of the hold returned"
        );
        let again = chain.refused_at(
            2_100,
            &x,
            C::ReleaseOffer {
                market: 0,
                offer: 1,
            },
        );
        assert_eq!(again, "nothing_held");
    }
    let record0 = chain.query("finalized", json!({"market": 0, "cycle": 0}));
    assert_eq!(
        chain.refused_at(2_101, &s, submit(vec![asg(0, 1, 1, 1, 5)])),
        "wrong_phase"
    );
    chain.ok_at(
        2_102,
        &a,
        C::CreateOffer {
            market: 0,
            side: Side::Provide,
            misc: 0,
        },
    );
    chain.ok_at(2_103, &a, update(2, vec![alt(1, 1, 5)]));
    chain.ok_at(
        2_104,
        &a,
        C::PostOffer {
            market: 0,
            offer: 2,
        },
    );
    chain.ok_at(
        2_105,
        &b,
        C::CreateOffer {
            market: 0,
            side: Side::Consume,
            misc: 0,
        },
    );
    chain.ok_at(2_106, &b, update(3, vec![alt(1, 1, 6)]));
    chain.ok_at(
        2_107,
        &b,
        C::PostOffer {
            market: 0,
            offer: 3,
        },
    );
    assert_eq!(chain.refused_at(3_099, &x, CLOSE), "not_due");
    chain.ok_at(3_100, &x, CLOSE);
    assert_eq!(
        chain.refused_at(3_101, &s, submit(vec![asg(0, 1, 1, 1, 5)])),
        "offer_other_cycle"
    );
    // The prototype, comparing with the stale best score 1, would refuse this.
    chain.ok_at(3_102, &s, submit(vec![asg(2, 3, 1, 1, 5)]));
    assert_eq!(chain.market().candidate.solution, Some(2));
    let fin = chain.ok_at(4_100, &x, FINALIZE);
    let event = fin.events.iter().find(|e| e.name == "Finalized").unwrap();
    assert_eq!(
        (event.data["cycle"].clone(), event.data["solution"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        chain.query("finalized", json!({"market": 0, "cycle": 0})),
        record0,
        "P9"
    );
    if settle {
        assert_eq!(chain.balance(&a), FUNDS + 10);
    }
}

#[test]
fn g3_two_cycles_to_the_millisecond() {
    g3(false);
}

#[test]
fn g3_with_settlement_pays_from_holds_and_releases_once() {
    g3(true);
}
