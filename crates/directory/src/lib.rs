//! The compute market's directory (spec `compute.md` §4.2): a content-addressed blob store for jobs, inputs
//! and results, served over HTTP.
//!
//! | request | answer |
//! | --- | --- |
//! | `PUT /blobs` (body) | `201` (new) or `200` (already held) with `{"sha256", "size"}` |
//! | `PUT /blobs/{sha256}` (body) | the same, or `422 hash_mismatch` when the body hashes to something else |
//! | `GET /blobs/{sha256}` | the bytes, or `404 not_found` (a directory fault for the protocol) |
//! | `GET /availability?from=&to=` | the signed [`AvailabilityRecord`] of `[from, to]` (ms), or `400 bad_range` |
//!
//! Errors are `{"error": code, "message"}` with codes `bad_hash` and `bad_range` (400), `too_large` (413), `hash_mismatch`
//! (422), `full` (507), `io` (500). Uploads stream to a temporary file while being hashed, so a server's
//! memory does not grow with blob size; a blob is visible only once complete and verified, under its hash, and
//! survives restarts. The [`Client`] verifies every blob it downloads against its hash, so a directory can
//! withhold a blob but not alter it undetected. A match's blobs are kept until it closes plus a grace period
//! ([`BlobStore::retain`], [`BlobStore::sweep`]); blobs no match claims are kept.

pub mod availability;
mod client;
mod server;
mod store;

pub use availability::{Availability, AvailabilityRecord};
pub use client::{Client, ClientError};
pub use server::{router, serve};
pub use store::{BlobStore, Holder, StoreConfig, StoreError};

use sha2::{Digest, Sha256};

/// The sha256 of a blob, its address in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    /// The address of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        BlobHash(Sha256::digest(bytes).into())
    }
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A blob hash that is not 64 lowercase hex digits.
#[derive(Debug, thiserror::Error)]
#[error("a blob hash is 64 lowercase hex digits, got {0:?}")]
pub struct BadHash(String);

impl std::str::FromStr for BlobHash {
    type Err = BadHash;

    fn from_str(text: &str) -> Result<Self, BadHash> {
        let bad = || BadHash(text.chars().take(80).collect());
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut hash = [0; 32];
        hex::decode_to_slice(text, &mut hash).map_err(|_| bad())?;
        Ok(BlobHash(hash))
    }
}

/// What the server answers to a successful upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    pub sha256: String,
    pub size: u64,
}

/// The body of every error answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    /// The limit a `too_large` or `full` answer refers to, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}
