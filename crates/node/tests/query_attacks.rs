//! Hostile queries against the real JSON-RPC server over TCP: pages over their cap, the
//! bank's recount asked for by a client that is not the operator.

mod common;

use agora_client::{query_reason, Client, ClientError, OPERATOR_ONLY};
use agora_ledger::MAX_PAGE;
use agora_node::limits::RpcLimits;
use agora_types::Keypair;
use common::*;
use serde_json::{json, Value};

fn code(e: &ClientError) -> Option<i32> {
    match e {
        ClientError::Rpc {
            source: jsonrpsee::core::client::Error::Call(e),
            ..
        } => Some(e.code()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_over_limit_page_is_refused_over_rpc_with_its_reason() {
    let node = served(RpcLimits::default()).await;
    let client = Client::new(&format!("http://{}", node.addr)).unwrap();
    let owner = Keypair::from_seed(1).address();
    let page = client
        .query(
            "bank",
            "holds",
            json!({"address": owner, "limit": MAX_PAGE}),
        )
        .await
        .unwrap();
    assert_eq!(page["next"], Value::Null);
    let refused = client
        .query(
            "bank",
            "holds",
            json!({"address": owner, "limit": MAX_PAGE + 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(query_reason(&refused).as_deref(), Some("limit_exceeded"));
    let unknown = client
        .query("bank", "nosuch", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(query_reason(&unknown).as_deref(), Some("unknown_query"));
}

/// The public `conservation` answers the running totals; the recount of every balance and
/// hold is an operator query: served on the node's own host, refused when the configuration
/// says so or when loopback clients may be anyone (behind a local proxy).
#[tokio::test(flavor = "multi_thread")]
async fn the_recount_is_served_only_to_the_operator() {
    let node = served(RpcLimits::default()).await;
    let client = Client::new(&format!("http://{}", node.addr)).unwrap();
    let public = client
        .query("bank", "conservation", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        (public["recounted"].as_bool(), public["conserved"].as_bool()),
        (Some(false), Some(true))
    );
    let recount = client
        .operator_query("bank", "conservation", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        (
            recount["recounted"].as_bool(),
            recount["conserved"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(recount["supply"], public["supply"]);

    for limits in [
        RpcLimits {
            operator_queries: false,
            ..RpcLimits::default()
        },
        RpcLimits {
            limit_loopback: true,
            ..RpcLimits::default()
        },
    ] {
        let node = served(limits).await;
        let client = Client::new(&format!("http://{}", node.addr)).unwrap();
        let refused = client
            .operator_query("bank", "conservation", Value::Null)
            .await
            .unwrap_err();
        assert_eq!(code(&refused), Some(OPERATOR_ONLY), "{refused}");
        // The public query is unaffected.
        client
            .query("bank", "conservation", Value::Null)
            .await
            .unwrap();
    }
}
