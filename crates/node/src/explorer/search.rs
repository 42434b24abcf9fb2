//! Search: a height leads to its block, 64 hex digits to the executed transaction or the block
//! with that hash or digest, and otherwise to the account of that address.

use super::{html::short, render, Format, Problem};
use crate::rpc::RpcState;
use agora_types::{Address, TxHash};
use axum::{
    extract::{rejection::QueryRejection, Query, State},
    response::{IntoResponse, Redirect, Response},
};

#[derive(serde::Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub(super) async fn search(
    State(state): State<RpcState>,
    format: Format,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(query) => query.0.q.trim().to_string(),
        Err(e) => return render(format, Err(Problem::bad(e.body_text()))),
    };
    // The lookups read redb: off the async workers, like the pages.
    let found = tokio::task::spawn_blocking(move || find(&state, &q))
        .await
        .unwrap_or_else(|e| Err(Problem::node(e)));
    match found {
        Ok(path) if format == Format::Json => {
            let target = format!("{path}?format=json");
            Redirect::to(&target).into_response()
        }
        Ok(path) => Redirect::to(&path).into_response(),
        Err(p) => render(format, Err(p)),
    }
}

/// Where `q` leads.
fn find(state: &RpcState, q: &str) -> Result<String, Problem> {
    if q.is_empty() {
        return Err(Problem::bad(
            "search for a block height or digest, a transaction hash or an address",
        ));
    }
    if let Ok(height) = q.parse::<u64>() {
        return Ok(format!("/explorer/block/{height}"));
    }
    if let Ok(hash) = q.parse::<TxHash>() {
        if state
            .executor
            .receipt(&hash)
            .map_err(Problem::node)?
            .is_some()
        {
            return Ok(format!("/explorer/tx/{hash}"));
        }
        if let Some(block) = state
            .executor
            .block_by_digest(&hash.0)
            .map_err(Problem::node)?
        {
            return Ok(format!("/explorer/block/{}", block.height));
        }
    }
    if let Ok(address) = q.parse::<Address>() {
        return Ok(format!("/explorer/account/{address}"));
    }
    Err(Problem::bad(format!(
        "{:?} is neither a block height or digest, nor a transaction hash, nor an address",
        short(q, 80)
    )))
}
