//! A node's executor and mempool in memory, with funded keys, for admission tests.
#![allow(dead_code)]

use agora_bank::BankCall;
use agora_energy::{solution::MAX_TRADES_PER_CALL, EnergyCall, Trade};
use agora_energy::{DsoPrice, MarketParams, Side};
use agora_ledger::{AppliedBlock, Executor, ModuleGenesis};
use agora_node::{
    limits::{MempoolLimits, RpcLimits},
    mempool::Mempool,
    metrics::NodeMetrics,
    node::executor_with_modules,
    queries::QueryGate,
    rpc::{serve, RpcState},
};
use agora_types::{
    Address, Block, Call, FeeSchedule, Keypair, Receipt, SignedTransaction, Transaction, TxStatus,
};
use jsonrpsee::server::ServerHandle;
use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};
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
        queries: QueryGate::new(&limits),
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

/// Executes one block per call, as consensus would finalize them.
pub struct Blocks<'a> {
    pub exec: &'a Executor,
    pub height: u64,
    pub nonces: BTreeMap<Address, u64>,
}

impl<'a> Blocks<'a> {
    /// Blocks from height 1 on `exec`.
    pub fn new(exec: &'a Executor) -> Self {
        Self {
            exec,
            height: 0,
            nonces: BTreeMap::new(),
        }
    }

    pub fn run(&mut self, key: &Keypair, call: Call) -> Receipt {
        let nonce = self.nonces.entry(key.address()).or_default();
        let tx = sign(key, *nonce, call);
        *nonce += 1;
        self.height += 1;
        let applied = self
            .exec
            .apply_block(&block(self.height, vec![tx]))
            .unwrap()
            .unwrap();
        applied.receipts.into_iter().next().unwrap()
    }

    pub fn ok(&mut self, key: &Keypair, call: EnergyCall) -> Receipt {
        let r = self.run(key, call.into_call());
        assert_eq!(r.status, TxStatus::Success, "{:?}", r.message);
        r
    }
}

/// A market of two feeders (groups 0 and 1, C_int 100, C_ext 50), a seller on the first and a
/// buyer on the second, their offers for interval 10 and a candidate trading 30 Wh.
pub fn energy_market(blocks: &mut Blocks<'_>, dso: &Keypair, seller: &Keypair, buyer: &Keypair) {
    blocks.ok(
        dso,
        EnergyCall::CreateMarket(MarketParams {
            interval_ms: 1_000,
            start_ms: 1_000_000,
            t_clear: 1,
            prices: vec![DsoPrice { buy: 30, sell: 5 }],
        }),
    );
    for feeder in [1, 2] {
        blocks.ok(
            dso,
            EnergyCall::DefineGroup {
                market: 0,
                feeders: vec![feeder],
                c_int: 100,
                c_ext: 50,
            },
        );
    }
    for (i, (p, side)) in [(seller, Side::Sell), (buyer, Side::Buy)]
        .into_iter()
        .enumerate()
    {
        let meter = Keypair::from_seed(100 + i as u64).address();
        blocks.ok(
            dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: p.address(),
                feeder: i as u32 + 1,
                l_prod: 100,
                l_cons: 100,
            },
        );
        blocks.ok(p, EnergyCall::RegisterProsumer { market: 0, meter });
        blocks.ok(
            p,
            EnergyCall::WithdrawAssets {
                market: 0,
                side,
                group: i as u32,
                energy: 40,
                first: 10,
                last: 20,
            },
        );
        blocks.ok(
            p,
            EnergyCall::PostOffer {
                market: 0,
                side,
                group: i as u32,
                energy: 30,
                intervals: vec![10],
                price: if side == Side::Sell { 10 } else { 20 },
            },
        );
    }
    let trade = Trade {
        sell: 0,
        buy: 1,
        interval: 10,
        energy: 30,
        price: 15,
    };
    blocks.ok(
        dso,
        EnergyCall::PostSolution {
            market: 0,
            trades: vec![trade],
        },
    );
}
