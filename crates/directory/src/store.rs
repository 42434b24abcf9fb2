//! Blobs on disk: `ROOT/blobs/<sha256>` for complete, verified blobs, `ROOT/tmp/` for uploads in progress.
//! Capacity is reserved chunk by chunk while an upload streams, so concurrent uploads cannot overshoot it.

use crate::BlobHash;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// Who keeps a blob: a match, as (market id, match id).
pub type Holder = (u64, u64);

/// The claim an upload makes on a blob that matches claimed before.
const UPLOAD_HOLDER: Holder = (u64::MAX, u64::MAX);
/// How long a re-uploaded blob stays claimed: time enough for its new offer to be matched.
pub const REUPLOAD_GRACE_MS: u64 = 10 * 60 * 1_000;

/// Where and how much a directory stores.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub root: PathBuf,
    /// Largest blob accepted.
    pub max_blob_bytes: u64,
    /// Total bytes of blobs (complete and in progress) the directory holds.
    pub max_total_bytes: u64,
}

/// Why a blob was not stored or served.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob exceeds the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the directory is full ({limit} bytes)")]
    Full { limit: u64 },
    #[error("the body hashes to {actual}, not the {expected} it was sent as")]
    HashMismatch {
        expected: BlobHash,
        actual: BlobHash,
    },
    #[error("blob {0} not found")]
    NotFound(BlobHash),
    #[error("reading the upload: {0}")]
    Body(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// The on-disk store shared by the server's handlers.
#[derive(Debug)]
pub struct BlobStore {
    config: StoreConfig,
    used: AtomicU64,
    next_upload: AtomicU64,
    /// Per blob, each holder's "keep until" (ms). In memory: after a restart nothing is claimed,
    /// so nothing is swept until the holders claim again (the safe direction).
    claims: Mutex<BTreeMap<BlobHash, BTreeMap<Holder, u64>>>,
}

impl BlobStore {
    /// Opens (or creates) the store under `config.root`: drops uploads a crash left unfinished and counts the
    /// bytes of the blobs already held.
    pub fn open(config: StoreConfig) -> Result<Arc<Self>, StoreError> {
        let store = BlobStore {
            config,
            used: AtomicU64::new(0),
            next_upload: AtomicU64::new(0),
            claims: Mutex::new(BTreeMap::new()),
        };
        let tmp = store.tmp_dir();
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(format!("clearing {}", tmp.display())))?;
        }
        for dir in [store.blobs_dir(), tmp] {
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let blobs = store.blobs_dir();
        let mut used = 0;
        for entry in
            std::fs::read_dir(&blobs).map_err(io(format!("listing {}", blobs.display())))?
        {
            let entry = entry.map_err(io("listing blobs"))?;
            used += entry.metadata().map_err(io("reading a blob's size"))?.len();
        }
        store.used.store(used, Ordering::SeqCst);
        tracing::info!(root = %store.config.root.display(), used, "directory store opened");
        Ok(Arc::new(store))
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Bytes held, complete or in progress.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    fn blobs_dir(&self) -> PathBuf {
        self.config.root.join("blobs")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.config.root.join("tmp")
    }

    /// Where the blob `hash` lives once stored.
    pub fn path(&self, hash: &BlobHash) -> PathBuf {
        self.blobs_dir().join(hash.to_string())
    }

    fn reserve(&self, bytes: u64) -> Result<(), StoreError> {
        let limit = self.config.max_total_bytes;
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .map(|_| ())
            .map_err(|_| StoreError::Full { limit })
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }

    /// Stores a blob arriving as a stream of chunks, hashing it on the way to disk. With `expected`, a body
    /// that hashes to anything else is refused. Returns the hash and whether the blob is new.
    pub async fn put<S, E>(
        &self,
        expected: Option<BlobHash>,
        mut chunks: S,
    ) -> Result<(BlobHash, u64, bool), StoreError>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let id = self.next_upload.fetch_add(1, Ordering::SeqCst);
        let mut upload = Upload {
            store: self,
            path: self.tmp_dir().join(id.to_string()),
            reserved: 0,
        };
        let mut file = tokio::fs::File::create(&upload.path)
            .await
            .map_err(io("creating an upload file"))?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
            let len = chunk.len() as u64;
            if upload.reserved + len > self.config.max_blob_bytes {
                return Err(StoreError::TooLarge {
                    limit: self.config.max_blob_bytes,
                });
            }
            self.reserve(len)?;
            upload.reserved += len;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(io("writing an upload"))?;
        }
        file.sync_all().await.map_err(io("syncing an upload"))?;
        drop(file);
        let actual = BlobHash(hasher.finalize().into());
        if let Some(expected) = expected.filter(|expected| *expected != actual) {
            return Err(StoreError::HashMismatch { expected, actual });
        }
        let size = upload.reserved;
        let target = self.path(&actual);
        self.renew_claimed(actual);
        if tokio::fs::try_exists(&target)
            .await
            .map_err(io("checking a blob"))?
        {
            // Same address, same bytes: keep the one already there.
            return Ok((actual, size, false));
        }
        tokio::fs::rename(&upload.path, &target)
            .await
            .map_err(io("storing a blob"))?;
        upload.reserved = 0;
        Ok((actual, size, true))
    }

    /// Opens the blob `hash` for reading, with its size.
    pub async fn open_blob(&self, hash: &BlobHash) -> Result<(tokio::fs::File, u64), StoreError> {
        let file = match tokio::fs::File::open(self.path(hash)).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(*hash))
            }
            other => other.map_err(io("opening a blob"))?,
        };
        let size = file
            .metadata()
            .await
            .map_err(io("reading a blob's size"))?
            .len();
        Ok((file, size))
    }
}

impl BlobStore {
    /// Keeps blob `hash` at least until `until_ms` for `holder`. A holder's new claim replaces
    /// its old one, so a match keeps its blobs for its whole possible life while it runs and
    /// then for close + grace (spec §4.2); a blob several matches share stays while any claims it.
    pub fn retain(&self, hash: BlobHash, holder: Holder, until_ms: u64) {
        self.claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(hash)
            .or_default()
            .insert(holder, until_ms);
    }

    /// An upload of a blob that matches claimed keeps it [`REUPLOAD_GRACE_MS`], so a sweep
    /// cannot take it between its new offer and that offer's match; a blob never claimed stays
    /// unclaimed (and kept).
    fn renew_claimed(&self, hash: BlobHash) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(holders) = claims.get_mut(&hash) {
            holders.insert(
                UPLOAD_HOLDER,
                crate::availability::now_ms().saturating_add(REUPLOAD_GRACE_MS),
            );
        }
    }

    /// Deletes every claimed blob whose claims all ended before `now_ms` and returns them;
    /// blobs nobody claimed are kept.
    pub async fn sweep(&self, now_ms: u64) -> Result<Vec<BlobHash>, StoreError> {
        let expired: Vec<BlobHash> = {
            let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
            let expired: Vec<BlobHash> = claims
                .iter()
                .filter(|(_, holders)| holders.values().all(|until| *until < now_ms))
                .map(|(hash, _)| *hash)
                .collect();
            for hash in &expired {
                claims.remove(hash);
            }
            expired
        };
        let mut removed = Vec::with_capacity(expired.len());
        for hash in expired {
            let path = self.path(&hash);
            match tokio::fs::metadata(&path).await {
                Ok(meta) => {
                    tokio::fs::remove_file(&path)
                        .await
                        .map_err(io("removing an expired blob"))?;
                    self.release(meta.len());
                    removed.push(hash);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("reading an expired blob")(e)),
            }
        }
        Ok(removed)
    }
}

/// An upload in progress: unless it was renamed into place, its file is removed and its capacity released,
/// whichever way the upload ends (error, refusal, dropped connection).
struct Upload<'a> {
    store: &'a BlobStore,
    path: PathBuf,
    reserved: u64,
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        remove_quietly(&self.path);
        self.store.release(self.reserved);
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove an unfinished upload");
        }
    }
}
