//! The energy market through the executor, block by block, as validators would run it.

use agora_energy::{EnergyCall, Side};
use agora_types::Keypair;

mod common;

use common::*;

#[test]
fn each_violated_constraint_is_named() {
    let Setup {
        mut chain, a, b, c, ..
    } = setup((60, 60), (100, 40));
    withdraw(&mut chain, &a, Side::Sell, 0, 100);
    withdraw(&mut chain, &b, Side::Buy, 0, 100);
    withdraw(&mut chain, &c, Side::Buy, 1, 100);
    let s1 = offer(&mut chain, &a, Side::Sell, 0, 50, vec![12, 13], 10);
    let s2 = offer(&mut chain, &a, Side::Sell, 0, 60, vec![12], 10);
    let b1 = offer(&mut chain, &b, Side::Buy, 0, 100, vec![12, 14], 20);
    let c1 = offer(&mut chain, &c, Side::Buy, 1, 100, vec![12, 13], 15);
    let cheap = offer(&mut chain, &c, Side::Buy, 1, 10, vec![13], 5);

    // eq. 2.1: no common interval; a buyer's price below the seller's.
    assert!(chain
        .refused(&a, solution(vec![trade(s1, b1, 13, 5, 15)]))
        .starts_with("eq_2_1"));
    assert!(chain
        .refused(&a, solution(vec![trade(s1, cheap, 13, 5, 7)]))
        .starts_with("eq_2_1"));
    // eq. 2.3: a price outside [R_s, R_b].
    assert!(chain
        .refused(&a, solution(vec![trade(s1, b1, 12, 5, 21)]))
        .starts_with("eq_2_3"));
    assert!(chain
        .refused(&a, solution(vec![trade(s1, b1, 12, 5, 9)]))
        .starts_with("eq_2_3"));
    // eq. 2.2: offer s1 (50 Wh) trades 30 + 30 over its two intervals; everything else holds.
    let msg = chain.refused(
        &a,
        solution(vec![trade(s1, c1, 12, 30, 12), trade(s1, c1, 13, 30, 12)]),
    );
    assert!(msg.starts_with("eq_2_2"), "{msg}");
    // eq. 2.5: both of a's offers are covered alone, but together exceed its 100 Wh of assets.
    let msg = chain.refused(
        &a,
        solution(vec![trade(s1, c1, 12, 50, 12), trade(s2, b1, 12, 60, 15)]),
    );
    assert!(msg.starts_with("eq_2_5"), "{msg}");
    // eq. 2.6: feeder 1 (internal limit 60) moves 70 Wh within itself; net 0.
    let msg = chain.refused(
        &a,
        solution(vec![trade(s1, b1, 12, 40, 15), trade(s2, b1, 12, 30, 15)]),
    );
    assert!(msg.starts_with("eq_2_6"), "{msg}");
    // eq. 2.7: feeder 2 (external limit 40) imports 45 Wh; internal 45 <= 100.
    let msg = chain.refused(&a, solution(vec![trade(s1, c1, 12, 45, 12)]));
    assert!(msg.starts_with("eq_2_7"), "{msg}");
    // Unsorted or repeated trades.
    assert!(chain
        .refused(
            &a,
            solution(vec![trade(s1, b1, 12, 1, 15), trade(s1, b1, 12, 1, 15)])
        )
        .starts_with("solution_unsorted"));

    // A feasible solution is accepted; an equal one is not; a better one is.
    chain.ok(&b, solution(vec![trade(s1, b1, 12, 20, 15)]));
    assert!(chain
        .refused(&c, solution(vec![trade(s1, c1, 12, 20, 12)]))
        .starts_with("solution_not_better"));
    chain.ok(
        &c,
        solution(vec![trade(s1, b1, 12, 20, 15), trade(s1, c1, 13, 30, 12)]),
    );
    assert_eq!(
        chain.query("market", serde_json::json!({"market": 0}))["candidate"]["energy"],
        50
    );
    // A worse one leaves the candidate as it was.
    let candidate = chain.query("candidate", serde_json::json!({"market": 0}));
    assert!(chain
        .refused(&a, solution(vec![trade(s1, c1, 13, 10, 12)]))
        .starts_with("solution_not_better"));
    assert_eq!(
        chain.query("candidate", serde_json::json!({"market": 0})),
        candidate
    );
}

#[test]
fn finalization_pays_exchanges_and_never_changes() {
    let Setup {
        mut chain,
        dso,
        a,
        b,
        c,
    } = setup((100, 100), (100, 100));
    withdraw(&mut chain, &a, Side::Sell, 0, 100);
    withdraw(&mut chain, &b, Side::Buy, 0, 100);
    withdraw(&mut chain, &c, Side::Buy, 1, 100);
    let s = offer(&mut chain, &a, Side::Sell, 0, 80, vec![12, 13, 14], 10);
    let bo = offer(&mut chain, &b, Side::Buy, 0, 50, vec![12], 20);
    let co = offer(&mut chain, &c, Side::Buy, 1, 40, vec![13, 14], 16);
    let (a0, b0, c0) = (chain.balance(&a), chain.balance(&b), chain.balance(&c));
    assert_eq!(b0, FUNDS - 50 * 20, "a buying offer holds its funds");
    chain.ok(
        &c,
        solution(vec![
            trade(s, bo, 12, 50, 15),
            trade(s, co, 13, 10, 13),
            trade(s, co, 14, 20, 13),
        ]),
    );

    let assets_before = total_assets(&chain, &[&a, &b, &c], 12);
    // Interval 12 is due once interval 12 - T_clear - 1 = 10 ended.
    assert!(chain
        .refused(&dso, EnergyCall::Finalize { market: 0 })
        .starts_with("not_due"));
    chain.now = START + 11 * DELTA;
    let r = chain.ok(&b, EnergyCall::Finalize { market: 0 }); // anyone may call it
                                                              // The exchange moves assets between accounts; it creates and destroys none.
    assert_eq!(total_assets(&chain, &[&a, &b, &c], 12), assets_before);
    let finalized: Vec<u64> = r
        .events
        .iter()
        .filter(|e| e.name == "Finalized")
        .map(|e| e.data["interval"].as_u64().unwrap())
        .collect();
    assert_eq!(*finalized.last().unwrap(), 12);
    let final12 = chain.query(
        "finalized",
        serde_json::json!({"market": 0, "interval": 12}),
    );
    assert_eq!(final12[0]["energy"], 50);
    // b paid 50 * 15 from its hold; its offer closed (last interval 12) and returned the rest.
    assert_eq!(chain.balance(&a), a0 + 750);
    assert_eq!(chain.balance(&b), FUNDS - 750);
    // Assets were exchanged: b now holds production assets of a's group for interval 12.
    let assets = chain.query(
        "assets",
        serde_json::json!({"market": 0, "account": b.address().to_string(), "interval": 12}),
    );
    assert!(assets
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["side"] == "sell" && x["energy"] == 50));

    // A later, better solution cannot touch interval 12 (eq. 2.9) ...
    assert!(chain
        .refused(&a, solution(vec![trade(s, bo, 12, 1, 15)]))
        .starts_with("eq_2_9"));
    // ... and the old candidate keeps serving later intervals while solvers are silent.
    chain.now = START + 13 * DELTA;
    chain.ok(&dso, EnergyCall::Finalize { market: 0 });
    assert_eq!(
        chain.query(
            "finalized",
            serde_json::json!({"market": 0, "interval": 13})
        )[0]["energy"],
        10
    );
    assert_eq!(
        chain.query(
            "finalized",
            serde_json::json!({"market": 0, "interval": 14})
        )[0]["energy"],
        20
    );
    assert_eq!(
        chain.query(
            "finalized",
            serde_json::json!({"market": 0, "interval": 12})
        ),
        final12
    );
    assert_eq!(chain.balance(&c), c0 + 40 * 16 - 30 * 13);
    assert_eq!(chain.balance(&a), a0 + 750 + 30 * 13);
}

#[test]
fn access_limits_and_assets() {
    let Setup {
        mut chain,
        dso,
        a,
        b,
        ..
    } = setup((100, 100), (100, 100));
    let stranger = Keypair::from_seed(50);
    assert!(chain
        .refused(&a, group(vec![3], 1, 1))
        .starts_with("not_dso"));
    let meter = Keypair::from_seed(120).address();
    assert!(chain
        .refused(
            &a,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: stranger.address(),
                feeder: 1,
                l_prod: 1,
                l_cons: 1
            }
        )
        .starts_with("not_dso"));
    assert!(chain
        .refused(
            &dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: stranger.address(),
                feeder: 9,
                l_prod: 1,
                l_cons: 1
            }
        )
        .starts_with("no_feeder_group"));
    chain.ok(
        &dso,
        EnergyCall::RegisterSmartMeter {
            market: 0,
            meter,
            prosumer: stranger.address(),
            feeder: 1,
            l_prod: 10,
            l_cons: 10,
        },
    );
    assert!(chain
        .refused(&a, EnergyCall::RegisterProsumer { market: 0, meter })
        .starts_with("not_certified"));
    // Limits hold across withdrawals.
    withdraw(&mut chain, &a, Side::Sell, 0, 60);
    let msg = chain.refused(
        &a,
        EnergyCall::WithdrawAssets {
            market: 0,
            side: Side::Sell,
            group: 0,
            energy: 41,
            first: 15,
            last: 15,
        },
    );
    assert!(msg.starts_with("exceeds_prosumer_limit"), "{msg}");
    assert!(chain
        .refused(
            &a,
            EnergyCall::WithdrawAssets {
                market: 0,
                side: Side::Sell,
                group: 1,
                energy: 1,
                first: 15,
                last: 15
            }
        )
        .starts_with("not_in_group"));
    assert!(chain
        .refused(
            &stranger,
            EnergyCall::WithdrawAssets {
                market: 0,
                side: Side::Sell,
                group: 0,
                energy: 1,
                first: 15,
                last: 15
            }
        )
        .starts_with("not_a_prosumer"));
    // Offers need assets; assets behind an open offer do not move; free ones do, keeping their group.
    assert!(chain
        .refused(
            &b,
            EnergyCall::PostOffer {
                market: 0,
                side: Side::Sell,
                group: 0,
                energy: 1,
                intervals: vec![12],
                price: 1
            }
        )
        .starts_with("insufficient_assets"));
    offer(&mut chain, &a, Side::Sell, 0, 60, vec![12], 1);
    assert!(chain
        .refused(
            &a,
            EnergyCall::TransferAssets {
                market: 0,
                to: stranger.address(),
                side: Side::Sell,
                group: 0,
                interval: 12,
                energy: 10
            }
        )
        .starts_with("assets_in_use"));
    chain.ok(
        &a,
        EnergyCall::TransferAssets {
            market: 0,
            to: stranger.address(),
            side: Side::Sell,
            group: 0,
            interval: 13,
            energy: 10,
        },
    );
    offer(&mut chain, &stranger, Side::Sell, 0, 10, vec![13], 1);
    // The past is closed.
    chain.now = START;
    chain.ok(&dso, EnergyCall::Finalize { market: 0 });
    assert!(chain
        .refused(
            &a,
            EnergyCall::PostOffer {
                market: 0,
                side: Side::Sell,
                group: 0,
                energy: 1,
                intervals: vec![1],
                price: 1
            }
        )
        .starts_with("interval_final"));
}

#[test]
fn privacy_groups_must_be_safe() {
    // Feeder 1: limit 100, its prosumers a and b can produce 200 (eq. 2.17 applies);
    // feeder 2: limit 300, c can produce 100.
    let Setup { mut chain, dso, .. } = setup((100, 100), (300, 300));
    let msg = chain.refused(&dso, group(vec![1, 2], 150, 100));
    assert!(msg.starts_with("unsafe_group"), "{msg}");
    chain.ok(&dso, group(vec![1, 2], 100, 100));
    // Feeders 3 and 4 cannot be overloaded by their prosumers (eq. 2.19): limits add up.
    chain.ok(&dso, group(vec![3], 100, 100));
    chain.ok(&dso, group(vec![4], 100, 100));
    chain.ok(&dso, group(vec![3, 4], 200, 200));
    // A meter that would let feeder 3's prosumers overload it makes that group unsafe: refused.
    let big = Keypair::from_seed(130).address();
    let msg = chain.refused(
        &dso,
        EnergyCall::RegisterSmartMeter {
            market: 0,
            meter: big,
            prosumer: Keypair::from_seed(131).address(),
            feeder: 3,
            l_prod: 150,
            l_cons: 10,
        },
    );
    assert!(msg.starts_with("unsafe_group"), "{msg}");
    chain.ok(
        &dso,
        EnergyCall::RegisterSmartMeter {
            market: 0,
            meter: big,
            prosumer: Keypair::from_seed(131).address(),
            feeder: 3,
            l_prod: 90,
            l_cons: 10,
        },
    );
}
