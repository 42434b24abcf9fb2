//! An account's page: its balance, what it may spend, its next nonce, and its holds (deposits
//! and escrows a market controls) through the bank's index by owner.

use super::{
    html::{esc, link, short, table},
    markets::MAX_ROWS,
    Format, Page, Problem,
};
use crate::rpc::RpcState;
use agora_types::Address;
use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::{json, Value};

/// The markets' module accounts, named on the holds they control.
fn controller_name(controller: &str) -> Option<&'static str> {
    super::markets::MODULES
        .iter()
        .copied()
        .find(|m| agora_bank::module_account(m).to_string() == controller)
}

pub(super) async fn account(
    State(state): State<RpcState>,
    format: Format,
    Path(address): Path<String>,
) -> Response {
    super::answer(format, move || account_page(&state, &address)).await
}

fn account_page(state: &RpcState, address: &str) -> Result<Page, Problem> {
    let parsed: Address = address.parse().map_err(|_| {
        Problem::bad(format!(
            "{:?} is not an address (64 hex digits)",
            short(address, 80)
        ))
    })?;
    let balance = state
        .executor
        .query("bank", "balance", &json!({"address": parsed}))
        .map_err(Problem::node)?["balance"]
        .as_u64()
        .unwrap_or(0);
    let page = state
        .executor
        .query(
            "bank",
            "holds",
            &json!({"address": parsed, "limit": MAX_ROWS}),
        )
        .map_err(Problem::node)?;
    let holds: Vec<Value> = page["holds"].as_array().cloned().unwrap_or_default();
    // The bank pages an account's holds: with more than one page, the sum is of the first.
    let more = !page["next"].is_null();
    let held: u64 = holds
        .iter()
        .filter_map(|h| h["amount"].as_u64())
        .fold(0, u64::saturating_add);
    let plus = if more { "+" } else { "" };
    let spendable = state.executor.spendable(&parsed).map_err(Problem::node)?;
    let nonce = state.executor.nonce(&parsed).map_err(Problem::node)?;
    let mut body = format!(
        "<p><code>{}</code></p>{}",
        esc(&parsed.to_string()),
        table(
            &[
                "balance",
                "spendable (after fees in flight)",
                "held",
                "next nonce"
            ],
            [vec![
                balance.to_string(),
                spendable.to_string(),
                format!("{held}{plus}"),
                nonce.to_string()
            ]],
        )
    );
    body += &format!("<h2>Holds ({}{plus})</h2>", holds.len());
    body += &table(
        &["hold", "amount", "controller"],
        holds.iter().map(|h| {
            let controller = h["controller"].as_str().unwrap_or("");
            vec![
                h["id"].to_string(),
                h["amount"].to_string(),
                match controller_name(controller) {
                    Some(module) => format!("the {} market", esc(module)),
                    None => link(
                        &format!("/explorer/account/{controller}"),
                        &short(controller, 16),
                    ),
                },
            ]
        }),
    );
    Ok(Page {
        title: format!("Account {}", short(&parsed.to_string(), 16)),
        data: json!({
            "address": parsed, "balance": balance, "spendable": spendable, "nonce": nonce,
            "held": held, "holds": holds, "more_holds": more,
        }),
        body,
        live: true,
    })
}
