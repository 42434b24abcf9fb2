//! The compute market's page (MODiCuM, chapter 3): its job and resource offers and its
//! matches, each with its state, and how many are in each state.

use super::{
    html::{bar_chart, table, Series},
    markets::{self, account, cell, last_ids},
    Format, Page, Problem,
};
use crate::rpc::RpcState;
use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MODULE: &str = "compute";

pub(super) async fn market(
    State(state): State<RpcState>,
    format: Format,
    Path(market): Path<String>,
) -> Response {
    super::answer(format, move || market_page(&state, &market)).await
}

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
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for item in items {
        *counts.entry(state_name(&item["state"])).or_default() += 1;
    }
    let labels: Vec<String> = counts.keys().cloned().collect();
    let chart = bar_chart(
        title,
        &labels,
        &[Series {
            name: "count",
            color: "#27a",
            values: counts.values().copied().collect(),
        }],
        None,
    );
    (chart, counts)
}

fn market_page(state: &RpcState, market: &str) -> Result<Page, Problem> {
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
    body += &table(
        &[
            "match",
            "job offer",
            "resource offer",
            "job creator",
            "resource provider",
            "mediator",
            "state",
            "result",
            "verdict",
        ],
        matches.iter().map(|x| {
            vec![
                cell(&x["id"]),
                cell(&x["job_offer"]),
                cell(&x["resource_offer"]),
                account(&x["jc"]),
                account(&x["rp"]),
                account(&x["mediator"]),
                cell(&x["state"]),
                cell(&x["result"]["status"]),
                cell(&x["verdict"]),
            ]
        }),
    );
    body += &format!("<h2>Job offers ({})</h2>", jobs.len());
    body += &table(
        &[
            "offer",
            "owner",
            "instructions",
            "bandwidth",
            "max prices",
            "deadline ms",
            "deposit",
            "state",
        ],
        jobs.iter().map(|j| {
            vec![
                cell(&j["id"]),
                account(&j["owner"]),
                cell(&j["limits"]["instructions"]),
                cell(&j["limits"]["bandwidth"]),
                cell(&j["max_prices"]),
                cell(&j["completion_deadline_ms"]),
                cell(&j["deposit"]),
                cell(&j["state"]),
            ]
        }),
    );
    body += &format!("<h2>Resource offers ({})</h2>", resources.len());
    body += &table(
        &[
            "offer",
            "owner",
            "instructions",
            "bandwidth",
            "prices",
            "deposit",
            "state",
        ],
        resources.iter().map(|r| {
            vec![
                cell(&r["id"]),
                account(&r["owner"]),
                cell(&r["caps"]["instructions"]),
                cell(&r["caps"]["bandwidth"]),
                cell(&r["prices"]),
                cell(&r["deposit"]),
                cell(&r["state"]),
            ]
        }),
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
