//! Mixing (section 2.7.2) through the executor: the `Mix` call's guards, unlinkability on the
//! ledger, and sessions that settle once.

use agora_energy::{EnergyCall, MixStatement, Side, MIX_NAMESPACE};
use agora_types::{Address, Keypair};

mod common;

use common::*;

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
    s.chain.ok(&s.dso, group(vec![1, 2], 100, 100));
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
