//! A node never serves a frozen or foreign state: a lost state store is rebuilt from the block
//! archive, and a state that disagrees with the chain stops the process with an error.

mod common;

use agora_bank::BankCall;
use agora_types::Keypair;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_state_store_is_rebuilt_from_the_block_archive() {
    let SingleNode {
        dir: _dir,
        home,
        port,
        mut node,
        client,
    } = single_node().await;
    let to = Keypair::from_seed(61).address();
    let tx = client
        .send(
            &faucet(&home),
            BankCall::Transfer { to, amount: 7 }.into_call(),
        )
        .await
        .unwrap();
    let receipt = client
        .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
        .await
        .unwrap();
    let before = client.status().await.unwrap();
    assert!(node.terminate().success());

    std::fs::remove_file(home.join("state.redb")).unwrap();
    let _node = spawn_node(&home, port);
    wait_height(&client, before.height + 1, Duration::from_secs(90)).await;
    assert_eq!(client.receipt(&tx.hash()).await.unwrap(), Some(receipt));
    assert_eq!(client.balance(&to).await.unwrap(), 7);
    let block = client.block(before.height).await.unwrap().unwrap();
    assert_eq!(block.state_root, before.state_root);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_from_another_genesis_halts_the_node_with_an_error() {
    let first = single_node().await;
    wait_height(&first.client, 3, Duration::from_secs(60)).await;
    let mut node = first.node;
    assert!(node.terminate().success());
    // Another chain with the same chain id but its own genesis (another faucet).
    let mut second = single_node().await;
    assert!(second.node.terminate().success());
    std::fs::copy(
        second.home.join("state.redb"),
        first.home.join("state.redb"),
    )
    .unwrap();

    let mut node = spawn_node(&first.home, first.port);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the node kept running on a foreign state"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(first.home.with_extension("log")).unwrap();
    assert!(log.contains("the state diverged"), "{log}");
}
