//! A node's executor and mempool in memory, with funded keys, for admission tests.
#![allow(dead_code)]

use agora_bank::BankCall;
use agora_energy::{solution::MAX_TRADES_PER_CALL, EnergyCall, Trade};
use agora_ledger::{AppliedBlock, Executor, ModuleGenesis};
use agora_node::{
    limits::{MempoolLimits, RpcLimits},
    mempool::Mempool,
    metrics::NodeMetrics,
    node::executor_with_modules,
    rpc::{serve, RpcState},
};
use agora_types::{Block, Call, FeeSchedule, Keypair, SignedTransaction, Transaction};
use jsonrpsee::server::ServerHandle;
use std::{net::SocketAddr, sync::Arc};
use tokio::sync::broadcast;

pub const CHAIN: &str = "admission-test";
/// What each funded key holds: a thousand 1 MiB transactions' fees.
pub const FUNDS: u64 = 1_000_000_000_000;

/// An executor with the node's modules and fees in which `funded` hold `FUNDS` each.
pub fn executor(funded: &[&Keypair]) -> Arc<Executor> {
    let exec = executor_with_modules(Executor::in_memory(CHAIN).unwrap(), FeeSchedule::default());
    let balances: serde_json::Map<String, serde_json::Value> = funded
        .iter()
        .map(|k| (k.address().to_string(), FUNDS.into()))
        .collect();
    let mut genesis = ModuleGenesis::new();
    genesis.insert("bank".into(), serde_json::json!({ "balances": balances }));
    exec.init_genesis(&genesis, 0).unwrap();
    Arc::new(exec)
}

pub fn mempool(funded: &[&Keypair], limits: MempoolLimits) -> Mempool {
    Mempool::new(executor(funded), limits)
}

pub fn sign(key: &Keypair, nonce: u64, call: Call) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN.into(),
        sender: key.address(),
        nonce,
        call,
    }
    .sign(key)
}

pub fn transfer(key: &Keypair, nonce: u64, amount: u64) -> SignedTransaction {
    let to = Keypair::from_seed(999).address();
    sign(key, nonce, BankCall::Transfer { to, amount }.into_call())
}

/// A well-formed transaction of almost 1 MiB: one part of a staged energy solution.
pub fn staged_part(key: &Keypair, nonce: u64) -> SignedTransaction {
    let trade = Trade {
        sell: 0,
        buy: 1,
        interval: 0,
        energy: 1,
        price: 1,
    };
    let call = EnergyCall::StageSolution {
        market: 0,
        part: 0,
        trades: vec![trade; MAX_TRADES_PER_CALL],
    };
    sign(key, nonce, call.into_call())
}

/// Block `height` with `txs`, as consensus would finalize it.
pub fn block(height: u64, txs: Vec<SignedTransaction>) -> Block {
    Block::outside_consensus(height, height * 1000, txs)
}

/// What the node's own channel of applied blocks holds.
const APPLIED_CAPACITY: usize = 4096;

/// The real RPC server over TCP, without consensus: tests play the consensus side through
/// `state` (its executor, tip and metrics) and `applied`.
pub struct Served {
    pub addr: SocketAddr,
    pub state: RpcState,
    pub applied: broadcast::Sender<Arc<AppliedBlock>>,
    _handle: ServerHandle,
}

/// Serves a node whose executor funds `Keypair::from_seed(1)`.
pub async fn served(limits: RpcLimits) -> Served {
    let exec = executor(&[&Keypair::from_seed(1)]);
    let (applied, _) = broadcast::channel(APPLIED_CAPACITY);
    let state = RpcState {
        executor: exec.clone(),
        mempool: Mempool::new(exec.clone(), MempoolLimits::default()),
        applied: applied.clone(),
        tip: Arc::default(),
        validators: Vec::new(),
        metrics: Arc::new(NodeMetrics::new(exec.module_names())),
    };
    let (addr, handle) = serve(([127, 0, 0, 1], 0).into(), state.clone(), &limits)
        .await
        .unwrap();
    Served {
        addr,
        state,
        applied,
        _handle: handle,
    }
}
