//! The explorer through HTTP against the real server: pages and their JSON twins for the chain,
//! blocks, transactions, accounts and an energy market with a candidate solution; search; and
//! clear answers to bad input.

mod common;

use agora_energy::{DsoPrice, EnergyCall, MarketParams, Side, Trade};
use agora_ledger::Executor;
use agora_node::limits::RpcLimits;
use agora_types::{Call, Keypair, Receipt, TxHash, TxStatus};
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Executes one block per call, as consensus would finalize them.
struct Blocks<'a> {
    exec: &'a Executor,
    height: u64,
    nonces: BTreeMap<agora_types::Address, u64>,
}

impl Blocks<'_> {
    fn run(&mut self, key: &Keypair, call: Call) -> Receipt {
        let nonce = self.nonces.entry(key.address()).or_default();
        let tx = sign(key, *nonce, call);
        *nonce += 1;
        self.height += 1;
        let applied = self
            .exec
            .apply_block(&block(self.height, vec![tx]))
            .unwrap()
            .unwrap();
        applied.receipts.into_iter().next().unwrap()
    }

    fn ok(&mut self, key: &Keypair, call: EnergyCall) -> Receipt {
        let r = self.run(key, call.into_call());
        assert_eq!(r.status, TxStatus::Success, "{:?}", r.message);
        r
    }
}

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

/// A market of two feeders (groups 0 and 1, C_int 100, C_ext 50), a seller on the first and a
/// buyer on the second, their offers for interval 10 and a candidate trading 30 Wh.
fn energy_market(blocks: &mut Blocks<'_>, dso: &Keypair, seller: &Keypair, buyer: &Keypair) {
    blocks.ok(
        dso,
        EnergyCall::CreateMarket(MarketParams {
            interval_ms: 1_000,
            start_ms: 1_000_000,
            t_clear: 1,
            prices: vec![DsoPrice { buy: 30, sell: 5 }],
        }),
    );
    for feeder in [1, 2] {
        blocks.ok(
            dso,
            EnergyCall::DefineGroup {
                market: 0,
                feeders: vec![feeder],
                c_int: 100,
                c_ext: 50,
            },
        );
    }
    for (i, (p, side)) in [(seller, Side::Sell), (buyer, Side::Buy)]
        .into_iter()
        .enumerate()
    {
        let meter = Keypair::from_seed(100 + i as u64).address();
        blocks.ok(
            dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: p.address(),
                feeder: i as u32 + 1,
                l_prod: 100,
                l_cons: 100,
            },
        );
        blocks.ok(p, EnergyCall::RegisterProsumer { market: 0, meter });
        blocks.ok(
            p,
            EnergyCall::WithdrawAssets {
                market: 0,
                side,
                group: i as u32,
                energy: 40,
                first: 10,
                last: 20,
            },
        );
        blocks.ok(
            p,
            EnergyCall::PostOffer {
                market: 0,
                side,
                group: i as u32,
                energy: 30,
                intervals: vec![10],
                price: if side == Side::Sell { 10 } else { 20 },
            },
        );
    }
    let trade = Trade {
        sell: 0,
        buy: 1,
        interval: 10,
        energy: 30,
        price: 15,
    };
    blocks.ok(
        dso,
        EnergyCall::PostSolution {
            market: 0,
            trades: vec![trade],
        },
    );
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
    let mut blocks = Blocks {
        exec: &node.state.executor,
        height: 0,
        nonces: BTreeMap::new(),
    };
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
    assert_eq!(front["energy_markets"], serde_json::json!([0]));

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
