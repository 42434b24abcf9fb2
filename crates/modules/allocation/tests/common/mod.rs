//! A chain that runs the bank and allocation modules through the executor, one transaction per
//! block at a timestamp the test chooses; conservation of tokens is checked after every block.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use agora_allocation::*;
use agora_bank::Bank;
use agora_ledger::{Executor, ModuleGenesis, TxStatus};
use agora_types::{Address, Block, Keypair, Receipt, Transaction};
use std::collections::BTreeMap;

pub const CHAIN: &str = "allocation-test";
pub const FUNDS: u64 = 1_000_000;

pub struct Chain {
    pub exec: Executor,
    pub height: u64,
    pub now: u64,
    pub nonces: BTreeMap<Address, u64>,
}

impl Chain {
    pub fn new(keys: &[&Keypair]) -> Self {
        let exec = Executor::in_memory(CHAIN)
            .unwrap()
            .with_module(Bank)
            .with_module(Allocation);
        let balances: serde_json::Map<_, _> = keys
            .iter()
            .map(|k| (k.address().to_string(), FUNDS.into()))
            .collect();
        let mut genesis = ModuleGenesis::new();
        genesis.insert("bank".into(), serde_json::json!({ "balances": balances }));
        exec.init_genesis(&genesis, 0).unwrap();
        Self {
            exec,
            height: 0,
            now: 0,
            nonces: BTreeMap::new(),
        }
    }

    /// Sends `call` in a block at time `at` (ms; must not go back).
    pub fn at(&mut self, at: u64, key: &Keypair, call: AllocationCall) -> Receipt {
        assert!(at >= self.now, "the block clock never goes back");
        self.now = at;
        let nonce = self.nonces.entry(key.address()).or_default();
        let tx = Transaction {
            chain_id: CHAIN.into(),
            sender: key.address(),
            nonce: *nonce,
            call: call.into_call(),
        }
        .sign(key);
        *nonce += 1;
        self.height += 1;
        let block = Block::outside_consensus(self.height, self.now, vec![tx]);
        let applied = self.exec.apply_block(&block).unwrap().unwrap();
        self.exec
            .with_state(Bank::check_conservation)
            .unwrap()
            .unwrap();
        applied.receipts.into_iter().next().unwrap()
    }

    /// Sends `call` one millisecond after the last block.
    pub fn send(&mut self, key: &Keypair, call: AllocationCall) -> Receipt {
        self.at(self.now + 1, key, call)
    }

    pub fn ok_at(&mut self, at: u64, key: &Keypair, call: AllocationCall) -> Receipt {
        let r = self.at(at, key, call);
        assert_eq!(r.status, TxStatus::Success, "{:?}", r.message);
        r
    }

    pub fn ok(&mut self, key: &Keypair, call: AllocationCall) -> Receipt {
        self.ok_at(self.now + 1, key, call)
    }

    /// The reason code of a refused call (state unchanged: the test may check).
    pub fn refused_at(&mut self, at: u64, key: &Keypair, call: AllocationCall) -> String {
        let r = self.at(at, key, call);
        assert_eq!(r.status, TxStatus::Failed, "expected a refusal");
        r.reason.unwrap()
    }

    pub fn refused(&mut self, key: &Keypair, call: AllocationCall) -> String {
        self.refused_at(self.now + 1, key, call)
    }

    pub fn query(&self, path: &str, params: serde_json::Value) -> serde_json::Value {
        self.exec.query("allocation", path, &params).unwrap()
    }

    pub fn market(&self) -> Market {
        serde_json::from_value(self.query("market", serde_json::json!({"market": 0}))).unwrap()
    }

    pub fn balance(&self, a: &Keypair) -> u64 {
        self.exec
            .query(
                "bank",
                "balance",
                &serde_json::json!({"address": a.address().to_string()}),
            )
            .unwrap()["balance"]
            .as_u64()
            .unwrap()
    }
}

/// Spec G3's market: phases of 1,000 ms, objective 6.5, no bounds, no pairs.
pub fn params(settle: bool) -> MarketParams {
    MarketParams {
        receive_ms: 1_000,
        solve_ms: 1_000,
        max_quantity: 1_000,
        max_types_per_offer: 16,
        objective: Objective::Quantity,
        default_bound: None,
        price_bounds: vec![],
        pairs: PairRule::Any,
        settle,
        max_offers_per_cycle: 100,
        max_solutions_per_cycle: 100,
    }
}

pub fn alt(rtype: TypeId, quantity: u64, value: u64) -> Alternative {
    Alternative {
        rtype,
        quantity,
        value,
    }
}

pub fn asg(
    provider: OfferId,
    consumer: OfferId,
    rtype: TypeId,
    quantity: u64,
    price: u64,
) -> Assignment {
    Assignment {
        provider,
        consumer,
        rtype,
        quantity,
        price,
    }
}

pub fn place(side: Side, alternatives: Vec<Alternative>) -> AllocationCall {
    AllocationCall::PlaceOffer {
        market: 0,
        side,
        misc: 0,
        alternatives,
    }
}

pub fn submit(assignments: Vec<Assignment>) -> AllocationCall {
    AllocationCall::SubmitSolution {
        market: 0,
        misc: 0,
        assignments,
    }
}

pub const CLOSE: AllocationCall = AllocationCall::Close { market: 0 };
pub const FINALIZE: AllocationCall = AllocationCall::Finalize { market: 0 };

pub fn keys(n: u64) -> Vec<Keypair> {
    (1..=n).map(Keypair::from_seed).collect()
}
