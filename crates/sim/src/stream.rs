//! The stream market (seed chapter 4) played by its agents on a real chain. One file per role:
//!
//! - [`allocator`]: the allocator's matching (spec 2.3-2.6), a pure function;
//! - `allocator_agent.rs`: keeps the offer pool and writes allocations on the ledger;
//! - `customer.rs`, `supplier.rs`, `mediator.rs`: the parties of an allocation, each from
//!   signing to close; `keeper.rs` closes what is due;
//! - `service.rs`: the WebAssembly service every replica and the mediator run per input;
//! - [`bus`]: the channels the agents exchange offers, inputs, outputs and test seqs on (spec
//!   §5), embedded or NATS, opened and closed as the ledger's record of each allocation says;
//! - `ledger.rs`: sending calls and watching allocations;
//! - [`harness`]: one market's population played for a number of allocations;
//! - [`strategies`]: the strategy experiments of Fig. 4.5 and 4.6 (`agora sim stream
//!   strategies`); [`latency`]: the end-to-end latency experiment of Fig. 4.7 (`agora sim
//!   stream latency`), with the spans `metrics.rs` records.

pub mod allocator;
mod allocator_agent;
pub mod bus;
mod customer;
pub mod harness;
mod keeper;
pub mod latency;
mod ledger;
pub mod live;
mod mediator;
pub mod metrics;
pub mod service;
pub mod strategies;
mod supplier;

pub(crate) use crate::energy::now_ms;

use agora_stream::{MarketId, StreamParams};
use agora_types::Address;
use serde::Serialize;
use std::sync::Arc;

/// The golden ratio's fractional part: consecutive multiples of it fill [0, 1) evenly.
const PHI: f64 = 0.618_033_988_749_894_9;

/// A party's honesty P: whether its k-th allocation is played honestly. Decisions follow a
/// low-discrepancy sequence shared by the members of a group (member i takes terms i,
/// i + size, …), so a group's share of honest allocations stays within a few allocations of P
/// however short the run; the seed shifts the sequence.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Honesty {
    pub p: f64,
    offset: f64,
    member: u64,
    group_size: u64,
}

impl Honesty {
    pub fn new(p: f64, seed: u64, member: u64, group_size: u64) -> Self {
        let offset = (seed as f64 * PHI * PHI).fract();
        Self {
            p,
            offset,
            member,
            group_size: group_size.max(1),
        }
    }

    pub fn honest(&self, k: u64) -> bool {
        let i = self.member + self.group_size * k;
        (self.offset + i as f64 * PHI).fract() < self.p
    }
}

/// The market's economics: the on-ledger terms every offer carries and the off-ledger
/// quantities of the utilities (spec 7.2), in µ.
#[derive(Clone, Debug, Serialize)]
pub struct Economy {
    /// I_c: million instructions per input (the pricing unit).
    pub instructions: u64,
    /// π_x, µ per million instructions: floor and ceiling of every offer, so π_s = I_c·π_x.
    pub price: u64,
    /// λ in milli-inputs per second of ledger time.
    pub rate_milli: u64,
    /// r.
    pub replicas: u32,
    /// Δ in ms of ledger time.
    pub window_ms: u64,
    /// b: the customer's benefit per output received.
    pub benefit: f64,
    /// π_sε: the supplier's electricity per input processed.
    pub electricity: f64,
    /// π_cg: the customer's cost of one test output.
    pub test_cost: f64,
}

/// What every agent of a market shares.
pub struct Market {
    pub id: MarketId,
    pub params: StreamParams,
    pub allocator: Address,
    pub mediator: Address,
    pub economy: Economy,
    pub service: Arc<service::Service>,
    /// Messages the customer cuts an allocation's inputs into, paced over its window (one
    /// input each when there are as many as inputs).
    pub batches: u64,
    pub metrics: metrics::Metrics,
    watcher: ledger::Watcher,
}
