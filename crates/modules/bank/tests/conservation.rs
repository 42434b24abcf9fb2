//! The bank through the executor, as finalized blocks would drive it.

use agora_bank::{module_account, Bank, BankCall};
use agora_ledger::{Executor, ModuleGenesis, TxStatus};
use agora_types::{Address, Block, Context, Keypair, SignedTransaction, Transaction};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::{Hasher, Sha256, Signer};
use proptest::prelude::*;

const CHAIN: &str = "bank-test";
const START: u64 = 1_000_000;

fn executor(keys: &[Keypair]) -> Executor {
    let exec = Executor::in_memory(CHAIN).unwrap().with_module(Bank);
    let balances: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| (k.address().to_string(), START.into()))
        .collect();
    let mut genesis = ModuleGenesis::new();
    genesis.insert("bank".into(), serde_json::json!({ "balances": balances }));
    exec.init_genesis(&genesis, 0).unwrap();
    exec
}

fn block(height: u64, txs: Vec<SignedTransaction>) -> Block {
    let context = Context {
        round: Round::new(Epoch::zero(), View::new(height)),
        leader: commonware_cryptography::ed25519::PrivateKey::from_seed(0).public_key(),
        parent: (View::new(height - 1), Sha256::hash(b"p")),
    };
    Block::new(
        context,
        Sha256::hash(b"p"),
        height,
        height * 1000,
        agora_types::ExecutedState::unchecked(),
        txs,
    )
}

fn sign(key: &Keypair, nonce: u64, call: BankCall) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN.into(),
        sender: key.address(),
        nonce,
        call: call.into_call(),
    }
    .sign(key)
}

fn balance(exec: &Executor, a: &Address) -> u64 {
    exec.query(
        "bank",
        "balance",
        &serde_json::json!({"address": a.to_string()}),
    )
    .unwrap()["balance"]
        .as_u64()
        .unwrap()
}

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn total_supply_is_conserved(ops in proptest::collection::vec(op(), 1..40), per_block in 1usize..8) {
        let keys: Vec<_> = (0..4).map(Keypair::from_seed).collect();
        let exec = executor(&keys);
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
            exec.apply_block(&block(i as u64 + 1, chunk.to_vec())).unwrap();
            exec.with_state(Bank::check_conservation).unwrap().map_err(TestCaseError::fail)?;
        }
        prop_assert_eq!(exec.recompute_state_root().unwrap(), exec.state_root());
        let supply = exec.query("bank", "supply", &serde_json::Value::Null).unwrap()["supply"].as_u64().unwrap();
        prop_assert_eq!(supply, 4 * START);
    }
}
