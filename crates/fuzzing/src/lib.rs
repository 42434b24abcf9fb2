//! Fuzzing what Agora takes from strangers.
//!
//! Every input a node, a market participant or a discovery daemon accepts from someone it does
//! not trust has a *target* here: a property that must hold for any bytes, and seeds (valid
//! inputs) to mutate from.
//!
//! | target | what the bytes are | property |
//! | --- | --- | --- |
//! | `transaction` | a signed transaction or a block, as the RPC and the p2p network receive them | decoding never panics; what decodes re-encodes to the same bytes; checks never panic |
//! | `modules` | a sequence of calls to every module the node runs (any payload, any sender of four, any block time) | execution never panics or errors the executor; after every block the bank's balances and holds sum to its supply, and the supply never grows |
//! | `mixer` | the messages members of a CoinShuffle run sign (any content: a member signs what it likes) | decoding and checking never panic; the judge never panics, names only members, and reaches the same verdict whatever order the blames arrive in |
//! | `discovery` | UDP datagrams and DHT values | decoding never panics, is canonical, verifying never panics |
//!
//! The same properties run three ways: a bounded number of deterministic mutations in the test
//! suite (`tests/targets.rs`), a time budget per target in `agora bench fuzz`, and coverage-guided
//! libFuzzer in `fuzz/` (BENCHMARKS.md has the commands).

pub mod mutate;
mod targets;

pub use targets::{discovery, mixer, modules, transaction};

use std::{
    panic::{self, AssertUnwindSafe},
    time::{Duration, Instant},
};

/// One fuzz target: its property and its seeds.
pub struct Target {
    pub name: &'static str,
    /// Panics if `data` breaks the property.
    pub check: fn(&[u8]),
    /// Valid inputs to mutate from.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every target, in the order `agora bench fuzz` runs them.
pub fn targets() -> [Target; 4] {
    [
        Target {
            name: "transaction",
            check: transaction::check,
            seeds: transaction::seeds,
        },
        Target {
            name: "modules",
            check: modules::check,
            seeds: modules::seeds,
        },
        Target {
            name: "mixer",
            check: mixer::check,
            seeds: mixer::seeds,
        },
        Target {
            name: "discovery",
            check: agora_discovery::fuzzing::check,
            seeds: agora_discovery::fuzzing::seeds,
        },
    ]
}

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Exactly this many inputs (the seeds, then mutations): the same run everywhere.
    Inputs(u64),
    /// Mutations until this much time has passed.
    Time(Duration),
}

/// An input that broke the property, and the panic's message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Crash {
    pub input_hex: String,
    pub message: String,
}

/// What one run of a target did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub crashes: Vec<Crash>,
}

/// Runs `target` on its seeds and then on mutations drawn from `seed`, until `budget` is
/// spent; every panic is caught and recorded with the input that caused it.
pub fn run(target: &Target, budget: Budget, seed: u64) -> Report {
    let seeds = (target.seeds)();
    let mut rng = mutate::Rng::new(seed);
    let started = Instant::now();
    let mut report = Report {
        target: target.name,
        inputs: 0,
        crashes: Vec::new(),
    };
    loop {
        let more = match budget {
            Budget::Inputs(n) => report.inputs < n,
            Budget::Time(t) => report.inputs < seeds.len() as u64 || started.elapsed() < t,
        };
        if !more {
            return report;
        }
        let input = match seeds.get(report.inputs as usize) {
            Some(s) => s.clone(),
            None => mutate::mutate(&mut rng, &seeds),
        };
        report.inputs += 1;
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| (target.check)(&input))) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            report.crashes.push(Crash {
                input_hex: hex::encode(&input),
                message,
            });
        }
    }
}
