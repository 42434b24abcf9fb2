//! The plain-HTTP pages served on the RPC port beside JSON-RPC: `GET /health` (200 while the
//! node runs), `GET /ready` (200 once caught up, 503 before), `GET /metrics` (Prometheus text)
//! and the explorer ([`crate::explorer`], also at `/`).
//!
//! [`crate::rpc::serve`] hands every GET or HEAD request that is not a WebSocket upgrade to
//! [`router`] and everything else to jsonrpsee, so one port serves both. A page that takes
//! longer than [`PAGE_TIMEOUT`] is answered 503 instead of holding its connection.

use crate::{metrics::ChainGauges, rpc::RpcState};
use axum::{
    extract::State,
    http::{header, Method, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use std::time::Duration;

/// The most a page may take to answer.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The content type of Prometheus' text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether `request` is for a page rather than for JSON-RPC: a GET or HEAD that does not ask
/// to become a WebSocket (jsonrpsee answers POSTs and WebSocket upgrades).
pub fn is_page<B>(request: &Request<B>) -> bool {
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    matches!(*request.method(), Method::GET | Method::HEAD) && !upgrade
}

/// The pages of a node.
pub fn router(state: RpcState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(crate::explorer::router())
        .fallback(not_found)
        .with_state(state)
}

/// A plain-text error page.
pub fn error_page(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        message.into(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "no such page; this node serves the explorer (/explorer), /health, /ready, /metrics \
         and JSON-RPC (POST)",
    )
}

async fn health() -> &'static str {
    "ok"
}

async fn ready(State(state): State<RpcState>) -> Response {
    match state.chain_status() {
        Ok(status) => {
            let code = if status.caught_up {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                code,
                Json(serde_json::json!({
                    "caught_up": status.caught_up,
                    "height": status.height,
                    "finalized_height": status.finalized_height,
                })),
            )
                .into_response()
        }
        Err(e) => error_page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn metrics(State(state): State<RpcState>) -> Response {
    let status = match state.chain_status() {
        Ok(status) => status,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    // The markets' gauges read redb: off the async workers.
    let reader = state.clone();
    let open = tokio::task::spawn_blocking(move || crate::explorer::open_offers(&reader))
        .await
        .unwrap_or_default();
    let text = state.metrics.encode(
        ChainGauges {
            executed_height: status.height,
            finalized_height: status.finalized_height,
            mempool_txs: status.mempool,
            mempool_bytes: state.mempool.bytes(),
            mempool_gapped: state.mempool.gapped(),
        },
        &open,
    );
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response()
}
