//! The allocation market's page (SolidWorx, chapter 6): its phase and cycle, the offers of the
//! current cycle, the candidate solution's assignments, and the finalized cycles.

use super::{
    html::{bar_chart, esc, Series},
    markets::{self, account, cell, items_table, MAX_ROWS},
    Page, Problem,
};
use crate::rpc::RpcState;
use serde_json::{json, Value};

const MODULE: &str = "allocation";
/// Finalized cycles listed and plotted.
const MAX_CYCLES: u64 = 48;

/// An offer's alternatives as `type: quantity @ value`.
fn alternatives(offer: &Value) -> String {
    let alts = offer["alternatives"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let shown: Vec<String> = alts
        .iter()
        .take(8)
        .map(|a| format!("{}: {} @ {}", a["rtype"], a["quantity"], a["value"]))
        .collect();
    let more = alts.len().saturating_sub(shown.len());
    let mut text = shown.join(", ");
    if more > 0 {
        text += &format!(" and {more} more");
    }
    esc(&text)
}

pub(super) fn market_page(state: &RpcState, market: &str) -> Result<Page, Problem> {
    let m = markets::market_id(market)?;
    let info = markets::market(state, MODULE, m)?;
    let cycle = info["cycle"].as_u64().unwrap_or(0);
    let offers: Vec<Value> = markets::all(
        state,
        MODULE,
        "offers",
        json!({"market": m, "cycle": cycle}),
        "offers",
    );
    let candidate = &info["candidate"];
    let assignments: Vec<Value> = candidate["solution"]
        .as_u64()
        .and_then(|s| {
            markets::query::<Value>(
                state,
                MODULE,
                "solution",
                json!({"market": m, "solution": s}),
            )
        })
        .and_then(|s| serde_json::from_value(s["assignments"].clone()).ok())
        .unwrap_or_default();
    let mut finalized = Vec::new();
    for c in cycle.saturating_sub(MAX_CYCLES)..cycle {
        if let Some(f) =
            markets::query::<Value>(state, MODULE, "finalized", json!({"market": m, "cycle": c}))
        {
            finalized.push(json!({"cycle": c, "record": f["record"]}));
        }
    }

    let mut body = format!(
        "<p>admin {} · phase <b>{}</b> since {} ms · cycle {} · offers this cycle {} (posted {}) · \
         solutions this cycle {}</p><p>objective {} · receive {} ms, solve {} ms · settles: {}</p>",
        account(&info["admin"]),
        cell(&info["phase"]),
        cell(&info["phase_since_ms"]),
        cycle,
        cell(&info["offers_this_cycle"]),
        cell(&info["posted_this_cycle"]),
        cell(&info["solutions_this_cycle"]),
        cell(&info["params"]["objective"]),
        cell(&info["params"]["receive_ms"]),
        cell(&info["params"]["solve_ms"]),
        cell(&info["params"]["settle"]),
    );
    body += &format!("<h2>Offers of cycle {cycle} ({})</h2>", offers.len());
    body += &items_table(
        &[
            ("offer", |o| cell(&o["id"])),
            ("side", |o| cell(&o["side"])),
            ("owner", |o| account(&o["owner"])),
            ("posted", |o| cell(&o["posted"])),
            ("alternatives", alternatives),
            ("hold", |o| cell(&o["hold"])),
        ],
        offers.iter().take(MAX_ROWS),
    );
    body += &format!(
        "<h2>Candidate solution</h2><p>solution {} · score {} · by {} · round {}</p>",
        cell(&candidate["solution"]),
        cell(&candidate["score"]),
        account(&candidate["solver"]),
        cell(&candidate["round"]),
    );
    body += &items_table(
        &[
            ("provider offer", |a| cell(&a["provider"])),
            ("consumer offer", |a| cell(&a["consumer"])),
            ("type", |a| cell(&a["rtype"])),
            ("quantity", |a| cell(&a["quantity"])),
            ("price", |a| cell(&a["price"])),
        ],
        assignments.iter().take(MAX_ROWS),
    );
    body += "<h2>Finalized cycles</h2>";
    let labels: Vec<String> = finalized.iter().map(|f| f["cycle"].to_string()).collect();
    body += &bar_chart(
        "Assignments per finalized cycle",
        &labels,
        &[Series {
            name: "assignments",
            color: "#2a7",
            values: finalized
                .iter()
                .map(|f| f["record"]["assignments"].as_u64().unwrap_or(0))
                .collect(),
        }],
        None,
    );
    body += &items_table(
        &[
            ("cycle", |f| cell(&f["cycle"])),
            ("solution", |f| cell(&f["record"]["solution"])),
            ("score", |f| cell(&f["record"]["score"])),
            ("assignments", |f| cell(&f["record"]["assignments"])),
            ("block", |f| match f["record"]["height"].as_u64() {
                Some(h) => super::html::link(&format!("/explorer/block/{h}"), &h.to_string()),
                None => String::new(),
            }),
        ],
        finalized.iter().rev(),
    );
    Ok(Page {
        title: format!("Allocation market {m}"),
        data: json!({
            "market": info,
            "offers": offers.iter().take(MAX_ROWS).collect::<Vec<_>>(),
            "offer_count": offers.len(),
            "candidate_assignments": assignments.iter().take(MAX_ROWS).collect::<Vec<_>>(),
            "finalized": finalized,
        }),
        body,
        live: true,
    })
}
