//! The compute market's page (MODiCuM, chapter 3): its job and resource offers and its
//! matches, each with its state, and how many are in each state.

use super::{
    html::map_chart,
    markets::{self, account, cell, items_table, last_ids, tally},
    Page, Problem,
};
use crate::rpc::RpcState;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MODULE: &str = "compute";

/// The name of a state (`Open`, `Matched`, `Closed`...), without what it carries.
fn state_name(state: &Value) -> String {
    match state {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
        other => other.to_string(),
    }
}

/// How many of `items` are in each state, as a bar chart.
fn states_chart(title: &str, items: &[Value]) -> (String, BTreeMap<String, u64>) {
    let counts = tally(items.iter().map(|item| state_name(&item["state"])));
    (map_chart(title, "count", "#27a", &counts), counts)
}

pub(super) fn market_page(state: &RpcState, market: &str) -> Result<Page, Problem> {
    let m = markets::market_id(market)?;
    let info = markets::market(state, MODULE, m)?;
    let next_offer = info["next_offer"].as_u64().unwrap_or(0);
    let next_match = info["next_match"].as_u64().unwrap_or(0);
    // Job and resource offers share one numbering.
    let (mut jobs, mut resources) = (Vec::new(), Vec::new());
    for o in last_ids(0, next_offer).rev() {
        let params = json!({"market": m, "offer": o});
        if let Some(job) = markets::query::<Value>(state, MODULE, "job_offer", params.clone()) {
            jobs.push(job);
        } else if let Some(res) = markets::query::<Value>(state, MODULE, "resource_offer", params) {
            resources.push(res);
        }
    }
    let matches: Vec<Value> = last_ids(0, next_match)
        .rev()
        .filter_map(|i| markets::query(state, MODULE, "match", json!({"market": m, "match": i})))
        .collect();

    let p = &info["params"];
    let mut body = format!(
        "<p>created by {} · penalty rate θ {} · verifications n {} · reaction window {} ms · \
         mediation window {} ms · {} offers, {} matches so far</p>",
        account(&info["creator"]),
        cell(&p["penalty_rate"]),
        cell(&p["verification_count"]),
        cell(&p["reaction_window_ms"]),
        cell(&p["mediation_window_ms"]),
        next_offer,
        next_match,
    );
    let (offers_chart, offer_states) = states_chart(
        "Offers by state",
        &jobs.iter().chain(&resources).cloned().collect::<Vec<_>>(),
    );
    let (matches_chart, match_states) = states_chart("Matches by state", &matches);
    body += &offers_chart;
    body += &matches_chart;
    body += &format!("<h2>Matches ({})</h2>", matches.len());
    body += &items_table(
        &[
            ("match", |x| cell(&x["id"])),
            ("job offer", |x| cell(&x["job_offer"])),
            ("resource offer", |x| cell(&x["resource_offer"])),
            ("job creator", |x| account(&x["jc"])),
            ("resource provider", |x| account(&x["rp"])),
            ("mediator", |x| account(&x["mediator"])),
            ("state", |x| cell(&x["state"])),
            ("result", |x| cell(&x["result"]["status"])),
            ("verdict", |x| cell(&x["verdict"])),
        ],
        &matches,
    );
    body += &format!("<h2>Job offers ({})</h2>", jobs.len());
    body += &items_table(
        &[
            ("offer", |j| cell(&j["id"])),
            ("owner", |j| account(&j["owner"])),
            ("instructions", |j| cell(&j["limits"]["instructions"])),
            ("bandwidth", |j| cell(&j["limits"]["bandwidth"])),
            ("max prices", |j| cell(&j["max_prices"])),
            ("deadline ms", |j| cell(&j["completion_deadline_ms"])),
            ("deposit", |j| cell(&j["deposit"])),
            ("state", |j| cell(&j["state"])),
        ],
        &jobs,
    );
    body += &format!("<h2>Resource offers ({})</h2>", resources.len());
    body += &items_table(
        &[
            ("offer", |r| cell(&r["id"])),
            ("owner", |r| account(&r["owner"])),
            ("instructions", |r| cell(&r["caps"]["instructions"])),
            ("bandwidth", |r| cell(&r["caps"]["bandwidth"])),
            ("prices", |r| cell(&r["prices"])),
            ("deposit", |r| cell(&r["deposit"])),
            ("state", |r| cell(&r["state"])),
        ],
        &resources,
    );
    Ok(Page {
        title: format!("Compute market {m}"),
        data: json!({
            "market": info,
            "job_offers": jobs,
            "resource_offers": resources,
            "matches": matches,
            "offer_states": offer_states,
            "match_states": match_states,
        }),
        body,
        live: true,
    })
}
