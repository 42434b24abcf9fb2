//! A chain that runs the bank and energy modules through the executor, block by block, as
//! validators would; conservation of tokens is checked after every block.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use agora_energy::{DsoPrice, Energy, EnergyCall, MarketParams, Side, Trade};
use agora_ledger::{Executor, TxStatus};
use agora_testkit::TestChain;
use agora_types::Keypair;

pub const CHAIN: &str = "energy-test";
pub const START: u64 = 1_000_000;
pub const DELTA: u64 = 1_000;
pub const FUNDS: u64 = 1_000_000_000;

agora_testkit::market_chain!(Chain, EnergyCall);

impl Chain {
    pub fn new(keys: &[&Keypair]) -> Self {
        let exec = Executor::in_memory(CHAIN).unwrap().with_module(Energy);
        Self(
            TestChain::new(exec, keys, FUNDS, EnergyCall::into_call)
                .starting_at(START - 10 * DELTA),
        )
    }

    /// The reason code and message of a refused call.
    pub fn refused(&mut self, key: &Keypair, call: EnergyCall) -> String {
        let r = self.send(key, call);
        assert_eq!(r.status, TxStatus::Failed);
        format!("{}: {}", r.reason.unwrap(), r.message.unwrap())
    }

    pub fn query(&self, path: &str, params: serde_json::Value) -> serde_json::Value {
        self.query_module("energy", path, params).unwrap()
    }
}

/// `dso` creates market 0: intervals of [`DELTA`] from [`START`], T_clear 1, `prices`.
pub fn create_market(chain: &mut Chain, dso: &Keypair, prices: Vec<DsoPrice>) {
    chain.ok(
        dso,
        EnergyCall::CreateMarket(MarketParams {
            interval_ms: DELTA,
            start_ms: START,
            t_clear: 1,
            prices,
        }),
    );
}

/// A market with feeder 1 (group 0) and feeder 2 (group 1); prosumers a, b on feeder 1 and c
/// on feeder 2, each registered with limits of 100 Wh per interval.
pub struct Setup {
    pub chain: Chain,
    pub dso: Keypair,
    pub a: Keypair,
    pub b: Keypair,
    pub c: Keypair,
}

pub fn setup(f1: (u64, u64), f2: (u64, u64)) -> Setup {
    let dso = Keypair::from_seed(1);
    let (a, b, c) = (
        Keypair::from_seed(2),
        Keypair::from_seed(3),
        Keypair::from_seed(4),
    );
    let mut chain = Chain::new(&[&dso, &a, &b, &c]);
    create_market(&mut chain, &dso, vec![DsoPrice { buy: 30, sell: 5 }]);
    chain.ok(&dso, group(vec![1], f1.0, f1.1));
    chain.ok(&dso, group(vec![2], f2.0, f2.1));
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

/// Withdraws `energy` Wh of `who`'s assets on `side` in `group` for intervals 10 to 20.
pub fn withdraw(chain: &mut Chain, who: &Keypair, side: Side, group: u32, energy: u64) {
    withdraw_over(chain, who, side, group, energy, (10, 20));
}

/// Withdraws `energy` Wh of `who`'s assets on `side` in `group` for intervals `first..=last`.
pub fn withdraw_over(
    chain: &mut Chain,
    who: &Keypair,
    side: Side,
    group: u32,
    energy: u64,
    (first, last): (u32, u32),
) {
    chain.ok(
        who,
        EnergyCall::WithdrawAssets {
            market: 0,
            side,
            group,
            energy,
            first,
            last,
        },
    );
}

/// The DSO's call defining a group of `feeders` of market 0 with limits `c_int`, `c_ext`.
pub fn group(feeders: Vec<u32>, c_int: u64, c_ext: u64) -> EnergyCall {
    EnergyCall::DefineGroup {
        market: 0,
        feeders,
        c_int,
        c_ext,
    }
}

pub fn offer(
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
pub fn total_assets(chain: &Chain, who: &[&Keypair], interval: u32) -> (u64, u64) {
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

pub fn trade(sell: u64, buy: u64, interval: u32, energy: u64, price: u64) -> Trade {
    Trade {
        sell,
        buy,
        interval,
        energy,
        price,
    }
}

pub fn solution(trades: Vec<Trade>) -> EnergyCall {
    EnergyCall::PostSolution { market: 0, trades }
}
