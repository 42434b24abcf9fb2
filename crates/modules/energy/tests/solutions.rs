//! Issue 12's second pass through the executor: feeders safe under every grouping, the clearing
//! rule, staged solutions, and amounts that never wrap.

use agora_energy::{DsoPrice, EnergyCall, Side};
use agora_types::Keypair;

mod common;

use common::*;

/// Issue 12, finding 1: whatever the groupings, the energy crossing a feeder stays within its
/// limits, though every group's own limits (eq. 2.6, 2.7) hold.
#[test]
fn feeders_hold_whatever_the_groupings() {
    // Feeder 1 (limits 60/60) has a and b, who can produce 200; feeder 2 (200/200) has c.
    // Privacy group 2 of both feeders gets the safe limits of eq. 2.17: 60/60.
    let Setup {
        mut chain,
        dso,
        a,
        b,
        c,
    } = setup((60, 60), (200, 200));
    let privacy = group(vec![1, 2], 60, 60);
    chain.ok(&dso, privacy);
    withdraw(&mut chain, &a, Side::Sell, 0, 60);
    withdraw(&mut chain, &b, Side::Sell, 2, 60);
    withdraw(&mut chain, &c, Side::Buy, 1, 100);
    let sa = offer(&mut chain, &a, Side::Sell, 0, 60, vec![12], 10);
    let sb = offer(&mut chain, &b, Side::Sell, 2, 60, vec![12], 10);
    let bc = offer(&mut chain, &c, Side::Buy, 1, 100, vec![12], 20);
    // a sells 60 through feeder 1's own group, b 40 through the privacy group: each group is
    // within its limits, feeder 1 would export 100.
    let msg = chain.refused(
        &c,
        solution(vec![trade(sa, bc, 12, 60, 15), trade(sb, bc, 12, 40, 15)]),
    );
    assert!(msg.starts_with("eq_2_6_feeder_internal_limit"), "{msg}");
    chain.ok(
        &c,
        solution(vec![trade(sa, bc, 12, 30, 15), trade(sb, bc, 12, 30, 15)]),
    );

    // Feeder 1 (100/20) in privacy group 2 (safe limits 100/20): a trade inside the group nets
    // to zero for the group but is an export of feeder 1.
    let Setup {
        mut chain,
        dso,
        b,
        c,
        ..
    } = setup((100, 20), (300, 300));
    chain.ok(&dso, group(vec![1, 2], 100, 20));
    withdraw(&mut chain, &b, Side::Sell, 2, 100);
    withdraw(&mut chain, &c, Side::Buy, 2, 100);
    let sb = offer(&mut chain, &b, Side::Sell, 2, 100, vec![12], 10);
    let bc = offer(&mut chain, &c, Side::Buy, 2, 100, vec![12], 20);
    let msg = chain.refused(&c, solution(vec![trade(sb, bc, 12, 50, 15)]));
    assert!(msg.starts_with("eq_2_7_feeder_external_limit"), "{msg}");
    chain.ok(&c, solution(vec![trade(sb, bc, 12, 20, 15)]));
}

/// Issue 12, finding 3: prices and counterparties are the ledger's rule, and which of several
/// solutions survives does not depend on the order they were posted in.
#[test]
fn clearing_is_a_rule_of_the_ledger() {
    let Setup {
        mut chain, a, b, c, ..
    } = setup((1_000, 1_000), (1_000, 1_000));
    withdraw(&mut chain, &a, Side::Sell, 0, 100);
    withdraw(&mut chain, &b, Side::Buy, 0, 100);
    withdraw(&mut chain, &c, Side::Buy, 1, 100);
    let s1 = offer(&mut chain, &a, Side::Sell, 0, 30, vec![12], 10);
    let s2 = offer(&mut chain, &a, Side::Sell, 0, 30, vec![12], 10);
    let rich = offer(&mut chain, &b, Side::Buy, 0, 20, vec![12], 30);
    let poor = offer(&mut chain, &c, Side::Buy, 1, 20, vec![12], 12);
    // Any price between the reservation prices but the midpoint is refused.
    let msg = chain.refused(&c, solution(vec![trade(s1, rich, 12, 10, 11)]));
    assert!(msg.starts_with("eq_2_3_price"), "{msg}");
    // The rule pairs the highest-priced seller (s1 before s2 on a tie) with the highest buyer.
    let msg = chain.refused(
        &c,
        solution(vec![
            trade(s1, poor, 12, 10, 11),
            trade(s2, rich, 12, 10, 20),
        ]),
    );
    assert!(msg.starts_with("solution_not_canonical"), "{msg}");

    // Equal energy (20 Wh): serving the buyer at 30 gains more than the one at 12.
    let low = vec![trade(s1, poor, 12, 20, 11)];
    let high = vec![trade(s1, rich, 12, 20, 20)];
    // Equal energy and gains: s1 and s2 ask the same; the smaller trade list wins.
    let first = vec![trade(s1, rich, 12, 10, 20)];
    let second = vec![trade(s2, rich, 12, 10, 20)];
    chain.ok(&c, solution(second.clone()));
    chain.ok(&c, solution(first.clone()));
    let msg = chain.refused(&c, solution(second));
    assert!(msg.starts_with("solution_not_better"), "{msg}");
    chain.ok(&c, solution(low.clone()));
    chain.ok(&c, solution(high.clone()));
    let msg = chain.refused(&c, solution(low));
    assert!(msg.starts_with("solution_not_better"), "{msg}");
    assert_eq!(
        chain.query("candidate", serde_json::json!({"market": 0})),
        serde_json::to_value(&high).unwrap()
    );
    let market = chain.query("market", serde_json::json!({"market": 0}));
    assert_eq!(market["candidate"]["energy"], 20);
    assert_eq!(market["candidate"]["gains"], 20 * 20);
}

/// Issue 12, finding 9: amounts that would wrap are refused with a reason, not wrapped (or a
/// panic in the executor).
#[test]
fn asset_amounts_never_wrap() {
    let dso = Keypair::from_seed(1);
    let (a, c, x) = (
        Keypair::from_seed(2),
        Keypair::from_seed(4),
        Keypair::from_seed(9),
    );
    let mut chain = Chain::new(&[&dso, &a, &c, &x]);
    create_market(&mut chain, &dso, vec![DsoPrice { buy: 30, sell: 5 }]);
    for f in [1, 2] {
        chain.ok(&dso, group(vec![f], u64::MAX, u64::MAX));
    }
    chain.ok(&dso, group(vec![1, 2], u64::MAX, u64::MAX));
    for (i, (p, feeder)) in [(&a, 1), (&c, 2)].into_iter().enumerate() {
        let meter = Keypair::from_seed(100 + i as u64).address();
        chain.ok(
            &dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: p.address(),
                feeder,
                l_prod: u64::MAX,
                l_cons: u64::MAX,
            },
        );
        chain.ok(p, EnergyCall::RegisterProsumer { market: 0, meter });
        withdraw(&mut chain, p, Side::Sell, 2, u64::MAX);
    }
    let transfer = EnergyCall::TransferAssets {
        market: 0,
        to: x.address(),
        side: Side::Sell,
        group: 2,
        interval: 12,
        energy: u64::MAX,
    };
    chain.ok(&a, transfer.clone());
    let msg = chain.refused(&c, transfer);
    assert!(msg.starts_with("overflow"), "{msg}");
    assert_eq!(total_assets(&chain, &[&x], 12), (u64::MAX, 0));
    assert_eq!(total_assets(&chain, &[&c], 12), (u64::MAX, 0));
}

/// Issue 12, finding 7: a solution staged in parts is checked and ranked as a whole; parts
/// come in order, at most 64, and a refused whole changes nothing.
#[test]
fn staged_solutions_post_in_parts() {
    let Setup {
        mut chain, a, b, c, ..
    } = setup((1_000, 1_000), (1_000, 1_000));
    withdraw(&mut chain, &a, Side::Sell, 0, 100);
    withdraw(&mut chain, &b, Side::Buy, 0, 100);
    withdraw(&mut chain, &c, Side::Buy, 1, 100);
    let s = offer(&mut chain, &a, Side::Sell, 0, 90, vec![12, 13, 14], 10);
    let bo = offer(&mut chain, &b, Side::Buy, 0, 90, vec![12, 13, 14], 20);
    let stage = |part, trades| EnergyCall::StageSolution {
        market: 0,
        part,
        trades,
    };
    let post = EnergyCall::PostStagedSolution { market: 0 };
    assert!(chain.refused(&c, post.clone()).contains("nothing staged"));
    // Out of order: part 1 before part 0, or a part that does not continue the order.
    assert!(chain
        .refused(&c, stage(1, vec![trade(s, bo, 13, 10, 15)]))
        .contains("in order"));
    chain.ok(&c, stage(0, vec![trade(s, bo, 13, 10, 15)]));
    assert!(chain
        .refused(&c, stage(1, vec![trade(s, bo, 12, 10, 15)]))
        .contains("sort order"));
    chain.ok(&c, stage(1, vec![trade(s, bo, 14, 20, 15)]));
    // A staged whole that breaks a constraint is refused and the candidate stays empty.
    chain.ok(&c, stage(2, vec![trade(s, bo, 15, 1, 15)]));
    assert!(chain.refused(&c, post.clone()).starts_with("eq_2_1"));
    // Part 0 again starts over.
    chain.ok(&c, stage(0, vec![trade(s, bo, 12, 30, 15)]));
    chain.ok(&c, stage(1, vec![trade(s, bo, 13, 30, 15)]));
    chain.ok(&c, stage(2, vec![trade(s, bo, 14, 30, 15)]));
    chain.ok(&c, post.clone());
    let market = chain.query("market", serde_json::json!({"market": 0}));
    assert_eq!(market["candidate"]["energy"], 90);
    assert_eq!(
        chain
            .query("candidate", serde_json::json!({"market": 0}))
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(chain.refused(&c, post).contains("nothing staged"));
    // At most 64 parts.
    for part in 0..64u32 {
        chain.ok(&b, stage(part, vec![trade(s, bo, 20 + part, 1, 15)]));
    }
    assert!(chain
        .refused(&b, stage(64, vec![trade(s, bo, 100, 1, 15)]))
        .contains("64 parts"));
    // Finalizing moves only each interval's trades; closed offers leave the open problem.
    chain.now = START + 12 * DELTA;
    chain.ok(&c, EnergyCall::Finalize { market: 0 });
    let finalized = |chain: &Chain, t: u32| {
        chain.query("finalized", serde_json::json!({"market": 0, "interval": t}))[0]["energy"]
            .clone()
    };
    assert_eq!(
        (finalized(&chain, 12), finalized(&chain, 13)),
        (30.into(), 30.into())
    );
    assert_eq!(
        chain.query("market", serde_json::json!({"market": 0}))["candidate"]["energy"],
        30
    );
    chain.now = START + 14 * DELTA;
    chain.ok(&c, EnergyCall::Finalize { market: 0 });
    let open = chain.query("open_problem", serde_json::json!({"market": 0}));
    assert_eq!(open["offers"].as_array().unwrap().len(), 0);
    assert_eq!(open["feeders"].as_array().unwrap().len(), 2);
}
