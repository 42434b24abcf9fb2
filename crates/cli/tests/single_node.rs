//! One validator, driven through the CLI and the RPC client as a user would.

mod common;

use agora_bank::BankCall;
use agora_energy::{solution::MAX_TRADES_PER_CALL, EnergyCall, Trade};
use agora_types::{
    Call, FeeSchedule, Keypair, SignedTransaction, Transaction, TxStatus, MAX_TX_BYTES,
};
use common::*;
use commonware_codec::Encode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn transfer_is_finalized_and_visible_everywhere() {
    let SingleNode {
        dir,
        home,
        port,
        node: _node,
        client,
    } = single_node().await;
    let rpc = url(port);

    let bob_key = dir.path().join("bob.key");
    let bob = agora_json(&["keys", "new", "--out", bob_key.to_str().unwrap()]);
    let bob = bob["address"].as_str().unwrap().to_string();
    // A key file is never overwritten.
    assert!(
        !agora_output(&["keys", "new", "--out", bob_key.to_str().unwrap()])
            .status
            .success()
    );

    let faucet = home.join("faucet.key");
    let receipt = agora_json(&[
        "--rpc",
        &rpc,
        "tx",
        "transfer",
        "--key",
        faucet.to_str().unwrap(),
        "--to",
        &bob,
        "--amount",
        "1234",
        "--wait",
    ]);
    assert_eq!(receipt["status"], "success");
    assert_eq!(receipt["events"][0]["name"], "Transfer");
    let balance = agora_json(&["--rpc", &rpc, "query", "balance", &bob]);
    assert_eq!(balance["balance"], 1234);

    let status = agora_json(&["--rpc", &rpc, "status"]);
    let height = status["height"].as_u64().unwrap();
    assert!(height >= receipt["height"].as_u64().unwrap());
    assert!(status["finalized_height"].as_u64().unwrap() >= height);
    assert_eq!(status["state_root"].as_str().unwrap().len(), 64);

    // The receipt and the block are served by the RPC too.
    let hash = receipt["tx_hash"].as_str().unwrap().parse().unwrap();
    let by_rpc = client.receipt(&hash).await.unwrap().unwrap();
    assert_eq!(by_rpc.status, TxStatus::Success);
    let block = client.block(by_rpc.height).await.unwrap().unwrap();
    assert!(block.txs.iter().any(|t| t.hash == hash));

    // A failing transfer gets a failed receipt with a reason, and the CLI says so.
    let out = agora_output(&[
        "--rpc",
        &rpc,
        "tx",
        "transfer",
        "--key",
        bob_key.to_str().unwrap(),
        "--to",
        &bob,
        "--amount",
        "99999",
        "--wait",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("insufficient_funds"));
    // The failed transfer still paid its admission fee, and only that.
    let left = agora_json(&["--rpc", &rpc, "query", "balance", &bob])["balance"]
        .as_u64()
        .unwrap();
    let fee = 1234 - left;
    assert!(
        fee >= FeeSchedule::default().per_call && fee < 1234,
        "fee {fee}"
    );
}

/// A funded hostile key floods well-formed, nearly-1 MiB transactions that wait for a nonce
/// it never sends (the pool used to take them all); an unfunded key and a call to no module
/// are refused at the door; an honest transfer is still finalized.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_flood_does_not_stop_an_honest_transfer() {
    let SingleNode {
        dir: _dir,
        home,
        node: _node,
        client,
        ..
    } = single_node().await;
    let faucet = faucet(&home);
    let chain_id = client.status().await.unwrap().chain_id;
    let hostile = Keypair::from_seed(77);
    let funding = BankCall::Transfer {
        to: hostile.address(),
        amount: 1_000_000_000_000,
    };
    let funded = client.send(&faucet, funding.into_call()).await.unwrap();
    client
        .wait_for_receipt(&funded.hash(), Duration::from_secs(30))
        .await
        .unwrap();
    let trade = Trade {
        sell: 0,
        buy: 1,
        interval: 0,
        energy: 1,
        price: 1,
    };
    let part = |nonce| {
        let call = EnergyCall::StageSolution {
            market: 0,
            part: 0,
            trades: vec![trade.clone(); MAX_TRADES_PER_CALL],
        };
        Transaction {
            chain_id: chain_id.clone(),
            sender: hostile.address(),
            nonce,
            call: call.into_call(),
        }
        .sign(&hostile)
    };
    let mut refused = Vec::new();
    for nonce in 1..=20 {
        if let Err(e) = client.submit(&part(nonce)).await {
            refused.push(e.to_string());
        }
    }
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(refused.iter().all(|e| e.contains("waits for nonce 0")));

    let stranger = Keypair::from_seed(78);
    let transfer = |amount| BankCall::Transfer {
        to: stranger.address(),
        amount,
    };
    let unfunded = client.send(&stranger, transfer(1).into_call()).await;
    assert!(unfunded
        .unwrap_err()
        .to_string()
        .contains("insufficient balance for the fee"));
    let nowhere = Call {
        module: "nosuch".into(),
        payload: vec![0].into(),
    };
    let unknown = client.send(&faucet, nowhere).await.unwrap_err();
    assert!(unknown.to_string().contains("no module named"), "{unknown}");

    let honest = client.send(&faucet, transfer(5).into_call()).await.unwrap();
    let receipt = client
        .wait_for_receipt(&honest.hash(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(receipt.status, TxStatus::Success);
    assert!(receipt.fee > 0);
    assert_eq!(client.balance(&stranger.address()).await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_submissions_are_refused_with_clear_errors() {
    let SingleNode {
        dir: _dir,
        home,
        node: _node,
        client,
        ..
    } = single_node().await;
    let faucet = faucet(&home);
    let chain_id = client.status().await.unwrap().chain_id;
    let to = Keypair::from_seed(9).address();
    let transfer = |chain: &str, nonce: u64| Transaction {
        chain_id: chain.into(),
        sender: faucet.address(),
        nonce,
        call: BankCall::Transfer { to, amount: 5 }.into_call(),
    };
    let refused = |r: Result<_, agora_client::ClientError>| r.unwrap_err().to_string();

    assert!(refused(client.submit_hex("zz".into()).await).contains("not hex"));
    assert!(refused(client.submit_hex("00ff".into()).await).contains("malformed"));
    let wrong_chain = transfer("other-chain", 0).sign(&faucet);
    assert!(refused(client.submit(&wrong_chain).await).contains("is for chain"));
    let forged = SignedTransaction::new(
        transfer(&chain_id, 0),
        Keypair::from_seed(3).sign(agora_types::TX_NAMESPACE, b"x"),
    );
    assert!(refused(client.submit(&forged).await).contains("bad signature"));
    let mut tampered = transfer(&chain_id, 0).sign(&faucet).encode().to_vec();
    let last = tampered.len() - 70;
    tampered[last] ^= 0xff;
    assert!(refused(client.submit_hex(hex::encode(&tampered)).await).contains("bad signature"));
    let huge = Transaction {
        call: Call {
            module: "bank".into(),
            payload: vec![0u8; MAX_TX_BYTES].into(),
        },
        ..transfer(&chain_id, 0)
    }
    .sign(&faucet);
    assert!(refused(client.submit(&huge).await).contains("bytes"));

    let good = transfer(&chain_id, 0).sign(&faucet);
    client.submit(&good).await.unwrap();
    assert!(refused(client.submit(&good).await).contains("already"));
    client
        .wait_for_receipt(&good.hash(), Duration::from_secs(30))
        .await
        .unwrap();
    // A replay of an executed transaction.
    assert!(refused(client.submit(&good).await).contains("already executed"));
    assert!(refused(
        client
            .submit(&transfer(&chain_id, 1_000_000).sign(&faucet))
            .await
    )
    .contains("too far ahead"));
    assert_eq!(client.balance(&to).await.unwrap(), 5);
    // The node is unharmed.
    let status = client.status().await.unwrap();
    wait_height(&client, status.height + 2, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_deliver_blocks_and_filtered_events() {
    let SingleNode {
        dir: _dir,
        home,
        node: _node,
        client,
        ..
    } = single_node().await;
    let faucet = faucet(&home);

    let mut blocks = client.subscribe_blocks().await.unwrap();
    let mut transfers = client
        .subscribe_events(Some("bank"), Some("Transfer"))
        .await
        .unwrap();
    let mut other = client
        .subscribe_events(Some("bank"), Some("Held"))
        .await
        .unwrap();

    let to = Keypair::from_seed(11).address();
    let tx = client
        .send(&faucet, BankCall::Transfer { to, amount: 77 }.into_call())
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), transfers.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.tx_hash, tx.hash());
    assert_eq!(event.event.data["amount"], 77);
    let block = tokio::time::timeout(Duration::from_secs(30), blocks.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(block.height >= 1);
    // The filter holds back events of other names.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), other.next())
            .await
            .is_err()
    );
}

#[test]
fn cli_reports_unreachable_nodes_and_bad_input() {
    let out = agora_output(&["--rpc", "http://127.0.0.1:9", "status"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
    let out = agora_output(&["query", "balance", "not-an-address"]);
    assert!(!out.status.success());
}
