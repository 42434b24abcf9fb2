//! What the market pages share: reading a module's queries, finding its markets, and showing
//! amounts, accounts and states compactly.

use super::{html, Problem};
use crate::{metrics::OpenOffers, rpc::RpcState};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The market modules, in the order the front page lists them; each has a page at
/// `/explorer/{module}/{market}`.
pub(super) const MODULES: [&str; 4] = ["energy", "allocation", "compute", "stream"];
/// Markets probed per module for the front page.
const MAX_MARKETS: u64 = 64;
/// Rows listed in a market page's tables; the JSON twin has the same.
pub(super) const MAX_ROWS: usize = 200;

/// A module's answer, or None when it has none (not found, or a node error a page shows as
/// missing data rather than failing).
pub(super) fn query<T: DeserializeOwned>(
    state: &RpcState,
    module: &str,
    path: &str,
    params: Value,
) -> Option<T> {
    let value = state.executor.query(module, path, &params).ok()?;
    serde_json::from_value(value).ok()
}

/// The ids of `module`'s markets that exist (every module numbers them from 0).
pub(super) fn market_ids(state: &RpcState, module: &str) -> Vec<u64> {
    (0..MAX_MARKETS)
        .take_while(|m| query::<Value>(state, module, "market", json!({"market": m})).is_some())
        .collect()
}

/// The market number in a page's path.
pub(super) fn market_id(text: &str) -> Result<u64, Problem> {
    text.parse().map_err(|_| {
        Problem::bad(format!(
            "{:?} is not a market number",
            html::short(text, 80)
        ))
    })
}

/// `module`'s market `m`, or the page's 404.
pub(super) fn market(state: &RpcState, module: &str, m: u64) -> Result<Value, Problem> {
    query(state, module, "market", json!({"market": m}))
        .ok_or_else(|| Problem::missing(format!("no {module} market {m}")))
}

/// A link to an account's page showing the start of its address.
pub(super) fn account(address: &Value) -> String {
    address.as_str().map(account_link).unwrap_or_default()
}

/// A link to the page of account `address` (hex) showing its start.
pub(super) fn account_link(address: &str) -> String {
    html::link(
        &format!("/explorer/account/{address}"),
        &html::short(address, 16),
    )
}

/// A value as a short cell: strings bare, enums by their variant name, the rest as compact
/// JSON.
pub(super) fn cell(value: &Value) -> String {
    html::esc(&html::short(&plain(value), 120))
}

/// A value as a reader wants it: strings without quotes, and an enum variant that carries a
/// value (`{"closed": "accepted"}`) as `closed accepted`.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(o) if o.len() == 1 => {
            o.iter().map(|(k, v)| format!("{k} {}", plain(v))).collect()
        }
        other => other.to_string(),
    }
}

/// The numbers from `from` to `to` (exclusive), at most the last [`MAX_ROWS`] of them.
pub(super) fn last_ids(from: u64, to: u64) -> std::ops::Range<u64> {
    from.max(to.saturating_sub(MAX_ROWS as u64))..to
}

/// A column of a table of JSON items: its heading, and how a cell shows an item.
pub(super) type Column = (&'static str, fn(&Value) -> String);

/// A table of `items`, a row each, in `columns`.
pub(super) fn items_table<'a>(
    columns: &[Column],
    items: impl IntoIterator<Item = &'a Value>,
) -> String {
    let head: Vec<&str> = columns.iter().map(|(heading, _)| *heading).collect();
    html::table(
        &head,
        items
            .into_iter()
            .map(|item| columns.iter().map(|(_, show)| show(item)).collect()),
    )
}

/// How many of `kinds` are of each kind.
pub(super) fn tally(kinds: impl IntoIterator<Item = String>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for kind in kinds {
        *counts.entry(kind).or_default() += 1;
    }
    counts
}

/// An object's fields as a two-row table (names, values).
pub(super) fn fields_table(object: &Value) -> String {
    let Some(fields) = object.as_object() else {
        return cell(object);
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    html::table(&names, [fields.values().map(cell).collect()])
}

/// Every entry of a paged list query (its pages' `field`), page by page; entries that do not
/// read as a `T` are left out.
pub(super) fn all<T: DeserializeOwned>(
    state: &RpcState,
    module: &str,
    path: &str,
    mut params: Value,
    field: &str,
) -> Vec<T> {
    let mut entries = Vec::new();
    while let Some(mut page) = query::<Value>(state, module, path, params.clone()) {
        if let Value::Array(items) = page[field].take() {
            entries.extend(
                items
                    .into_iter()
                    .filter_map(|i| serde_json::from_value(i).ok()),
            );
        }
        match page["next"].as_u64() {
            Some(next) => params["after"] = next.into(),
            None => break,
        }
    }
    entries
}

/// How many offers each market has open: energy's open offers, allocation's offers posted in
/// the current cycle, compute's open job and resource offers, and stream's open allocations
/// (its offers stay off the ledger). Read at every scrape of `/metrics`.
pub(crate) fn open_offers(state: &RpcState) -> Vec<OpenOffers> {
    let len = |v: Option<Value>, key: &str| -> u64 {
        v.unwrap_or_default()[key]
            .as_array()
            .map_or(0, |a| a.len() as u64)
    };
    let mut out = Vec::new();
    for module in MODULES {
        for m in market_ids(state, module) {
            let at = json!({"market": m});
            let count = match module {
                "energy" => all::<Value>(state, module, "open_offers", at, "offers").len() as u64,
                "allocation" => query::<Value>(state, module, "market", at)
                    .and_then(|v| v["posted_this_cycle"].as_u64())
                    .unwrap_or(0),
                "compute" => {
                    let problem: Option<Value> = query(state, module, "open_problem", at);
                    len(problem.clone(), "job_offers") + len(problem, "resource_offers")
                }
                _ => all::<Value>(state, module, "open", at, "allocations").len() as u64,
            };
            out.push(OpenOffers {
                module,
                market: m,
                count,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_show_states_without_json_quotes() {
        assert_eq!(cell(&json!({"closed": "accepted"})), "closed accepted");
        assert_eq!(cell(&json!({"matched": 7})), "matched 7");
        assert_eq!(cell(&json!("open")), "open");
        assert_eq!(cell(&json!({"a": "<b>"})), "a &lt;b&gt;");
        assert_eq!(cell(&Value::Null), "");
    }
}
