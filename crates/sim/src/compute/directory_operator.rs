//! The directory operator: serves the blob store and its signed availability record, and
//! keeps each match's blobs until the match closes plus a grace period (spec §4.2).

use super::{query, stopped, Stop};
use crate::energy::SimError;
use agora_client::Client;
use agora_compute::{JobOffer, MarketParams, Match};
use agora_directory::{availability::now_ms, Availability, BlobHash, BlobStore, StoreConfig};
use agora_types::Keypair;
use serde_json::json;
use std::time::Duration;
use std::{path::Path, sync::Arc};
use tracing::warn;

/// Heartbeat period of the availability log: two missed beats (2 s) are an outage, long
/// enough that a busy host's scheduling delays are not.
const HEARTBEAT_MS: u64 = 1_000;
/// How long a closed match's blobs stay, for late downloads and disputes.
pub(super) const GRACE_MS: u64 = 10_000;
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A running directory: its endpoint and store, served until dropped.
pub(super) struct RunningDirectory {
    pub endpoint: String,
    pub store: Arc<BlobStore>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The store's directory when it is a temporary one, removed with the directory.
    _root: Option<tempfile::TempDir>,
}

impl Drop for RunningDirectory {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the directory of `key` on a free loopback port with a fresh store.
pub(super) async fn start(key: &Keypair) -> Result<RunningDirectory, SimError> {
    let root = tempfile::tempdir().map_err(io)?;
    let mut running = start_at(key, root.path(), "127.0.0.1:0").await?;
    running._root = Some(root);
    Ok(running)
}

fn io(e: std::io::Error) -> SimError {
    SimError::Unexpected(format!("directory: {e}"))
}

/// Starts the directory of `key` at `addr` with its store in `root`, which it keeps: a
/// directory started again at the same address serves the blobs it stored before.
pub(super) async fn start_at(
    key: &Keypair,
    root: &Path,
    addr: &str,
) -> Result<RunningDirectory, SimError> {
    let store = BlobStore::open(StoreConfig {
        root: root.to_path_buf(),
        max_blob_bytes: super::workload::MAX_BLOB_BYTES,
        max_total_bytes: 1 << 32,
    })
    .map_err(|e| SimError::Unexpected(format!("directory store: {e}")))?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
    let endpoint = format!("http://{}", listener.local_addr().map_err(io)?);
    let log = Arc::new(Availability::new(key.clone(), HEARTBEAT_MS));
    log.beat(now_ms());
    let server = tokio::spawn(agora_directory::serve(listener, store.clone(), Some(log)));
    Ok(RunningDirectory {
        endpoint,
        store,
        server,
        _root: None,
    })
}

/// Follows the market's matches until `stop`: a new match claims its job's blobs for its
/// whole possible life, a closed one for the grace period; expired blobs are swept. Returns
/// how many blobs were swept.
pub(super) async fn run_operator(
    client: Client,
    market: u64,
    params: MarketParams,
    store: Arc<BlobStore>,
    stop: Stop,
) -> Result<usize, SimError> {
    let mut events = client
        .subscribe_events(Some(agora_compute::NAME), None)
        .await?;
    let mut swept = 0;
    let mut last_sweep = std::time::Instant::now();
    while !stopped(&stop) {
        if last_sweep.elapsed() > SWEEP_EVERY {
            swept += store
                .sweep(now_ms())
                .await
                .map_err(|e| SimError::Unexpected(format!("sweep: {e}")))?
                .len();
            last_sweep = std::time::Instant::now();
        }
        let Ok(next) = tokio::time::timeout(super::POLL * 5, events.next()).await else {
            continue;
        };
        let Some(note) = next.transpose()? else {
            warn!("event subscription ended");
            break;
        };
        let event = note.event;
        if event.data["market"].as_u64() != Some(market) {
            continue;
        }
        let Some(id) = event.data["match"].as_u64() else {
            continue;
        };
        let m: Match = query(&client, "match", json!({"market": market, "match": id})).await?;
        let job: JobOffer = query(
            &client,
            "job_offer",
            json!({"market": market, "offer": m.job_offer}),
        )
        .await?;
        let until = match event.name.as_str() {
            "Matched" => m
                .completion_deadline_ms
                .saturating_add(params.reaction_window_ms)
                .saturating_add(params.mediation_window_ms)
                .saturating_add(GRACE_MS),
            "MatchClosed" => now_ms().saturating_add(GRACE_MS),
            _ => continue,
        };
        let output = m.result.as_ref().and_then(|r| r.output);
        for hash in [Some(job.job.module), Some(job.job.input), output]
            .into_iter()
            .flatten()
        {
            store.retain(BlobHash(hash), (market, id), until);
        }
    }
    Ok(swept)
}
