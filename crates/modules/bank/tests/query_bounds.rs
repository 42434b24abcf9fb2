//! Attack tests: what any RPC client may ask the bank costs a bounded number of state reads,
//! however many accounts and holds the state has.

mod common;

use agora_bank::{Bank, BankCall};
use agora_ledger::{
    Executor, Module, QueryError, ReadCounter, ReasonCode, TxContext, TxStatus, MAX_PAGE,
};
use agora_types::{Keypair, SignedTransaction};
use common::*;
use serde_json::{json, Value};

/// Entries `Bank.query(path, params)` reads from `exec`'s state.
fn reads(exec: &Executor, path: &str, params: Value) -> u64 {
    exec.with_state(|state| {
        let counter = ReadCounter::new(state);
        Bank.query(&counter, path, &params).unwrap();
        counter.entries_read()
    })
    .unwrap()
}

/// `accounts` funded accounts, the first of which made `holds` holds.
fn chain(accounts: u64, holds: u64) -> (Executor, Keypair) {
    let keys: Vec<_> = (0..accounts).map(Keypair::from_seed).collect();
    let exec = executor(&keys);
    let owner = keys[0].clone();
    let txs: Vec<SignedTransaction> = (0..holds)
        .map(|nonce| {
            sign(
                &owner,
                nonce,
                BankCall::Hold {
                    amount: 1,
                    controller: keys[1].address(),
                },
            )
        })
        .collect();
    let applied = exec.apply_block(&block(1, txs)).unwrap().unwrap();
    assert!(applied
        .receipts
        .iter()
        .all(|r| r.status == TxStatus::Success));
    exec.with_state(Bank::check_conservation).unwrap().unwrap();
    (exec, owner)
}

/// Finding: `conservation` summed every balance and hold for any client, for free. It now
/// reads the running totals: the same three entries with 5 accounts or 2,000.
#[test]
fn conservation_reads_do_not_grow_with_the_accounts() {
    let (small, _) = chain(5, 3);
    let (large, _) = chain(2_000, 300);
    let few = reads(&small, "conservation", Value::Null);
    let many = reads(&large, "conservation", Value::Null);
    assert_eq!(few, many);
    assert!(many <= 3, "{many} entries read");
    // The operator's recount reads them all, and agrees.
    let recount = large
        .operator_query("bank", "conservation", &Value::Null)
        .unwrap();
    assert_eq!(recount["conserved"], true);
    assert_eq!(recount["holds"], "300");
}

/// Finding: `holds {address}` listed every hold of an account in one answer. It now answers
/// pages of at most `MAX_PAGE`, whose reads do not grow with the account's holds, and the
/// pages together list every hold once, in id order.
#[test]
fn an_account_with_many_holds_answers_bounded_pages() {
    let total = 2 * u64::from(MAX_PAGE) + 50;
    let (exec, owner) = chain(2, total);
    let page_cost = reads(&exec, "holds", json!({"address": owner.address()}));
    // An index entry (and one to see whether more follow) and a hold per listed hold.
    assert!(page_cost <= 2 * u64::from(MAX_PAGE) + 1, "{page_cost}");
    let (few, _) = chain(2, 3);
    assert!(
        reads(
            &exec,
            "holds",
            json!({"address": owner.address(), "limit": 3})
        ) <= 7
    );
    assert!(reads(&few, "holds", json!({"address": owner.address()})) <= 7);

    let mut ids = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let page = exec
            .query(
                "bank",
                "holds",
                &json!({"address": owner.address(), "after": after}),
            )
            .unwrap();
        let holds = page["holds"].as_array().unwrap();
        assert!(holds.len() <= MAX_PAGE as usize);
        ids.extend(holds.iter().map(|h| h["id"].as_u64().unwrap()));
        match page["next"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(ids, (0..total).collect::<Vec<_>>());

    let small = exec
        .query(
            "bank",
            "holds",
            &json!({"address": owner.address(), "limit": 2, "after": 7}),
        )
        .unwrap();
    assert_eq!(small["holds"][0]["id"], 8);
    assert_eq!(small["holds"][1]["id"], 9);
    assert_eq!(small["next"], 9);
}

/// A page larger than `MAX_PAGE` is refused with its reason code, not cut silently.
#[test]
fn an_over_limit_page_is_refused_with_its_code() {
    let (exec, owner) = chain(2, 1);
    for limit in [u64::from(MAX_PAGE) + 1, u64::MAX] {
        let err = exec
            .query(
                "bank",
                "holds",
                &json!({"address": owner.address(), "limit": limit}),
            )
            .unwrap_err();
        assert!(matches!(err, QueryError::LimitExceeded { .. }), "{err}");
        assert_eq!(err.reason(), "limit_exceeded");
    }
    let zero = exec
        .query(
            "bank",
            "holds",
            &json!({"address": owner.address(), "limit": 0}),
        )
        .unwrap_err();
    assert_eq!(zero.reason(), "bad_params");
}

/// Stands for a state written before the running totals existed: its call deletes them.
struct Forget;

impl Module for Forget {
    type Call = ();
    type Error = agora_bank::BankError;

    fn name(&self) -> &'static str {
        "forget"
    }

    fn decode_call(&self, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }

    fn execute(&self, ctx: &mut TxContext<'_>, _: ()) -> Result<(), Self::Error> {
        for key in [&b"sum_balances"[..], b"sum_holds"] {
            ctx.delete(TxContext::module_key("bank", key));
        }
        Ok(())
    }

    fn query(
        &self,
        _: &dyn agora_ledger::StateRead,
        path: &str,
        _: &Value,
    ) -> Result<Value, QueryError> {
        Err(QueryError::UnknownPath {
            module: "forget".into(),
            path: path.into(),
        })
    }
}

/// On a state without running totals the public query says so instead of a wrong answer,
/// and the next bank operation counts them once.
#[test]
fn running_totals_missing_from_an_older_state_are_counted_once() {
    let keys: Vec<_> = (0..3).map(Keypair::from_seed).collect();
    let exec = funded_with(&keys, START, Forget);
    let hold = |nonce| {
        sign(
            &keys[0],
            nonce,
            BankCall::Hold {
                amount: 40,
                controller: keys[1].address(),
            },
        )
    };
    let forget = |nonce| {
        sign_call(
            &keys[2],
            nonce,
            agora_types::Call {
                module: "forget".into(),
                payload: Vec::new().into(),
            },
        )
    };
    exec.apply_block(&block(1, vec![hold(0), forget(0)]))
        .unwrap()
        .unwrap();
    assert!(exec.query("bank", "conservation", &Value::Null).is_err());
    assert!(exec.with_state(Bank::check_conservation).unwrap().is_err());
    exec.apply_block(&block(2, vec![hold(1)])).unwrap().unwrap();
    exec.with_state(Bank::check_conservation).unwrap().unwrap();
    let answer = exec.query("bank", "conservation", &Value::Null).unwrap();
    assert_eq!(
        (answer["holds"].as_str(), answer["conserved"].as_bool()),
        (Some("80"), Some(true))
    );
}
