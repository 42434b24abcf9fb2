//! The energy market through the executor, block by block, as validators would run it.

use agora_energy::{DsoPrice, EnergyCall, MixStatement, Side, Trade, MIX_NAMESPACE};
use agora_types::{Address, Keypair};

mod common;

use common::*;

/// A market with feeder 1 (group 0) and feeder 2 (group 1); prosumers a, b on feeder 1 and c
/// on feeder 2, each registered with limits of 100 Wh per interval.
struct Setup {
    chain: Chain,
    dso: Keypair,
    a: Keypair,
    b: Keypair,
    c: Keypair,
}

fn setup(f1: (u64, u64), f2: (u64, u64)) -> Setup {
    let dso = Keypair::from_seed(1);
    let (a, b, c) = (
        Keypair::from_seed(2),
        Keypair::from_seed(3),
        Keypair::from_seed(4),
    );
    let mut chain = Chain::new(&[&dso, &a, &b, &c]);
    create_market(&mut chain, &dso, vec![DsoPrice { buy: 30, sell: 5 }]);
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![1],
            c_int: f1.0,
            c_ext: f1.1,
        },
    );
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![2],
            c_int: f2.0,
            c_ext: f2.1,
        },
    );
    for (i, (p, feeder)) in [(&a, 1), (&b, 1), (&c, 2)].into_iter().enumerate() {
        let meter = Keypair::from_seed(100 + i as u64).address();
        chain.ok(
            &dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: p.address(),
                feeder,
                l_prod: 100,
                l_cons: 100,
            },
        );
        chain.ok(p, EnergyCall::RegisterProsumer { market: 0, meter });
    }
    Setup {
        chain,
        dso,
        a,
        b,
        c,
    }
}

fn withdraw(chain: &mut Chain, who: &Keypair, side: Side, group: u32, energy: u64) {
    chain.ok(
        who,
        EnergyCall::WithdrawAssets {
            market: 0,
            side,
            group,
            energy,
            first: 10,
            last: 20,
        },
    );
}

fn offer(
    chain: &mut Chain,
    who: &Keypair,
    side: Side,
    group: u32,
    energy: u64,
    intervals: Vec<u32>,
    price: u64,
) -> u64 {
    let r = chain.ok(
        who,
        EnergyCall::PostOffer {
            market: 0,
            side,
            group,
            energy,
            intervals,
            price,
        },
    );
    r.events[r.events.len() - 1].data["offer"]["id"]
        .as_u64()
        .unwrap()
}

/// Production and consumption assets held by `who` in `interval`, summed by side.
fn total_assets(chain: &Chain, who: &[&Keypair], interval: u32) -> (u64, u64) {
    let mut totals = (0, 0);
    for k in who {
        let held = chain.query("assets", serde_json::json!({"market": 0, "account": k.address().to_string(), "interval": interval}));
        for x in held.as_array().unwrap() {
            let e = x["energy"].as_u64().unwrap();
            if x["side"] == "sell" {
                totals.0 += e;
            } else {
                totals.1 += e;
            }
        }
    }
    totals
}

fn trade(sell: u64, buy: u64, interval: u32, energy: u64, price: u64) -> Trade {
    Trade {
        sell,
        buy,
        interval,
        energy,
        price,
    }
}

fn solution(trades: Vec<Trade>) -> EnergyCall {
    EnergyCall::PostSolution { market: 0, trades }
}

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
        .refused(
            &a,
            EnergyCall::DefineGroup {
                market: 0,
                feeders: vec![3],
                c_int: 1,
                c_ext: 1
            }
        )
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
    let msg = chain.refused(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![1, 2],
            c_int: 150,
            c_ext: 100,
        },
    );
    assert!(msg.starts_with("unsafe_group"), "{msg}");
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![1, 2],
            c_int: 100,
            c_ext: 100,
        },
    );
    // Feeders 3 and 4 cannot be overloaded by their prosumers (eq. 2.19): limits add up.
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![3],
            c_int: 100,
            c_ext: 100,
        },
    );
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![4],
            c_int: 100,
            c_ext: 100,
        },
    );
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![3, 4],
            c_int: 200,
            c_ext: 200,
        },
    );
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

/// A mix of a, b, c's production assets in privacy group 2 (feeders 1 and 2) to fresh outputs.
fn mix_statement(
    inputs: &[&Keypair],
    outputs: &[Keypair],
    energy: u64,
    session: u8,
) -> MixStatement {
    let mut outs: Vec<Address> = outputs.iter().map(|k| k.address()).collect();
    outs.sort();
    MixStatement {
        market: 0,
        group: 2,
        side: Side::Sell,
        energy,
        first: 10,
        last: 20,
        funds: 1_000,
        session: [session; 32],
        run: 0,
        inputs: inputs.iter().map(|k| k.address()).collect(),
        outputs: outs,
    }
}

fn signed_mix(st: &MixStatement, signers: &[&Keypair]) -> EnergyCall {
    EnergyCall::Mix {
        statement: st.clone(),
        signatures: signers
            .iter()
            .map(|k| k.sign_bytes(MIX_NAMESPACE, &st.signed_bytes()))
            .collect(),
    }
}

/// Privacy group 2 of feeders 1 and 2 (limits 100/100), where a, b and c each hold 60 Wh of
/// production assets in intervals 10 to 20.
fn mixing_setup() -> Setup {
    let mut s = setup((1_000, 1_000), (1_000, 1_000));
    s.chain.ok(
        &s.dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![1, 2],
            c_int: 100,
            c_ext: 100,
        },
    );
    for p in [&s.a, &s.b, &s.c] {
        withdraw(&mut s.chain, p, Side::Sell, 2, 60);
    }
    s
}

#[test]
fn mixing_moves_equal_assets_unlinkably_and_limits_still_hold() {
    let Setup {
        mut chain,
        dso,
        a,
        b,
        c,
    } = mixing_setup();
    let outputs: Vec<Keypair> = (0..3).map(|i| Keypair::from_seed(500 + i)).collect();
    let inputs = [&a, &b, &c];
    let before = total_assets(&chain, &inputs, 10);
    let funds_before: u64 = inputs.iter().map(|k| chain.balance(k)).sum();

    let st = mix_statement(&inputs, &outputs, 50, 1);
    // Refused: a missing signature, a signature of another statement, unsorted outputs, an
    // input outside the group's prosumers, more assets than an input holds.
    let mut call = signed_mix(&st, &inputs);
    if let EnergyCall::Mix { signatures, .. } = &mut call {
        signatures.pop();
    }
    assert!(chain.refused(&a, call).starts_with("invalid_call"));
    let other = mix_statement(&inputs, &outputs, 40, 1);
    let mut call = signed_mix(&st, &inputs);
    if let (
        EnergyCall::Mix { signatures, .. },
        EnergyCall::Mix {
            signatures: theirs, ..
        },
    ) = (&mut call, signed_mix(&other, &inputs))
    {
        signatures[2] = theirs[2].clone();
    }
    assert!(chain.refused(&a, call).starts_with("bad_mix_signature"));
    let mut unsorted = st.clone();
    unsorted.outputs.reverse();
    assert!(chain
        .refused(&a, signed_mix(&unsorted, &inputs))
        .starts_with("invalid_call"));
    let outsider = mix_statement(&[&a, &dso], &outputs[..2], 50, 2);
    assert!(chain
        .refused(&a, signed_mix(&outsider, &[&a, &dso]))
        .starts_with("not_a_prosumer"));
    let greedy = mix_statement(&inputs, &outputs, 61, 3);
    assert!(chain
        .refused(&a, signed_mix(&greedy, &inputs))
        .starts_with("insufficient_assets"));

    // Accepted: anyone may submit it. Each output holds the same; nothing pairs in and out.
    let r = chain.ok(&outputs[0], signed_mix(&st, &inputs));
    let names: Vec<&str> = r.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["EqualTransfer", "Mixed"]);
    for t in 10..=20 {
        for o in &outputs {
            assert_eq!(total_assets(&chain, &[o], t), (50, 0));
        }
        for p in inputs {
            assert_eq!(total_assets(&chain, &[p], t), (10, 0));
        }
    }
    let outs: Vec<&Keypair> = outputs.iter().collect();
    let after = total_assets(&chain, &inputs, 10).0 + total_assets(&chain, &outs, 10).0;
    assert_eq!(after, before.0, "assets are conserved");
    let funds_after: u64 = inputs.iter().chain(&outs).map(|k| chain.balance(k)).sum();
    assert_eq!(funds_after, funds_before);
    for o in &outputs {
        assert_eq!(chain.balance(o), 1_000);
    }
    assert!(chain
        .refused(&a, signed_mix(&st, &inputs))
        .starts_with("mix_replayed"));

    // Anonymous offers are still bound by the assets and the group's limits.
    assert!(chain
        .refused(
            &outputs[0],
            EnergyCall::PostOffer {
                market: 0,
                side: Side::Sell,
                group: 2,
                energy: 51,
                intervals: vec![12],
                price: 10,
            }
        )
        .starts_with("insufficient_assets"));
    let sells: Vec<u64> = outputs
        .iter()
        .map(|o| offer(&mut chain, o, Side::Sell, 2, 50, vec![12], 10))
        .collect();
    let twice = offer(&mut chain, &outputs[0], Side::Sell, 2, 50, vec![12], 10);
    withdraw(&mut chain, &a, Side::Buy, 2, 100);
    withdraw(&mut chain, &b, Side::Buy, 2, 100);
    let buy_a = offer(&mut chain, &a, Side::Buy, 2, 100, vec![12], 20);
    let buy_b = offer(&mut chain, &b, Side::Buy, 2, 100, vec![12], 20);
    // Output 0 selling through both of its offers: 100 Wh from 50 Wh of assets (eq. 2.5).
    let mut over_assets = vec![
        trade(sells[0], buy_a, 12, 50, 15),
        trade(twice, buy_b, 12, 50, 15),
    ];
    over_assets.sort();
    assert!(chain
        .refused(&dso, solution(over_assets))
        .starts_with("eq_2_5"));
    // 150 Wh sold in the privacy group: beyond its internal limit of 100 (eq. 2.6).
    let mut over_group = vec![
        trade(sells[0], buy_a, 12, 50, 15),
        trade(sells[1], buy_a, 12, 50, 15),
        trade(sells[2], buy_b, 12, 50, 15),
    ];
    over_group.sort();
    assert!(chain
        .refused(&dso, solution(over_group))
        .starts_with("eq_2_6"));
    let mut within = vec![
        trade(sells[0], buy_a, 12, 50, 15),
        trade(sells[1], buy_b, 12, 50, 15),
    ];
    within.sort();
    chain.ok(&dso, solution(within));
}

/// A mixing session settles once, whatever its run: a withheld statement of a failed run
/// cannot execute after a later run did, nor the later run after it; a run's signatures do
/// not sign another run's statement.
#[test]
fn a_mixing_session_settles_once_whatever_its_run() {
    let Setup {
        mut chain, a, b, c, ..
    } = mixing_setup();
    let inputs = [&a, &b, &c];
    let outputs =
        |seed: u64| -> Vec<Keypair> { (0..3).map(|i| Keypair::from_seed(seed + i)).collect() };
    let run0 = mix_statement(&inputs, &outputs(600), 20, 4);
    let run1 = MixStatement {
        run: 1,
        ..mix_statement(&inputs, &outputs(700), 20, 4)
    };
    let relabelled = MixStatement {
        run: 1,
        ..run0.clone()
    };
    let call = EnergyCall::Mix {
        statement: relabelled,
        signatures: inputs
            .iter()
            .map(|k| k.sign_bytes(MIX_NAMESPACE, &run0.signed_bytes()))
            .collect(),
    };
    assert!(chain.refused(&a, call).starts_with("bad_mix_signature"));
    chain.ok(&a, signed_mix(&run0, &inputs));
    assert!(chain
        .refused(&b, signed_mix(&run1, &inputs))
        .starts_with("mix_replayed"));
    for o in &outputs(600) {
        assert_eq!(total_assets(&chain, &[o], 10), (20, 0));
    }
    for o in &outputs(700) {
        assert_eq!(total_assets(&chain, &[o], 10), (0, 0));
    }
}

/// A session where one member never shows up: the others exclude it, complete, and their mix
/// executes with assets and funds conserved.
#[test]
fn a_mix_without_a_silent_member_executes_and_conserves() {
    use agora_mixer::{loopback_links, mix, MixConfig, TcpNet};
    let Setup {
        mut chain, a, b, c, ..
    } = mixing_setup();
    let silent = Keypair::from_seed(77);
    let members = [&a, &b, &c, &silent];
    let session = [9u8; 32];
    let template = mix_statement(&[&a, &b, &c], &[], 40, 9);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outcomes = rt.block_on(async {
        let addresses: Vec<Address> = members.iter().map(|m| m.address()).collect();
        let mut links = loopback_links(&addresses).await.unwrap();
        let cfg = MixConfig {
            session,
            members: addresses,
            step_timeout: std::time::Duration::from_millis(300),
            statement_namespace: MIX_NAMESPACE.to_vec(),
            min_members: 3,
        };
        // The silent member's listener takes connections; nobody behind it ever answers.
        let _silent = links.pop();
        let tasks: Vec<_> = members[..3]
            .iter()
            .map(|m| (*m).clone())
            .zip(links)
            .map(|(key, (listener, peers))| {
                let (cfg, template) = (cfg.clone(), template.clone());
                tokio::spawn(async move {
                    let mut net =
                        TcpNet::connect(listener, &peers, std::time::Duration::from_secs(2)).await;
                    mix(&cfg, &key, &mut net, |run, inputs, outputs| {
                        MixStatement {
                            run,
                            inputs: inputs.to_vec(),
                            outputs: outputs.to_vec(),
                            ..template.clone()
                        }
                        .signed_bytes()
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let outcome = &outcomes[0];
    assert_eq!(outcome.excluded.len(), 1);
    assert_eq!(outcome.excluded[0].member, silent.address());
    let mut inputs = vec![a.address(), b.address(), c.address()];
    inputs.sort();
    assert_eq!(outcome.inputs, inputs);
    let st = MixStatement {
        run: outcome.run,
        inputs: outcome.inputs.clone(),
        outputs: outcome.outputs.clone(),
        ..template
    };
    let before = total_assets(&chain, &[&a, &b, &c], 15).0;
    let funds: u64 = [&a, &b, &c].iter().map(|k| chain.balance(k)).sum();
    chain.ok(
        &a,
        EnergyCall::Mix {
            statement: st,
            signatures: outcome.signatures.clone(),
        },
    );
    let outs: Vec<Keypair> = outcomes.iter().map(|o| o.output.clone()).collect();
    let outs: Vec<&Keypair> = outs.iter().collect();
    for o in &outs {
        assert_eq!(total_assets(&chain, &[o], 15), (40, 0));
    }
    assert_eq!(
        total_assets(&chain, &[&a, &b, &c], 15).0 + total_assets(&chain, &outs, 15).0,
        before
    );
    let after: u64 = [&a, &b, &c]
        .iter()
        .chain(&outs)
        .map(|k| chain.balance(k))
        .sum();
    assert_eq!(after, funds);
}

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
    let privacy = EnergyCall::DefineGroup {
        market: 0,
        feeders: vec![1, 2],
        c_int: 60,
        c_ext: 60,
    };
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
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![1, 2],
            c_int: 100,
            c_ext: 20,
        },
    );
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
        chain.ok(
            &dso,
            EnergyCall::DefineGroup {
                market: 0,
                feeders: vec![f],
                c_int: u64::MAX,
                c_ext: u64::MAX,
            },
        );
    }
    chain.ok(
        &dso,
        EnergyCall::DefineGroup {
            market: 0,
            feeders: vec![1, 2],
            c_int: u64::MAX,
            c_ext: u64::MAX,
        },
    );
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
