//! What the bank's integration tests share: an executor with funded keys, signed calls and
//! blocks, and the bank's answers.
#![allow(dead_code)]

use agora_bank::{Bank, BankCall};
use agora_ledger::{Executor, Module, ModuleGenesis};
use agora_types::{Address, Block, Call, FeeSchedule, Keypair, SignedTransaction, Transaction};

pub const CHAIN: &str = "bank-test";
pub const START: u64 = 1_000_000;

pub fn executor(keys: &[Keypair]) -> Executor {
    funded(keys, START, FeeSchedule::FREE)
}

/// An executor charging `fees` in which each of `keys` holds `balance`.
pub fn funded(keys: &[Keypair], balance: u64, fees: FeeSchedule) -> Executor {
    with_balances(
        Executor::in_memory(CHAIN)
            .unwrap()
            .with_module(Bank)
            .with_fees(fees, Bank),
        keys,
        balance,
    )
}

/// A free executor running `extra` beside the bank, in which each of `keys` holds `balance`.
pub fn funded_with(keys: &[Keypair], balance: u64, extra: impl Module) -> Executor {
    with_balances(
        Executor::in_memory(CHAIN)
            .unwrap()
            .with_module(Bank)
            .with_module(extra),
        keys,
        balance,
    )
}

fn with_balances(exec: Executor, keys: &[Keypair], balance: u64) -> Executor {
    let balances: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| (k.address().to_string(), balance.into()))
        .collect();
    let mut genesis = ModuleGenesis::new();
    genesis.insert("bank".into(), serde_json::json!({ "balances": balances }));
    exec.init_genesis(&genesis, 0).unwrap();
    exec
}

pub fn block(height: u64, txs: Vec<SignedTransaction>) -> Block {
    Block::outside_consensus(height, height * 1000, txs)
}

pub fn sign(key: &Keypair, nonce: u64, call: BankCall) -> SignedTransaction {
    sign_call(key, nonce, call.into_call())
}

pub fn sign_call(key: &Keypair, nonce: u64, call: Call) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN.into(),
        sender: key.address(),
        nonce,
        call,
    }
    .sign(key)
}

pub fn supply(exec: &Executor) -> u64 {
    exec.query("bank", "supply", &serde_json::Value::Null)
        .unwrap()["supply"]
        .as_u64()
        .unwrap()
}

pub fn balance(exec: &Executor, a: &Address) -> u64 {
    exec.query(
        "bank",
        "balance",
        &serde_json::json!({"address": a.to_string()}),
    )
    .unwrap()["balance"]
        .as_u64()
        .unwrap()
}
