//! The MODiCuM compute market on a real chain with every role as an agent (spec `compute.md`
//! §4, §6), one file per role; each talks to the chain only through [`agora_client`] and to
//! the directory only over HTTP:
//!
//! - **Job creator** (`job_creator.rs`): runs its jobs one after another. For each it runs the
//!   job once locally to set exact limits (spec §4.3), uploads module and input to the
//!   directory, posts the offer with the eq. 3.2 deposit, waits for the match and the result,
//!   downloads the output, verifies with probability `jc_verify_rate` by running the job again
//!   (exact output hash and fuel), and accepts or rejects with the reason the mismatch gives.
//! - **Resource provider** (`resource_provider.rs`): keeps one resource offer open; on a match
//!   fetches the blobs, runs the job under the offer's limits and posts status, output and
//!   fuel. With probability `rp_cheat_rate` it forges instead: random output of the allowed
//!   size, uploaded, and a plausible fuel count; with `rp_silent_rate` it never answers.
//! - **Mediator** (`mediator.rs`): for each match in its queue follows §4.4's table (re-runs n
//!   times, fetches blobs, reads the directory's signed availability record) and posts the
//!   verdict with its own run.
//! - **Directory operator** (`directory_operator.rs`): serves the blob store and the signed
//!   availability record, registers its endpoint, and keeps each match's blobs until it closes
//!   plus a grace period.
//! - **Solver daemon** (`solver.rs`): reads the open problem, posts a cheapest maximum matching
//!   ([`matching`]).
//! - **Keeper** (`keeper.rs`): calls whatever is due: result and mediation timeouts, late
//!   accepts.
//!
//! [`run`] (`harness.rs`) funds and starts them on a fresh market, plays the jobs and returns
//! the [`ComputeSimSummary`] (`summary.rs`), with the supply recomputed from the ledger.

mod directory_operator;
mod harness;
mod job_creator;
mod keeper;
pub mod live;
pub mod matching;
mod mediator;
mod resource_provider;
mod solver;
mod summary;
mod workload;

pub use harness::run;
pub use summary::{ComputeSimSummary, JobRecord, Latency, MarketTerms, RoleNet};

use crate::energy::SimError;
use agora_client::Client;
use agora_compute::{ComputeCall, NAME};
use agora_types::{Keypair, Receipt, TxStatus};
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What `agora sim compute` varies.
#[derive(Clone, Debug)]
pub struct ComputeSimConfig {
    pub jobs: usize,
    /// Probability that the RP forges a result (1 - p_e).
    pub rp_cheat_rate: f64,
    /// Probability that the JC verifies a result (p_v).
    pub jc_verify_rate: f64,
    /// Probability that the RP never answers a match (the result-timeout path).
    pub rp_silent_rate: f64,
    pub seed: u64,
    /// Time from posting a job offer to its completion deadline T_c.
    pub completion_window_ms: u64,
}

impl Default for ComputeSimConfig {
    fn default() -> Self {
        ComputeSimConfig {
            jobs: 10,
            rp_cheat_rate: 0.0,
            jc_verify_rate: 0.0,
            rp_silent_rate: 0.0,
            seed: 0,
            completion_window_ms: 30_000,
        }
    }
}

/// How often agents look at the chain: about a block (20 ms minimum interval).
const POLL: Duration = Duration::from_millis(20);

/// Transactions an agent sent, their fees and their latency (submit to receipt).
#[derive(Debug, Default, Clone)]
pub(crate) struct TxStats {
    pub sent: u64,
    pub failed: u64,
    pub fees: u64,
    pub latencies_ms: Vec<f64>,
}

/// An agent's account: its key, a client of the node, and what its transactions cost.
#[derive(Clone)]
pub(crate) struct Account {
    pub key: Keypair,
    pub client: Client,
    pub stats: Arc<Mutex<TxStats>>,
}

impl Account {
    pub fn new(key: Keypair, client: Client) -> Self {
        Account {
            key,
            client,
            stats: Arc::default(),
        }
    }

    pub fn address(&self) -> agora_types::Address {
        self.key.address()
    }

    fn record(&self, f: impl FnOnce(&mut TxStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Sends `call` and waits for its receipt, whatever its status (a lost race is a failed
    /// receipt, not an error).
    pub async fn submit(&self, call: ComputeCall) -> Result<Receipt, SimError> {
        let start = Instant::now();
        let tx = self.client.send(&self.key, call.into_call()).await?;
        let receipt = self
            .client
            .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
            .await?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let failed = receipt.status != TxStatus::Success;
        self.record(|s| {
            s.sent += 1;
            s.failed += u64::from(failed);
            s.fees += receipt.fee;
            s.latencies_ms.push(ms);
        });
        Ok(receipt)
    }

    /// [`Self::submit`], requiring success.
    pub async fn execute(&self, what: &str, call: ComputeCall) -> Result<Receipt, SimError> {
        let receipt = self.submit(call).await?;
        if receipt.status != TxStatus::Success {
            return Err(SimError::Failed {
                what: what.into(),
                reason: receipt.reason.unwrap_or_default(),
            });
        }
        Ok(receipt)
    }

    pub fn stats(&self) -> TxStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A compute query's answer as `T`.
pub(crate) async fn query<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    params: serde_json::Value,
) -> Result<T, SimError> {
    let value = client.query(NAME, path, params).await?;
    serde_json::from_value(value).map_err(|e| SimError::Unexpected(format!("{path}: {e}")))
}

/// The timestamp of the latest executed block: the chain's clock.
pub(crate) async fn chain_time(client: &Client) -> Result<u64, SimError> {
    let height = client.status().await?.height;
    let block = client
        .block(height)
        .await?
        .ok_or_else(|| SimError::Unexpected(format!("no block {height}")))?;
    Ok(block.timestamp)
}

/// The data of the first event `name` of a receipt.
pub(crate) fn event<'a>(
    receipt: &'a Receipt,
    name: &str,
) -> Result<&'a serde_json::Value, SimError> {
    receipt
        .events
        .iter()
        .find(|e| e.module == NAME && e.name == name)
        .map(|e| &e.data)
        .ok_or_else(|| SimError::Unexpected(format!("no {name} event")))
}

/// Wall-clock time an agent spent running jobs for a match, so the harness can subtract it
/// from what the market adds.
#[derive(Debug, Default)]
pub(crate) struct Timings(Mutex<std::collections::BTreeMap<u64, f64>>);

impl Timings {
    pub fn add(&self, match_id: u64, ms: f64) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(match_id)
            .or_default() += ms;
    }

    pub fn get(&self, match_id: u64) -> f64 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&match_id)
            .copied()
            .unwrap_or(0.0)
    }
}

/// What agents observed off the ledger, for the summary: run times per match and which
/// matches the RP forged or ignored.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub rp_ms: Timings,
    pub mediator_ms: Timings,
    pub forged: Mutex<std::collections::BTreeSet<u64>>,
    pub silent: Mutex<std::collections::BTreeSet<u64>>,
}

impl Observed {
    pub fn mark(set: &Mutex<std::collections::BTreeSet<u64>>, match_id: u64) {
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(match_id);
    }

    pub fn has(set: &Mutex<std::collections::BTreeSet<u64>>, match_id: u64) -> bool {
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&match_id)
    }
}

/// Set when the agents should wind down.
pub(crate) type Stop = Arc<std::sync::atomic::AtomicBool>;

pub(crate) fn stopped(stop: &Stop) -> bool {
    stop.load(std::sync::atomic::Ordering::SeqCst)
}

/// The directory endpoint registered on the chain for `directory`.
pub(crate) async fn directory_client(
    client: &Client,
    market: u64,
    directory: &agora_types::Address,
) -> Result<agora_directory::Client, SimError> {
    let p: matching::Participant = query(
        client,
        "participant",
        serde_json::json!({"market": market, "address": directory}),
    )
    .await?;
    let endpoint = p
        .directory
        .ok_or_else(|| SimError::Unexpected(format!("{directory} is not a directory")))?
        .endpoint;
    Ok(agora_directory::Client::new(
        endpoint,
        workload::MAX_BLOB_BYTES,
    ))
}

/// A deterministic random source for one agent's strategy draws.
pub(crate) fn rng(seed: u64, agent: u64) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ agent)
}

/// Records the agents' unit tests build.
#[cfg(test)]
pub(crate) mod test_support {
    use agora_compute::{ExecReport, Match, MatchState, Prices, Resources, ResultStatus, Terms};
    use agora_types::Address;

    /// Match 0 of market 3 in `state`: T_c 1,000, result (JobNotFound) at 2,000, rejected at
    /// 3,000; every party the same dummy account.
    pub fn matched(state: MatchState) -> Match {
        let a = Address([1; 32]);
        Match {
            id: 0,
            job_offer: 0,
            resource_offer: 1,
            jc: a,
            rp: a,
            mediator: a,
            directory: a,
            solver: a,
            jc_hold: 0,
            rp_hold: 1,
            terms: Terms {
                penalty_rate: 1,
                verification_count: 1,
                estimate: 1,
                limits: Resources::default(),
                job_bytes: 0,
                rp_prices: Prices::default(),
                mediator_prices: Prices::default(),
                mediator_fee: 0,
                directory_fee: 0,
            },
            completion_deadline_ms: 1_000,
            matched_at: 0,
            result: Some(ExecReport {
                status: ResultStatus::JobNotFound,
                output: None,
                output_bytes: 0,
                instructions: 0,
            }),
            result_at: Some(2_000),
            reason: None,
            rejected_at: Some(3_000),
            verdict: None,
            state,
        }
    }
}
