//! The explorer: server-rendered HTML pages of the chain, served by the node on its RPC port.
//!
//! `/explorer` (and `/`) shows the chain's status, validators, latest blocks and markets;
//! `/explorer/block/{height}`, `/explorer/tx/{hash}`, `/explorer/account/{address}` and
//! `/explorer/{energy,allocation,compute,stream}/{market}` show one thing;
//! `/explorer/search?q=` ([`search`]) finds a height, a block digest, a transaction hash or an
//! address. Every page has a JSON twin at the same path
//! (`?format=json`, or `Accept: application/json`). Live pages reload themselves every few
//! seconds. Bad input gets an error page in the same format saying what was wrong.

mod account;
mod allocation;
mod compute;
mod energy;
mod html;
mod markets;

pub(crate) use markets::open_offers;
mod search;
mod stream;

use crate::rpc::RpcState;
use agora_types::{BlockRecord, Receipt, TxHash, TxStatus};
use axum::{
    extract::{FromRequestParts, Path, Request, State},
    http::{header, request::Parts, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, MethodRouter},
    Json, Router,
};
use html::{esc, link, short, table};
use serde_json::{json, Value};
use std::convert::Infallible;

/// Longest query string a page accepts.
pub const MAX_QUERY_BYTES: usize = 2048;
/// Blocks listed on the front page.
const LATEST_BLOCKS: u64 = 20;

/// Whether the client asked for the JSON twin of a page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let query = parts.uri.query().unwrap_or("");
        let asked = query.split('&').any(|kv| kv == "format=json");
        let accepts = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        Ok(if asked || accepts {
            Format::Json
        } else {
            Format::Html
        })
    }
}

/// A page: its title, its data (the JSON twin) and its HTML body.
struct Page {
    title: String,
    data: Value,
    body: String,
    live: bool,
}

/// What went wrong with a page request.
struct Problem {
    status: StatusCode,
    message: String,
}

impl Problem {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn missing(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn node(e: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("node error: {e}"),
        )
    }
}

fn render(format: Format, page: Result<Page, Problem>) -> Response {
    match (format, page) {
        (Format::Json, Ok(page)) => Json(page.data).into_response(),
        (Format::Html, Ok(page)) => {
            axum::response::Html(html::layout(&page.title, &page.body, page.live)).into_response()
        }
        (Format::Json, Err(p)) => (
            p.status,
            Json(json!({"error": p.message, "status": p.status.as_u16()})),
        )
            .into_response(),
        (Format::Html, Err(p)) => {
            let body = format!(
                "<p class=\"failed\">{}</p><p>{}</p>",
                esc(&p.message),
                link("/explorer", "Back to the chain")
            );
            let title = p.status.canonical_reason().unwrap_or("Error");
            (
                p.status,
                axum::response::Html(html::layout(title, &body, false)),
            )
                .into_response()
        }
    }
}

/// Builds a page on a blocking thread (pages read redb and may read many records), so that
/// slow pages neither stall the node's async workers nor escape the page timeout.
async fn answer(
    format: Format,
    build: impl FnOnce() -> Result<Page, Problem> + Send + 'static,
) -> Response {
    let page = tokio::task::spawn_blocking(build)
        .await
        .unwrap_or_else(|e| Err(Problem::node(e)));
    render(format, page)
}

/// The route of a market's page, which `build` makes from the market number in the path.
fn market_page(build: fn(&RpcState, &str) -> Result<Page, Problem>) -> MethodRouter<RpcState> {
    get(
        move |State(state): State<RpcState>, format: Format, Path(market): Path<String>| {
            answer(format, move || build(&state, &market))
        },
    )
}

/// The explorer's routes, refusing query strings over [`MAX_QUERY_BYTES`].
pub fn router() -> Router<RpcState> {
    Router::new()
        .route("/", get(index))
        .route("/explorer", get(index))
        .route("/explorer/block/{height}", get(block))
        .route("/explorer/tx/{hash}", get(tx))
        .route("/explorer/account/{address}", get(account::account))
        .route(
            "/explorer/energy/{market}",
            market_page(energy::market_page),
        )
        .route(
            "/explorer/allocation/{market}",
            market_page(allocation::market_page),
        )
        .route(
            "/explorer/compute/{market}",
            market_page(compute::market_page),
        )
        .route(
            "/explorer/stream/{market}",
            market_page(stream::market_page),
        )
        .route("/explorer/search", get(search::search))
        .layer(middleware::from_fn(limit_query))
}

async fn limit_query(format: Format, request: Request, next: Next) -> Response {
    let len = request.uri().query().map_or(0, str::len);
    if len > MAX_QUERY_BYTES {
        return render(
            format,
            Err(Problem::new(
                StatusCode::URI_TOO_LONG,
                format!("the query string has {len} bytes; at most {MAX_QUERY_BYTES} are read"),
            )),
        );
    }
    next.run(request).await
}

fn status_cell(receipt: &Receipt) -> String {
    match receipt.status {
        TxStatus::Success => "<span class=\"success\">success</span>".into(),
        TxStatus::Failed => format!(
            "<span class=\"failed\">failed: {}</span>",
            esc(receipt.reason.as_deref().unwrap_or("?"))
        ),
    }
}

fn events_cell(receipt: &Receipt) -> String {
    receipt
        .events
        .iter()
        .map(|e| {
            format!(
                "<b>{}.{}</b> <code>{}</code>",
                esc(&e.module),
                esc(&e.name),
                esc(&short(&e.data.to_string(), 200))
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn block_row(b: &BlockRecord) -> Vec<String> {
    vec![
        link(
            &format!("/explorer/block/{}", b.height),
            &b.height.to_string(),
        ),
        b.timestamp.to_string(),
        esc(&short(&b.proposer, 16)),
        b.txs.len().to_string(),
        format!("<code>{}</code>", esc(&short(&b.digest, 16))),
    ]
}

async fn index(State(state): State<RpcState>, format: Format) -> Response {
    answer(format, move || front_page(&state)).await
}

fn front_page(state: &RpcState) -> Result<Page, Problem> {
    let status = state.chain_status().map_err(Problem::node)?;
    let from = status.height.saturating_sub(LATEST_BLOCKS - 1);
    let mut blocks = Vec::new();
    for h in (from..=status.height).rev() {
        if let Some(b) = state.executor.block(h).map_err(Problem::node)? {
            blocks.push(b);
        }
    }
    let markets: serde_json::Map<String, Value> = markets::MODULES
        .iter()
        .map(|module| {
            (
                module.to_string(),
                json!(markets::market_ids(state, module)),
            )
        })
        .collect();
    let mut body = format!(
        "<p>chain <b>{}</b> · height {} (finalized {}) · caught up: {} · mempool {}</p>\
         <p>state root <code>{}</code></p><h2>Validators</h2>",
        esc(&status.chain_id),
        status.height,
        status.finalized_height,
        if status.caught_up { "yes" } else { "no" },
        status.mempool,
        esc(&status.state_root),
    );
    body += &table(
        &["address"],
        status
            .validators
            .iter()
            .map(|v| vec![link(&format!("/explorer/account/{v}"), v)]),
    );
    body += "<h2>Latest blocks</h2>";
    body += &table(
        &["height", "time (ms)", "proposer", "txs", "digest"],
        blocks.iter().map(block_row),
    );
    body += "<h2>Markets</h2><ul>";
    let mut any = false;
    for (module, ids) in &markets {
        for m in ids.as_array().into_iter().flatten() {
            any = true;
            body += &format!(
                "<li>{}</li>",
                link(
                    &format!("/explorer/{module}/{m}"),
                    &format!("{module} market {m}")
                )
            );
        }
    }
    if !any {
        body += "<li>none yet</li>";
    }
    body += "</ul>";
    Ok(Page {
        title: "Chain".into(),
        data: json!({"status": status, "blocks": blocks, "markets": markets}),
        body,
        live: true,
    })
}

async fn block(
    State(state): State<RpcState>,
    format: Format,
    Path(height): Path<String>,
) -> Response {
    answer(format, move || block_page(&state, &height)).await
}

fn block_page(state: &RpcState, height: &str) -> Result<Page, Problem> {
    let height: u64 = height
        .parse()
        .map_err(|_| Problem::bad(format!("{:?} is not a block height", short(height, 80))))?;
    let record = state
        .executor
        .block(height)
        .map_err(Problem::node)?
        .ok_or_else(|| Problem::missing(format!("no block {height} yet")))?;
    let mut receipts = Vec::new();
    for tx in &record.txs {
        if let Some(r) = state.executor.receipt(&tx.hash).map_err(Problem::node)? {
            receipts.push(r);
        }
    }
    let mut body = format!(
        "<p>time {} ms · proposer {} · digest <code>{}</code> · parent <code>{}</code></p>\
         <p>state root after it <code>{}</code></p><p>{} · {}</p><h2>Transactions</h2>",
        record.timestamp,
        esc(&record.proposer),
        esc(&record.digest),
        esc(&record.parent),
        esc(&record.state_root),
        link(
            &format!("/explorer/block/{}", height.saturating_sub(1)),
            "previous"
        ),
        link(&format!("/explorer/block/{}", height + 1), "next"),
    );
    body += &table(
        &["hash", "sender", "module", "status", "fee", "events"],
        receipts.iter().map(|r| {
            vec![
                link(
                    &format!("/explorer/tx/{}", r.tx_hash),
                    &short(&r.tx_hash.to_string(), 16),
                ),
                link(
                    &format!("/explorer/account/{}", r.sender),
                    &short(&r.sender.to_string(), 16),
                ),
                esc(&r.module),
                status_cell(r),
                r.fee.to_string(),
                events_cell(r),
            ]
        }),
    );
    Ok(Page {
        title: format!("Block {height}"),
        data: json!({"block": record, "receipts": receipts}),
        body,
        live: false,
    })
}

async fn tx(State(state): State<RpcState>, format: Format, Path(hash): Path<String>) -> Response {
    answer(format, move || tx_page(&state, &hash)).await
}

fn tx_page(state: &RpcState, hash: &str) -> Result<Page, Problem> {
    let parsed: TxHash = hash.parse().map_err(|_| {
        Problem::bad(format!(
            "{:?} is not a transaction hash (64 hex digits)",
            short(hash, 80)
        ))
    })?;
    let receipt = state
        .executor
        .receipt(&parsed)
        .map_err(Problem::node)?
        .ok_or_else(|| Problem::missing(format!("no executed transaction {parsed}")))?;
    let body = format!(
        "<p>block {} (position {}) · sender {} · nonce {} · module {} · fee {}</p>\
         <p>status {}{}</p><h2>Events</h2>{}",
        link(
            &format!("/explorer/block/{}", receipt.height),
            &receipt.height.to_string()
        ),
        receipt.index,
        link(
            &format!("/explorer/account/{}", receipt.sender),
            &receipt.sender.to_string()
        ),
        receipt.nonce,
        esc(&receipt.module),
        receipt.fee,
        status_cell(&receipt),
        receipt
            .message
            .as_ref()
            .map(|m| format!(" · {}", esc(m)))
            .unwrap_or_default(),
        events_cell(&receipt),
    );
    Ok(Page {
        title: format!("Transaction {}", short(&parsed.to_string(), 16)),
        data: serde_json::to_value(&receipt).map_err(Problem::node)?,
        body,
        live: false,
    })
}
