//! The stream market's page (chapter 4): its allocations, each with its phase (allocated,
//! signing, serving, posting, mediating, mediated, closed), terms, suppliers and outcome.

use super::{
    html::{bar_chart, table, Series},
    markets::{self, account, cell, fields_table, last_ids},
    Format, Page, Problem,
};
use crate::rpc::RpcState;
use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MODULE: &str = "stream";

pub(super) async fn market(
    State(state): State<RpcState>,
    format: Format,
    Path(market): Path<String>,
) -> Response {
    super::answer(format, move || market_page(&state, &market)).await
}

/// How many of a slot list's suppliers signed (hold a deposit) and posted their output.
fn slots_cell(slots: &Value) -> String {
    let slots = slots.as_array().map_or(&[][..], Vec::as_slice);
    let signed = slots.iter().filter(|s| !s["hold"].is_null()).count();
    let posted = slots.iter().filter(|s| !s["gamma"].is_null()).count();
    format!("{} · signed {signed} · posted {posted}", slots.len())
}

fn market_page(state: &RpcState, market: &str) -> Result<Page, Problem> {
    let m = markets::market_id(market)?;
    let info = markets::market(state, MODULE, m)?;
    let next = info["next_allocation"].as_u64().unwrap_or(0);
    let views: Vec<Value> = last_ids(0, next)
        .rev()
        .filter_map(|a| {
            markets::query(
                state,
                MODULE,
                "allocation",
                json!({"market": m, "allocation": a}),
            )
        })
        .collect();
    let mut phases: BTreeMap<String, u64> = BTreeMap::new();
    for v in &views {
        *phases
            .entry(v["phase"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }

    let mut body = format!(
        "<p>{next} allocations so far</p>{}",
        fields_table(&info["params"]),
    );
    body += &bar_chart(
        "Allocations by phase",
        &phases.keys().cloned().collect::<Vec<_>>(),
        &[Series {
            name: "allocations",
            color: "#27a",
            values: phases.values().copied().collect(),
        }],
        None,
    );
    body += &format!("<h2>Allocations ({})</h2>", views.len());
    body += &table(
        &[
            "allocation",
            "phase",
            "allocator",
            "customer",
            "mediator",
            "start ms",
            "end ms",
            "replicas",
            "suppliers",
            "outcome",
        ],
        views.iter().map(|v| {
            let a = &v["allocation"];
            let t = &a["terms"];
            vec![
                cell(&a["id"]),
                cell(&v["phase"]),
                account(&a["allocator"]),
                account(&t["customer"]),
                account(&t["mediator"]),
                cell(&t["start_ms"]),
                cell(&t["end_ms"]),
                cell(&t["replicas"]),
                slots_cell(&a["slots"]),
                cell(&a["outcome"]),
            ]
        }),
    );
    Ok(Page {
        title: format!("Stream market {m}"),
        data: json!({"market": info, "allocations": views, "phases": phases}),
        body,
        live: true,
    })
}
