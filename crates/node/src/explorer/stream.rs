//! The stream market's page (chapter 4): its allocations, each with its phase (allocated,
//! signing, serving, posting, mediating, mediated, closed), terms, suppliers and outcome.

use super::{
    html::map_chart,
    markets::{self, account, cell, fields_table, items_table, last_ids, tally},
    Page, Problem,
};
use crate::rpc::RpcState;
use serde_json::{json, Value};

const MODULE: &str = "stream";

/// How many of a slot list's suppliers signed (hold a deposit) and posted their output.
fn slots_cell(slots: &Value) -> String {
    let slots = slots.as_array().map_or(&[][..], Vec::as_slice);
    let signed = slots.iter().filter(|s| !s["hold"].is_null()).count();
    let posted = slots.iter().filter(|s| !s["gamma"].is_null()).count();
    format!("{} · signed {signed} · posted {posted}", slots.len())
}

pub(super) fn market_page(state: &RpcState, market: &str) -> Result<Page, Problem> {
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
    let phases = tally(
        views
            .iter()
            .map(|v| v["phase"].as_str().unwrap_or("?").to_string()),
    );

    let mut body = format!(
        "<p>{next} allocations so far</p>{}",
        fields_table(&info["params"]),
    );
    body += &map_chart("Allocations by phase", "allocations", "#27a", &phases);
    body += &format!("<h2>Allocations ({})</h2>", views.len());
    body += &items_table(
        &[
            ("allocation", |v| cell(&v["allocation"]["id"])),
            ("phase", |v| cell(&v["phase"])),
            ("allocator", |v| account(&v["allocation"]["allocator"])),
            ("customer", |v| {
                account(&v["allocation"]["terms"]["customer"])
            }),
            ("mediator", |v| {
                account(&v["allocation"]["terms"]["mediator"])
            }),
            ("start ms", |v| cell(&v["allocation"]["terms"]["start_ms"])),
            ("end ms", |v| cell(&v["allocation"]["terms"]["end_ms"])),
            ("replicas", |v| cell(&v["allocation"]["terms"]["replicas"])),
            ("suppliers", |v| slots_cell(&v["allocation"]["slots"])),
            ("outcome", |v| cell(&v["allocation"]["outcome"])),
        ],
        &views,
    );
    Ok(Page {
        title: format!("Stream market {m}"),
        data: json!({"market": info, "allocations": views, "phases": phases}),
        body,
        live: true,
    })
}
