//! A day of the TRANSAX energy market on a real chain: a DSO, one prosumer and one smart
//! meter per home, home batteries, and solver daemons, all as agents that only talk to the
//! chain over RPC. One file per role:
//!
//! - **DSO** (`dso.rs`, set-up in `setup.rs`): creates the market and one group per feeder,
//!   registers every meter, and calls `finalize` whenever an interval is due.
//! - **Prosumer** (`home.rs`): registers, then for each profile row that comes within the
//!   prediction window (its first interval <= next to finalize + window) withdraws assets for
//!   it, within its limits, and posts the offer. Sellers ask 10-19 and buyers bid 20-29
//!   micro-tokens per Wh (fixed per home and row), so any seller and buyer can match and the
//!   traded energy is set by quantities and limits alone. After the day it deposits its assets
//!   to its meter.
//! - **Battery** ([`battery`], with `battery` set): every home that produces has the
//!   prototype's 14 kWh / 7.5 kW battery, trading from its own account through flexible sell
//!   offers and storing its home's unsold surplus.
//! - **Smart meter** (`home.rs`): from what its prosumer withdrew and deposited (ΔEPA) and what
//!   it measured (the profile's single-interval rows less what the battery stored, plus what
//!   the profile's flexible rows traded: a battery delivers its trades), computes the bill of
//!   eq. 2.16 and posts the day's total.
//! - **Solver daemon** (`solver.rs`, on [`crate::daemon`]): every quarter interval reads the open problem, solves it
//!   with horizon T_h and posts the solution if it beats the candidate. Any number run; any
//!   may stop.
//!
//! [`run`] (`harness.rs`) plays a day, or intervals A..B of it, with `profiles` possibly
//! replicated ([`crate::profiles::replicate`]); [`experiments`] plays the seed's three
//! experiments with it. [`live`] keeps the market busy on a devnet instead, without end.

pub mod battery;
mod dso;
pub mod experiments;
mod harness;
mod home;
pub mod live;
mod offline;
mod setup;
mod solver;
mod summary;

pub use battery::BatterySpec;
pub use harness::run;
pub use offline::{day_instance, offline_optimum, verify_timed};
pub use summary::{EnergySimSummary, IntervalSummary, SolutionCounts, TradingGroup};

use crate::profiles::Profile;
use agora_client::Client;
use agora_energy::{DsoPrice, EnergyCall, Interval, Market, Side};
use agora_types::{Keypair, TxStatus};
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Intervals the profiles cover: up to the last row's last interval.
pub fn day_length(profiles: &[Profile]) -> u32 {
    profiles
        .iter()
        .flat_map(|p| p.rows.iter().map(|r| r.last + 1))
        .max()
        .unwrap_or(0)
}
/// Requests in flight at once when every home does the same (deposits, readings, bills).
const CONCURRENCY: usize = 256;
/// Funds each agent account gets from the faucet (micro-tokens).
pub(crate) const FUNDING: u64 = 1_000_000_000;
const DSO_PRICE: DsoPrice = DsoPrice { buy: 40, sell: 5 };
/// Time for set-up and mixing before the market's first interval, when homes mix.
const MIX_LEAD_MS: u64 = 15_000;
/// Funds each solver daemon gets: staging a solution costs about 2 micro-tokens per byte
/// (its transactions and what they store), so a large grid's solutions need more than an
/// agent's funding over a day.
pub(crate) const SOLVER_FUNDING: u64 = 10 * FUNDING;

#[derive(Clone, Debug)]
pub struct EnergySimConfig {
    pub horizon: u32,
    pub prediction_window: u32,
    /// Every feeder's internal and external limit (Wh per interval).
    pub c_int: u64,
    pub c_ext: u64,
    pub solvers: usize,
    /// Solver 0 stops once this interval is next to finalize.
    pub fail_solver_at: Option<u32>,
    /// Simulated length of an interval (ms): accelerated time.
    pub interval_ms: u64,
    pub t_clear: u32,
    /// Prediction error of single-interval rows: a normal error with this standard deviation,
    /// in percent of the home's largest row (experiment 3). 0: perfect prediction.
    pub prediction_error: f64,
    /// Seeds the prediction errors: one simulated day each.
    pub seed: u64,
    /// Every home that produces has this battery ([`battery`]); none without.
    pub battery: Option<BatterySpec>,
    /// Only these intervals (1-based, inclusive), of profiles cut with
    /// [`crate::profiles::window`]; the whole day without.
    pub intervals: Option<(Interval, Interval)>,
    /// Feeders per privacy group (section 2.8.2): consecutive feeders form a group whose
    /// limits are the safe ones of eq. 2.17/2.19, and homes trade in it. 0 or 1: homes trade
    /// in their feeder's group.
    pub privacy_group_size: u32,
    /// Offers come from anonymous accounts: before trading, the homes of each group mix their
    /// assets by standard denominations with CoinShuffle ([`crate::mixing`]).
    pub mix: bool,
    /// With mixing, homes offer what their anonymous accounts cannot hold from their public
    /// accounts (linked to them); without, they do not offer it.
    pub public_remainder: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Client(#[from] agora_client::ClientError),
    #[error("transaction {what} failed: {reason}")]
    Failed { what: String, reason: String },
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("channel: {0}")]
    Bus(#[from] agora_channels::BusError),
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Transactions one key has waiting at most: the node's pool caps each sender (4,096 by
/// default), and the faucet funds every agent of 10,000 homes.
const MAX_PENDING_PER_KEY: usize = 1_024;

/// Submits many calls of one key and waits for all of them, [`MAX_PENDING_PER_KEY`] at a time.
pub(crate) async fn execute_all(
    client: &Client,
    key: &Keypair,
    calls: Vec<agora_types::Call>,
    what: &str,
) -> Result<(), SimError> {
    let mut calls = calls.into_iter().peekable();
    while calls.peek().is_some() {
        let mut hashes = Vec::new();
        for call in calls.by_ref().take(MAX_PENDING_PER_KEY) {
            hashes.push(client.send(key, call).await?.hash());
        }
        for hash in hashes {
            let receipt = client
                .wait_for_receipt(&hash, Duration::from_secs(60))
                .await?;
            if receipt.status != TxStatus::Success {
                return Err(SimError::Failed {
                    what: what.into(),
                    reason: receipt.message.unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

async fn market(client: &Client, id: u64) -> Result<Market, SimError> {
    let value = client
        .query("energy", "market", serde_json::json!({"market": id}))
        .await?;
    serde_json::from_value(value).map_err(|e| SimError::Unexpected(e.to_string()))
}

/// Deterministic reservation price in [base, base + 10).
fn price(base: u64, home: u32, row: usize) -> u64 {
    base + ((home as u64).wrapping_mul(2_654_435_761) ^ (row as u64).wrapping_mul(40_503)) % 10
}
