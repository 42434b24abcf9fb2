//! A chain that runs the bank and allocation modules through the executor, one transaction per
//! block at a timestamp the test chooses; conservation of tokens is checked after every block.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use agora_allocation::*;
use agora_ledger::Executor;
use agora_testkit::TestChain;
use agora_types::Keypair;

pub const CHAIN: &str = "allocation-test";
pub const FUNDS: u64 = 1_000_000;

agora_testkit::market_chain!(Chain, AllocationCall);

impl Chain {
    pub fn new(keys: &[&Keypair]) -> Self {
        let exec = Executor::in_memory(CHAIN).unwrap().with_module(Allocation);
        Self(TestChain::new(exec, keys, FUNDS, AllocationCall::into_call))
    }

    pub fn query(&self, path: &str, params: serde_json::Value) -> serde_json::Value {
        self.query_module("allocation", path, params).unwrap()
    }

    pub fn market(&self) -> Market {
        serde_json::from_value(self.query("market", serde_json::json!({"market": 0}))).unwrap()
    }
}

pub use agora_allocation::examples::params;

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
