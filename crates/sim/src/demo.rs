//! Markets kept busy on a devnet (`agora devnet --markets`): each market sets itself up on the
//! chain (or finds what an earlier run set up), then runs its agents until the devnet stops.
//!
//! A market is one [`DemoMarket`] in [`markets`]. Its agents run as tasks of one [`JoinSet`]
//! (aborted when the devnet stops), each restarted by [`supervise`] when it fails, so that a
//! node busy for a moment does not end the demo. What a market needs to resume (its ids and
//! the keys of its agents) it writes to its own file in [`DemoContext::dir`]; the devnet keeps
//! that directory beside the chain.

use crate::{
    allocation::carpool::CarpoolError,
    daemon::SolverStats,
    energy::{execute_all, SimError},
    profiles::ProfileError,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_types::{Address, Call, KeyFileError, Keypair};
use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};
use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::{sync::Mutex, task::JoinSet};
use tracing::{info, warn};

/// How long a failed agent waits before it starts again.
const RESTART_AFTER: Duration = Duration::from_secs(1);
/// How often agents low on funds are topped up from the faucet.
const TOP_UP_EVERY: Duration = Duration::from_secs(30);
/// The faucet's turn: every market pays from the same key, and two payments sent at once
/// would take the same nonce.
static FAUCET: Mutex<()> = Mutex::const_new(());

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Client(#[from] agora_client::ClientError),
    #[error(transparent)]
    Profiles(#[from] ProfileError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Carpool(#[from] CarpoolError),
    #[error("{path}: {reason}")]
    State { path: PathBuf, reason: String },
}

/// What every market gets from the devnet.
#[derive(Clone, Debug)]
pub struct DemoContext {
    /// A client of the first validator.
    pub client: Client,
    /// The chain's funded account, which pays the agents.
    pub faucet: Keypair,
    /// Where markets keep what they need to resume (one file each).
    pub dir: PathBuf,
    /// The repository's shipped data (`data/`).
    pub data: PathBuf,
    /// Length of a market interval or cycle in real time (ms).
    pub interval_ms: u64,
}

/// A market running on the devnet.
#[derive(Clone, Debug, Serialize)]
pub struct Started {
    pub name: &'static str,
    pub market: u64,
    /// The market's explorer page (a path on the RPC port).
    pub explorer: String,
    /// Whether an earlier run's market was found and reused.
    pub resumed: bool,
}

/// A market the devnet keeps busy.
pub trait DemoMarket: Send + Sync {
    fn name(&self) -> &'static str;

    /// Sets the market up, or finds the one an earlier run left in `ctx.dir`, and spawns its
    /// agents (solver daemons, demo agents) into `agents`.
    fn start<'a>(
        &'a self,
        ctx: &'a DemoContext,
        agents: &'a mut JoinSet<()>,
    ) -> BoxFuture<'a, Result<Started, DemoError>>;
}

/// Every market `agora devnet --markets` runs.
pub fn markets() -> Vec<Box<dyn DemoMarket>> {
    vec![
        Box::new(crate::energy::live::EnergyDemo),
        Box::new(crate::allocation::live::CarpoolDemo),
        Box::new(crate::compute::live::ComputeDemo),
        Box::new(crate::stream::live::StreamDemo),
    ]
}

/// Runs the agent that `run` makes until it returns `Ok`, making it again after each failure.
pub fn supervise<F, Fut>(agents: &mut JoinSet<()>, name: String, run: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), SimError>> + Send + 'static,
{
    agents.spawn(async move {
        while let Err(e) = run().await {
            warn!(agent = %name, %e, "agent failed; starting it again");
            tokio::time::sleep(RESTART_AFTER).await;
        }
    });
}

/// Executes `calls` from the faucet, one market at a time.
pub async fn pay(
    client: &Client,
    faucet: &Keypair,
    calls: Vec<Call>,
    what: &str,
) -> Result<(), SimError> {
    let _turn = FAUCET.lock().await;
    execute_all(client, faucet, calls, what).await
}

/// Runs the market's top-up agent `name`: [`top_up`] of `accounts` from the faucet, logging
/// `solver`'s tally (if the market has a solver daemon) at each pass.
pub fn supervise_top_up(
    agents: &mut JoinSet<()>,
    ctx: &DemoContext,
    name: &'static str,
    accounts: Vec<Address>,
    amount: u64,
    solver: Option<(&'static str, Arc<SolverStats>)>,
) {
    let (client, faucet) = (ctx.client.clone(), ctx.faucet.clone());
    supervise(agents, format!("{name} top-up"), move || {
        let (client, faucet, accounts, solver) = (
            client.clone(),
            faucet.clone(),
            accounts.clone(),
            solver.clone(),
        );
        async move {
            top_up(&client, &faucet, &accounts, amount, || {
                if let Some((label, stats)) = &solver {
                    log_solver(label, stats);
                }
            })
            .await
        }
    });
}

/// Tops up, every half minute, each of `accounts` whose balance fell below a tenth of
/// `amount` (buyers pay for what they buy, and everyone pays fees); `report` logs what the
/// market did meanwhile.
async fn top_up(
    client: &Client,
    faucet: &Keypair,
    accounts: &[Address],
    amount: u64,
    report: impl Fn(),
) -> Result<(), SimError> {
    loop {
        let mut calls = Vec::new();
        for a in accounts {
            if client.balance(a).await? < amount / 10 {
                calls.push(BankCall::Transfer { to: *a, amount }.into_call());
            }
        }
        if !calls.is_empty() {
            info!(accounts = calls.len(), "topping up agents");
            pay(client, faucet, calls, "top-up").await?;
        }
        report();
        tokio::time::sleep(TOP_UP_EVERY).await;
    }
}

/// Logs what a market's solver daemons did since the last report.
pub fn log_solver(label: &str, stats: &SolverStats) {
    let tally = stats.take();
    info!(
        solver = label,
        submitted = tally.submitted,
        accepted = tally.accepted,
        rejected = tally.rejected,
        "solver daemons"
    );
}

/// A key as a JSON value (the key file's content), to keep inside a market's state file.
pub fn key_to_json(key: &Keypair) -> serde_json::Value {
    serde_json::from_str(&key.to_file_string()).unwrap_or_default()
}

/// The key [`key_to_json`] wrote; `path` names the file in errors.
pub fn key_from_json(path: &Path, value: &serde_json::Value) -> Result<Keypair, DemoError> {
    Ok(Keypair::from_file_string(
        &path.display().to_string(),
        &value.to_string(),
    )?)
}

/// A market's state file, if an earlier run wrote one.
pub fn read_state<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, DemoError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_error(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| state_error(path, e))
}

/// Writes a market's state file whole or not at all (a temporary file renamed over it).
pub fn write_state(path: &Path, state: &impl Serialize) -> Result<(), DemoError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| state_error(dir, e))?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|e| state_error(path, e))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| state_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state_error(path, e))
}

fn state_error(path: &Path, e: impl std::fmt::Display) -> DemoError {
    DemoError::State {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        market: u64,
        key: serde_json::Value,
    }

    #[test]
    fn state_files_round_trip_keys_and_refuse_garbage() {
        let dir = std::env::temp_dir().join(format!("agora-demo-{}", std::process::id()));
        let path = dir.join("m.json");
        assert!(read_state::<S>(&path).unwrap().is_none());
        let key = Keypair::from_seed(3);
        let state = S {
            market: 7,
            key: key_to_json(&key),
        };
        write_state(&path, &state).unwrap();
        let back: S = read_state(&path).unwrap().unwrap();
        assert_eq!(back, state);
        assert_eq!(
            key_from_json(&path, &back.key).unwrap().address(),
            key.address()
        );
        assert!(key_from_json(&path, &serde_json::json!({"address": "x"})).is_err());
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            read_state::<S>(&path),
            Err(DemoError::State { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
