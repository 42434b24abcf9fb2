//! The bank through the executor, as finalized blocks would drive it.

mod common;

use agora_bank::{module_account, Bank, BankCall};
use agora_ledger::{Executor, TxStatus};
use agora_types::{Address, Call, FeeSchedule, Keypair};
use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[test]
fn transfer_hold_release_slash() {
    let keys: Vec<_> = (0..3).map(Keypair::from_seed).collect();
    let (a, b, c) = (&keys[0], &keys[1], &keys[2]);
    let exec = executor(&keys);
    let applied = exec
        .apply_block(&block(
            1,
            vec![
                sign(
                    a,
                    0,
                    BankCall::Transfer {
                        to: b.address(),
                        amount: 10,
                    },
                ),
                sign(
                    a,
                    1,
                    BankCall::Hold {
                        amount: 100,
                        controller: c.address(),
                    },
                ),
                // `a` cannot end its own deposit.
                sign(a, 2, BankCall::Release { hold: 0 }),
                sign(
                    c,
                    0,
                    BankCall::Slash {
                        hold: 0,
                        amount: 30,
                        beneficiary: b.address(),
                    },
                ),
                sign(
                    c,
                    1,
                    BankCall::Slash {
                        hold: 0,
                        amount: 71,
                        beneficiary: b.address(),
                    },
                ),
                sign(c, 2, BankCall::Release { hold: 0 }),
                sign(
                    b,
                    0,
                    BankCall::Transfer {
                        to: a.address(),
                        amount: START * 10,
                    },
                ),
            ],
        ))
        .unwrap()
        .unwrap();
    let reasons: Vec<_> = applied
        .receipts
        .iter()
        .map(|r| r.reason.as_deref())
        .collect();
    assert_eq!(
        reasons,
        vec![
            None,
            None,
            Some("not_controller"),
            None,
            Some("slash_exceeds_hold"),
            None,
            Some("insufficient_funds")
        ]
    );
    assert_eq!(applied.receipts[0].status, TxStatus::Success);
    assert_eq!(applied.receipts[0].events[0].name, "Transfer");
    assert_eq!(balance(&exec, &a.address()), START - 10 - 30);
    assert_eq!(balance(&exec, &b.address()), START + 10 + 30);
    exec.with_state(Bank::check_conservation).unwrap().unwrap();
    // A failed transaction still consumed its nonce.
    assert_eq!(exec.nonce(&a.address()).unwrap(), 3);
    assert_eq!(exec.recompute_state_root().unwrap(), exec.state_root());
}

#[test]
fn replays_wrong_nonces_and_redelivery_change_nothing() {
    let keys: Vec<_> = (0..2).map(Keypair::from_seed).collect();
    let exec = executor(&keys);
    let t0 = sign(
        &keys[0],
        0,
        BankCall::Transfer {
            to: keys[1].address(),
            amount: 5,
        },
    );
    let future = sign(
        &keys[0],
        5,
        BankCall::Transfer {
            to: keys[1].address(),
            amount: 5,
        },
    );
    let b1 = block(1, vec![t0.clone(), t0.clone(), future.clone()]);
    let applied = exec.apply_block(&b1).unwrap().unwrap();
    assert_eq!(
        applied.receipts.len(),
        1,
        "duplicate and future nonce get no receipt"
    );
    assert!(exec.receipt(&future.hash()).unwrap().is_none());
    let root = exec.state_root();
    // Redelivering the same height is a no-op.
    assert!(exec.apply_block(&b1).unwrap().is_none());
    // Replaying the transaction in a later block is skipped.
    let applied = exec
        .apply_block(&block(2, vec![t0.clone()]))
        .unwrap()
        .unwrap();
    assert!(applied.receipts.is_empty());
    assert_eq!(exec.state_root(), root);
    assert_eq!(balance(&exec, &keys[1].address()), START + 5);
    // Heights must arrive in order.
    assert!(exec.apply_block(&block(5, vec![])).is_err());
}

#[test]
fn module_accounts_differ_by_module() {
    assert_ne!(module_account("compute"), module_account("energy"));
}

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Hold {
        from: usize,
        controller: usize,
        amount: u64,
    },
    Release {
        by: usize,
        hold: u64,
    },
    Slash {
        by: usize,
        hold: u64,
        amount: u64,
        to: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![0u64..10, 0u64..2 * START, Just(u64::MAX)];
    prop_oneof![
        (0usize..4, 0usize..4, amount.clone()).prop_map(|(from, to, amount)| Op::Transfer {
            from,
            to,
            amount
        }),
        (0usize..4, 0usize..4, amount.clone()).prop_map(|(from, controller, amount)| Op::Hold {
            from,
            controller,
            amount
        }),
        (0usize..4, 0u64..6).prop_map(|(by, hold)| Op::Release { by, hold }),
        (0usize..4, 0u64..6, amount, 0usize..4).prop_map(|(by, hold, amount, to)| Op::Slash {
            by,
            hold,
            amount,
            to
        }),
    ]
}

/// Each key's `holds` answer is exactly the holds (by id) that key owns.
fn holds_by_owner_match_the_holds(exec: &Executor, keys: &[Keypair]) -> Result<(), TestCaseError> {
    let mut owned: BTreeMap<Address, Vec<serde_json::Value>> = BTreeMap::new();
    // The ops make at most 40 holds.
    for id in 0..40u64 {
        if let Ok(hold) = exec.query("bank", "hold", &serde_json::json!({"id": id})) {
            let owner: Address = hold["owner"].as_str().unwrap().parse().unwrap();
            owned.entry(owner).or_default().push(hold);
        }
    }
    for key in keys {
        let answer = exec
            .query(
                "bank",
                "holds",
                &serde_json::json!({"address": key.address()}),
            )
            .unwrap();
        let expected = owned.remove(&key.address()).unwrap_or_default();
        prop_assert_eq!(answer["holds"].as_array().unwrap(), &expected);
    }
    Ok(())
}

#[test]
fn an_accounts_holds_are_listed_until_released_or_slashed_away() {
    let keys: Vec<_> = (0..3).map(Keypair::from_seed).collect();
    let exec = executor(&keys);
    let (a, c) = (&keys[0], keys[2].address());
    let hold = |nonce, amount| {
        sign(
            a,
            nonce,
            BankCall::Hold {
                amount,
                controller: c,
            },
        )
    };
    exec.apply_block(&block(1, vec![hold(0, 10), hold(1, 20), hold(2, 30)]))
        .unwrap()
        .unwrap();
    let ids = |exec: &Executor| -> Vec<u64> {
        exec.query(
            "bank",
            "holds",
            &serde_json::json!({"address": a.address()}),
        )
        .unwrap()["holds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&exec), [0, 1, 2]);
    let by_c = |nonce, call| sign(&keys[2], nonce, call);
    let applied = exec
        .apply_block(&block(
            2,
            vec![
                by_c(0, BankCall::Release { hold: 0 }),
                by_c(
                    1,
                    BankCall::Slash {
                        hold: 1,
                        amount: 5,
                        beneficiary: c,
                    },
                ),
                by_c(
                    2,
                    BankCall::Slash {
                        hold: 2,
                        amount: 30,
                        beneficiary: c,
                    },
                ),
            ],
        ))
        .unwrap()
        .unwrap();
    assert!(applied
        .receipts
        .iter()
        .all(|r| r.status == TxStatus::Success));
    // Released and slashed to nothing: gone; slashed in part: still held, with what is left.
    assert_eq!(ids(&exec), [1]);
    let left = exec
        .query(
            "bank",
            "holds",
            &serde_json::json!({"address": a.address()}),
        )
        .unwrap();
    assert_eq!(left["holds"][0]["amount"], 15);
    let none = exec
        .query("bank", "holds", &serde_json::json!({"address": c}))
        .unwrap();
    assert_eq!(none["holds"], serde_json::json!([]));
    exec.with_state(Bank::check_conservation).unwrap().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn total_supply_is_conserved(ops in proptest::collection::vec(op(), 1..40), per_block in 1usize..8) {
        let keys: Vec<_> = (0..4).map(Keypair::from_seed).collect();
        let exec = funded(&keys, START, FeeSchedule::default());
        let mut burned = 0;
        let mut nonces = [0u64; 4];
        let txs: Vec<_> = ops.into_iter().map(|op| {
            let (who, call) = match op {
                Op::Transfer { from, to, amount } => (from, BankCall::Transfer { to: keys[to].address(), amount }),
                Op::Hold { from, controller, amount } => (from, BankCall::Hold { amount, controller: keys[controller].address() }),
                Op::Release { by, hold } => (by, BankCall::Release { hold }),
                Op::Slash { by, hold, amount, to } => (by, BankCall::Slash { hold, amount, beneficiary: keys[to].address() }),
            };
            nonces[who] += 1;
            sign(&keys[who], nonces[who] - 1, call)
        }).collect();
        for (i, chunk) in txs.chunks(per_block).enumerate() {
            let applied = exec.apply_block(&block(i as u64 + 1, chunk.to_vec())).unwrap().unwrap();
            burned += applied.receipts.iter().map(|r| r.fee).sum::<u64>();
            exec.with_state(Bank::check_conservation).unwrap().map_err(TestCaseError::fail)?;
            holds_by_owner_match_the_holds(&exec, &keys)?;
        }
        prop_assert_eq!(exec.recompute_state_root().unwrap(), exec.state_root());
        // Fees are burned: the supply shrinks by exactly what the receipts say was paid.
        prop_assert!(burned > 0);
        prop_assert_eq!(supply(&exec), 4 * START - burned);
    }
}

/// An unfunded key's transaction fails for its fee: it consumes the nonce and writes nothing
/// else, where it used to get a receipt and write like any other.
#[test]
fn unfunded_senders_pay_or_get_nothing_done() {
    let rich = Keypair::from_seed(0);
    let poor = Keypair::from_seed(7);
    let exec = funded(std::slice::from_ref(&rich), START, FeeSchedule::default());
    let before = exec.dump_state().unwrap();
    let hold = sign(
        &poor,
        0,
        BankCall::Hold {
            amount: 0,
            controller: rich.address(),
        },
    );
    let applied = exec.apply_block(&block(1, vec![hold])).unwrap().unwrap();
    let receipt = &applied.receipts[0];
    assert_eq!(
        receipt.reason.as_deref(),
        Some(agora_ledger::INSUFFICIENT_FEE)
    );
    assert_eq!((receipt.fee, receipt.events.len()), (0, 0));
    let after = exec.dump_state().unwrap();
    let added: Vec<_> = after.iter().filter(|e| !before.contains(e)).collect();
    assert_eq!(added.len(), 1, "only the nonce: {added:?}");
    assert_eq!(exec.nonce(&poor.address()).unwrap(), 1);
    assert_eq!(supply(&exec), START);
}

/// The admission fee is paid by every executed transaction, the write fee only by calls that
/// succeed; a call that cannot pay for its writes is rolled back to after its admission fee.
#[test]
fn fees_are_burned_per_call_byte_and_written_byte() {
    let fees = FeeSchedule {
        per_call: 100,
        per_tx_byte: 2,
        per_state_byte: 3,
    };
    let (a, b) = (Keypair::from_seed(1), Keypair::from_seed(2));
    let transfer = sign(
        &a,
        0,
        BankCall::Transfer {
            to: b.address(),
            amount: 10,
        },
    );
    let admission = 100 + 2 * transfer.size() as u64;
    // Enough for the transfer's admission and writes, then for one more admission only.
    let exec = funded(std::slice::from_ref(&a), 20_000, fees);
    let unknown = sign_call(
        &a,
        1,
        Call {
            module: "nosuch".into(),
            payload: vec![1, 2, 3].into(),
        },
    );
    let unknown_fee = 100 + 2 * unknown.size() as u64;
    let applied = exec
        .apply_block(&block(1, vec![transfer, unknown]))
        .unwrap()
        .unwrap();
    let [ok, failed] = &applied.receipts[..] else {
        panic!("two receipts: {:?}", applied.receipts)
    };
    // The transfer put two balances (key and value bytes each).
    let written = 2 * ("bank:bal:".len() as u64 + 32 + 8);
    assert_eq!(ok.fee, admission + 3 * written);
    assert_eq!(failed.reason.as_deref(), Some("unknown_module"));
    assert_eq!(failed.fee, unknown_fee);
    let left = 20_000 - 10 - ok.fee - failed.fee;
    assert_eq!(balance(&exec, &a.address()), left);
    assert_eq!(supply(&exec), 20_000 - ok.fee - failed.fee);

    // A hold of everything but the admission fee leaves nothing for its writes.
    let hold = |nonce, amount| {
        sign(
            &a,
            nonce,
            BankCall::Hold {
                amount,
                controller: b.address(),
            },
        )
    };
    let hold_fee = 100 + 2 * hold(2, 1).size() as u64;
    let applied = exec
        .apply_block(&block(2, vec![hold(2, left - hold_fee)]))
        .unwrap()
        .unwrap();
    let receipt = &applied.receipts[0];
    assert_eq!(
        receipt.reason.as_deref(),
        Some(agora_ledger::INSUFFICIENT_FEE)
    );
    assert!(receipt.events.is_empty());
    assert_eq!(receipt.fee, hold_fee);
    assert_eq!(balance(&exec, &a.address()), left - hold_fee);
    assert!(exec
        .query("bank", "hold", &serde_json::json!({"id": 0}))
        .is_err());
    exec.with_state(Bank::check_conservation).unwrap().unwrap();
    assert_eq!(exec.recompute_state_root().unwrap(), exec.state_root());
}

#[test]
fn both_conservation_queries_answer_balances_and_holds_against_the_supply() {
    let keys: Vec<_> = (0..2).map(Keypair::from_seed).collect();
    let exec = funded(&keys, START, FeeSchedule::default());
    let applied = exec
        .apply_block(&block(
            1,
            vec![sign(
                &keys[0],
                0,
                BankCall::Hold {
                    amount: 300,
                    controller: keys[1].address(),
                },
            )],
        ))
        .unwrap()
        .unwrap();
    assert_eq!(applied.receipts[0].status, TxStatus::Success);
    let fee = applied.receipts[0].fee;
    assert!(fee > 0);
    let answer = exec
        .query("bank", "conservation", &serde_json::Value::Null)
        .unwrap();
    assert_eq!(answer["supply"], 2 * START - fee);
    assert_eq!(answer["holds"], "300");
    assert_eq!(answer["balances"], (2 * START - fee - 300).to_string());
    assert_eq!(answer["conserved"], true);
    assert_eq!(answer["recounted"], false);
    let recount = exec
        .operator_query("bank", "conservation", &serde_json::Value::Null)
        .unwrap();
    assert_eq!(recount["recounted"], true);
    for field in ["supply", "balances", "holds", "conserved"] {
        assert_eq!(recount[field], answer[field], "{field}");
    }
}
