//! The HTTP face of the store (routes in the crate doc).

use crate::{Availability, AvailabilityRecord, BlobHash, BlobStore, ErrorBody, StoreError, Stored};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use std::sync::Arc;

/// The directory's routes over `store`; `/availability` only with a log to sign.
pub fn router(store: Arc<BlobStore>, availability: Option<Arc<Availability>>) -> Router {
    let blobs = Router::new()
        .route("/blobs", put(put_blob))
        .route("/blobs/{hash}", put(put_blob_as).get(get_blob))
        .with_state(store);
    match availability {
        Some(log) => blobs.merge(
            Router::new()
                .route("/availability", get(get_availability))
                .with_state(log),
        ),
        None => blobs,
    }
}

/// Serves the directory on `listener` until the task is dropped or the listener fails; with an
/// availability log, also beats its heartbeat meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<BlobStore>,
    availability: Option<Arc<Availability>>,
) -> std::io::Result<()> {
    let server = axum::serve(listener, router(store, availability.clone()));
    match availability {
        Some(log) => {
            tokio::select! {
                result = server => result,
                () = log.heartbeat() => Ok(()),
            }
        }
        None => server.await,
    }
}

/// `from` and `to` of an availability request, ms.
#[derive(serde::Deserialize)]
struct Range {
    from: u64,
    to: u64,
}

/// Answering is itself serving, so the request is logged as a beat before the record is cut.
async fn get_availability(
    State(log): State<Arc<Availability>>,
    Query(range): Query<Range>,
) -> Result<Json<AvailabilityRecord>, ApiError> {
    if range.from > range.to {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "bad_range",
            format!("from {} is after to {}", range.from, range.to),
            None,
        ));
    }
    log.beat(crate::availability::now_ms());
    Ok(Json(log.record(range.from, range.to)))
}

/// An error answer: status, code and message.
struct ApiError(StatusCode, &'static str, String, Option<u64>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(status, code, message, limit) = self;
        (
            status,
            Json(ErrorBody {
                error: code.to_string(),
                message,
                limit,
            }),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code, limit) = match &e {
            StoreError::TooLarge { limit } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large", Some(*limit))
            }
            StoreError::Full { limit } => (StatusCode::INSUFFICIENT_STORAGE, "full", Some(*limit)),
            StoreError::HashMismatch { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch", None)
            }
            StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            StoreError::Body(_) => (StatusCode::BAD_REQUEST, "bad_body", None),
            StoreError::Io { .. } => {
                tracing::error!(error = %e, "directory storage failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "io", None)
            }
        };
        ApiError(status, code, e.to_string(), limit)
    }
}

fn parse(hash: &str) -> Result<BlobHash, ApiError> {
    hash.parse().map_err(|e: crate::BadHash| {
        ApiError(StatusCode::BAD_REQUEST, "bad_hash", e.to_string(), None)
    })
}

async fn put_blob(
    State(store): State<Arc<BlobStore>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    store_body(&store, None, &headers, body).await
}

async fn put_blob_as(
    State(store): State<Arc<BlobStore>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let expected = parse(&hash)?;
    store_body(&store, Some(expected), &headers, body).await
}

async fn store_body(
    store: &BlobStore,
    expected: Option<BlobHash>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = store.config().max_blob_bytes;
    // Refuse a declared oversize before reading anything; a body without a length is counted as it streams.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(StoreError::TooLarge { limit }.into());
    }
    let (hash, size, new) = store.put(expected, body.into_data_stream()).await?;
    tracing::debug!(%hash, size, new, "blob stored");
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Stored {
            sha256: hash.to_string(),
            size,
        }),
    )
        .into_response())
}

async fn get_blob(
    State(store): State<Arc<BlobStore>>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = parse(&hash)?;
    let (file, size) = store.open_blob(&hash).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(([(header::CONTENT_LENGTH, size.to_string())], body).into_response())
}
