//! The client every market role uses to reach a directory.

use crate::{AvailabilityRecord, BlobHash, ErrorBody, Stored};
use reqwest::StatusCode;

/// What went wrong talking to a directory. `NotFound`, `Altered` and `Unavailable` are directory faults for
/// the protocol; the others are the caller's.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the directory does not hold blob {0}")]
    NotFound(BlobHash),
    /// The directory served bytes that do not hash to the address asked for.
    #[error("the directory served bytes hashing to {actual} for blob {expected}")]
    Altered {
        expected: BlobHash,
        actual: BlobHash,
    },
    #[error("the directory refused the blob: its body does not hash to {0}")]
    HashMismatch(BlobHash),
    #[error("blob exceeds the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the directory is full")]
    Full,
    #[error("the directory answered {status}: {message}")]
    Refused { status: StatusCode, message: String },
    #[error("the directory is unreachable: {0}")]
    Unavailable(#[from] reqwest::Error),
}

/// A directory client; `max_blob_bytes` bounds what a download may bring into memory.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    max_blob_bytes: u64,
}

impl Client {
    /// A client of the directory at `base` (e.g. `http://127.0.0.1:7070`).
    pub fn new(base: impl Into<String>, max_blob_bytes: u64) -> Self {
        let base = base.into().trim_end_matches('/').to_string();
        Client {
            base,
            http: reqwest::Client::new(),
            max_blob_bytes,
        }
    }

    /// Uploads `bytes` under their hash, which the directory checks.
    pub async fn put(&self, bytes: &[u8]) -> Result<BlobHash, ClientError> {
        self.put_as(BlobHash::of(bytes), bytes).await
    }

    /// Uploads `bytes` claiming they hash to `hash`; the directory refuses them if they do not.
    pub async fn put_as(&self, hash: BlobHash, bytes: &[u8]) -> Result<BlobHash, ClientError> {
        if bytes.len() as u64 > self.max_blob_bytes {
            return Err(ClientError::TooLarge {
                limit: self.max_blob_bytes,
            });
        }
        let url = format!("{}/blobs/{hash}", self.base);
        let response = self.http.put(url).body(bytes.to_vec()).send().await?;
        if !response.status().is_success() {
            return Err(refusal(response, hash).await);
        }
        let stored: Stored =
            serde_json::from_slice(&response.bytes().await?).map_err(|e| ClientError::Refused {
                status: StatusCode::OK,
                message: format!("unreadable answer: {e}"),
            })?;
        if stored.sha256 != hash.to_string() {
            return Err(ClientError::Refused {
                status: StatusCode::OK,
                message: format!("stored as {} instead of {hash}", stored.sha256),
            });
        }
        Ok(hash)
    }

    /// Downloads blob `hash` and checks that the bytes hash to it.
    pub async fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}/blobs/{hash}", self.base);
        let mut response = self.http.get(url).send().await?;
        if !response.status().is_success() {
            return Err(refusal(response, *hash).await);
        }
        let too_large = ClientError::TooLarge {
            limit: self.max_blob_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_blob_bytes)
        {
            return Err(too_large);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if (bytes.len() + chunk.len()) as u64 > self.max_blob_bytes {
                return Err(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = BlobHash::of(&bytes);
        if actual != *hash {
            return Err(ClientError::Altered {
                expected: *hash,
                actual,
            });
        }
        Ok(bytes)
    }
}

impl Client {
    /// The directory's signed availability record of `[from, to]` (ms), checked against the
    /// key of `directory`: a record it did not sign is [`ClientError::Refused`].
    pub async fn availability(
        &self,
        directory: &agora_types::Address,
        from: u64,
        to: u64,
    ) -> Result<AvailabilityRecord, ClientError> {
        let url = format!("{}/availability?from={from}&to={to}", self.base);
        let response = self.http.get(url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let refused = |message: String| ClientError::Refused { status, message };
        if !status.is_success() {
            return Err(refused(
                String::from_utf8_lossy(&body).chars().take(200).collect(),
            ));
        }
        let record: AvailabilityRecord = serde_json::from_slice(&body)
            .map_err(|e| refused(format!("unreadable record: {e}")))?;
        if !record.verify(directory) || record.from != from || record.to != to {
            return Err(refused(
                "the record is not signed by the directory for this range".into(),
            ));
        }
        Ok(record)
    }
}

/// Maps an error answer to its [`ClientError`].
async fn refusal(response: reqwest::Response, hash: BlobHash) -> ClientError {
    let status = response.status();
    let body = match response.bytes().await {
        Ok(body) => serde_json::from_slice::<ErrorBody>(&body).unwrap_or_else(|_| ErrorBody {
            error: String::new(),
            message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            limit: None,
        }),
        Err(e) => return ClientError::Unavailable(e),
    };
    match (status, body.limit) {
        (StatusCode::NOT_FOUND, _) => ClientError::NotFound(hash),
        (StatusCode::UNPROCESSABLE_ENTITY, _) => ClientError::HashMismatch(hash),
        (StatusCode::PAYLOAD_TOO_LARGE, Some(limit)) => ClientError::TooLarge { limit },
        (StatusCode::INSUFFICIENT_STORAGE, _) => ClientError::Full,
        _ => ClientError::Refused {
            status,
            message: body.message,
        },
    }
}
