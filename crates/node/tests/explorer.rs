//! The explorer through HTTP against the real server: pages and their JSON twins for the chain,
//! blocks, transactions, accounts and an energy market with a candidate solution; search; and
//! clear answers to bad input.

mod common;

use agora_node::limits::RpcLimits;
use agora_types::{Keypair, TxHash, TxStatus};
use common::*;
use serde_json::Value;

async fn page(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn json(url: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_shows_blocks_transactions_accounts_and_a_market() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);
    let (faucet, seller, buyer) = (
        Keypair::from_seed(1),
        Keypair::from_seed(2),
        Keypair::from_seed(3),
    );
    let mut blocks = Blocks::new(&node.state.executor);
    let bob = Keypair::from_seed(999).address();
    let sent = blocks.run(&faucet, transfer(&faucet, 0, 1234).tx.call);
    assert_eq!(sent.status, TxStatus::Success);
    let failed = blocks.run(&faucet, transfer(&faucet, 1, u64::MAX).tx.call);
    assert_eq!(failed.status, TxStatus::Failed);
    for key in [&seller, &buyer] {
        let call = agora_bank::BankCall::Transfer {
            to: key.address(),
            amount: 1_000_000,
        };
        blocks.run(&faucet, call.into_call());
    }
    energy_market(&mut blocks, &faucet, &seller, &buyer);
    let height = blocks.height;

    // The front page, at / and /explorer, and its JSON twin.
    for path in ["/", "/explorer"] {
        let (code, html) = page(&format!("{base}{path}")).await;
        assert_eq!(code, 200);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(
            html.contains(&format!("href=\"/explorer/block/{height}\"")),
            "{html}"
        );
        assert!(html.contains("href=\"/explorer/energy/0\""), "{html}");
    }
    let (code, front) = page(&format!("{base}/explorer?format=json")).await;
    assert_eq!(code, 200);
    let front: Value = serde_json::from_str(&front).unwrap();
    assert_eq!(front["status"]["height"], height);
    assert_eq!(front["blocks"][0]["height"], height);
    assert_eq!(front["markets"]["energy"], serde_json::json!([0]));

    // A block with its transfer's receipt and event; one with a failure and its reason.
    let (code, html) = page(&format!("{base}/explorer/block/1")).await;
    assert_eq!(code, 200);
    assert!(
        html.contains(&format!("/explorer/tx/{}", sent.tx_hash)),
        "{html}"
    );
    assert!(
        html.contains("bank.Transfer") && html.contains("success"),
        "{html}"
    );
    let (_, twin) = json(&format!("{base}/explorer/block/1")).await;
    assert_eq!(twin["receipts"][0]["tx_hash"], sent.tx_hash.to_string());
    let (_, html) = page(&format!("{base}/explorer/block/2")).await;
    let reason = failed.reason.clone().unwrap();
    assert!(html.contains(&format!("failed: {reason}")), "{html}");

    let (code, html) = page(&format!("{base}/explorer/tx/{}", sent.tx_hash)).await;
    assert_eq!(code, 200);
    assert!(
        html.contains(&format!("/explorer/account/{}", faucet.address())),
        "{html}"
    );
    let (_, twin) = json(&format!("{base}/explorer/tx/{}", failed.tx_hash)).await;
    assert_eq!(twin["reason"], reason);

    let (code, twin) = json(&format!("{base}/explorer/account/{bob}")).await;
    assert_eq!(code, 200);
    assert_eq!(twin["balance"], 1234);
    let (_, html) = page(&format!("{base}/explorer/account/{bob}")).await;
    assert!(html.contains("<td>1234</td>"), "{html}");

    // The market: its plots, the group loads against the limits, and its twin.
    let (code, html) = page(&format!("{base}/explorer/energy/0")).await;
    assert_eq!(code, 200, "{html}");
    assert!(html.matches("<svg").count() >= 4, "{html}");
    assert!(
        html.contains("class=\"limit\"") && html.contains("C_ext = 50 Wh"),
        "{html}"
    );
    let (_, twin) = json(&format!("{base}/explorer/energy/0")).await;
    assert_eq!(twin["open_offer_count"], 2);
    assert_eq!(twin["candidate"]["trades"], 1);
    assert_eq!(twin["candidate"]["per_interval"]["10"], 30);
    assert_eq!(twin["group_loads"][0]["net"], serde_json::json!([30]));
    assert_eq!(twin["group_loads"][1]["internal"], serde_json::json!([30]));

    // Search finds a block, a transaction and an account.
    for (q, to) in [
        ("2".to_string(), "/explorer/block/2".to_string()),
        (
            sent.tx_hash.to_string(),
            format!("/explorer/tx/{}", sent.tx_hash),
        ),
        (bob.to_string(), format!("/explorer/account/{bob}")),
    ] {
        let response = reqwest::get(format!("{base}/explorer/search?q={q}"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.url().path(), to);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_explorer_requests_get_clear_pages_in_their_format() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);
    let unknown = TxHash([9; 32]);
    for (path, code, says) in [
        (
            "/explorer/block/abc".to_string(),
            400,
            "is not a block height",
        ),
        ("/explorer/block/99999".into(), 404, "no block 99999"),
        ("/explorer/block/-1".into(), 400, "is not a block height"),
        (
            format!("/explorer/tx/{unknown}"),
            404,
            "no executed transaction",
        ),
        ("/explorer/tx/zz".into(), 400, "is not a transaction hash"),
        ("/explorer/account/0x12".into(), 400, "is not an address"),
        ("/explorer/energy/7".into(), 404, "no energy market 7"),
        (
            "/explorer/search?q=%3Cscript%3E".into(),
            400,
            "neither a block height",
        ),
        ("/explorer/search".into(), 400, "search for a block height"),
        (
            format!("/explorer/search?q={}", "9".repeat(5000)),
            414,
            "query string has",
        ),
    ] {
        let (status, html) = page(&format!("{base}{path}")).await;
        assert_eq!(status, code, "{path}: {html}");
        assert!(html.contains(says), "{path}: {html}");
        assert!(html.contains("<!DOCTYPE html>"), "{path}: {html}");
        assert!(!html.contains("<script>"), "{path}: {html}");
        let (status, twin) = json(&format!("{base}{path}")).await;
        assert_eq!(status, code, "{path}: {twin}");
        assert!(
            twin["error"].as_str().unwrap().contains(says),
            "{path}: {twin}"
        );
    }
    // The node still answers.
    assert_eq!(page(&format!("{base}/health")).await.0, 200);
}
