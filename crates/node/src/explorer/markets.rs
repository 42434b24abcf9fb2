//! What the market pages share: reading a module's queries, finding its markets, and showing
//! amounts, accounts and states compactly.

use super::{html, Problem};
use crate::{metrics::OpenOffers, rpc::RpcState};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

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
    match address.as_str() {
        Some(a) => html::link(&format!("/explorer/account/{a}"), &html::short(a, 16)),
        None => String::new(),
    }
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

/// An object's fields as a two-row table (names, values).
pub(super) fn fields_table(object: &Value) -> String {
    let Some(fields) = object.as_object() else {
        return cell(object);
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    html::table(&names, [fields.values().map(cell).collect()])
}

/// How many offers each market has open: energy's open offers, allocation's offers posted in
/// the current cycle, compute's open job and resource offers, and stream's open allocations
/// (its offers stay off the ledger). Read at every scrape of `/metrics`.
pub(crate) fn open_offers(state: &RpcState) -> Vec<OpenOffers> {
    let len = |v: Option<Value>, key: Option<&str>| -> u64 {
        let v = v.unwrap_or_default();
        let list = match key {
            Some(k) => &v[k],
            None => &v,
        };
        list.as_array().map_or(0, |a| a.len() as u64)
    };
    let mut out = Vec::new();
    for module in MODULES {
        for m in market_ids(state, module) {
            let at = json!({"market": m});
            let count = match module {
                "energy" => len(query(state, module, "open_offers", at), None),
                "allocation" => query::<Value>(state, module, "market", at)
                    .and_then(|v| v["posted_this_cycle"].as_u64())
                    .unwrap_or(0),
                "compute" => {
                    let problem: Option<Value> = query(state, module, "open_problem", at);
                    len(problem.clone(), Some("job_offers")) + len(problem, Some("resource_offers"))
                }
                _ => len(query(state, module, "open", at), None),
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
