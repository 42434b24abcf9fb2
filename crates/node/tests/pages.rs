//! The plain-HTTP pages on the RPC port (`/health`, `/ready`, `/metrics`) through the real
//! server over TCP, beside JSON-RPC on the same port.

mod common;

use agora_client::Client;
use agora_node::limits::RpcLimits;
use agora_types::Keypair;
use common::*;
use std::{sync::atomic::Ordering, time::Duration};

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The value of the sample `name` (with its labels, if any) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_and_metrics_answer_beside_json_rpc() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);
    let client = Client::new(&base).unwrap();

    assert_eq!(get(&format!("{base}/health")).await, (200, "ok".into()));
    let (code, body) = get(&format!("{base}/ready")).await;
    assert_eq!(code, 200, "{body}");
    assert!(client.status().await.unwrap().caught_up);

    // Consensus finalized height 3, which this node has not executed yet.
    node.state.tip.store(3, Ordering::Relaxed);
    let (code, body) = get(&format!("{base}/ready")).await;
    assert_eq!(code, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["caught_up"], false);
    assert_eq!(ready["finalized_height"], 3);
    let status = client.status().await.unwrap();
    assert!(!status.caught_up);
    assert_eq!((status.height, status.finalized_height), (0, 3));

    let (_, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(sample(&metrics, "agora_finalized_height"), Some(3.0));
    assert_eq!(sample(&metrics, "agora_executed_height"), Some(0.0));
    assert_eq!(sample(&metrics, "agora_caught_up"), Some(0.0));

    // The node executes blocks 1 to 3, one with a transfer and one with a failing one.
    let key = Keypair::from_seed(1);
    let exec = &node.state.executor;
    for (height, txs) in [
        (1, vec![transfer(&key, 0, 5)]),
        (2, vec![transfer(&key, 1, u64::MAX)]),
        (3, vec![]),
    ] {
        let applied = exec.apply_block(&block(height, txs)).unwrap().unwrap();
        node.state
            .metrics
            .on_block(&applied, Duration::from_millis(2));
    }
    let (code, body) = get(&format!("{base}/ready")).await;
    assert_eq!(code, 200, "{body}");
    assert!(client.status().await.unwrap().caught_up);

    node.state.mempool.submit(transfer(&key, 2, 1)).unwrap();
    let (code, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 200);
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    assert_eq!(sample(&metrics, "agora_executed_height"), Some(3.0));
    assert_eq!(sample(&metrics, "agora_caught_up"), Some(1.0));
    assert_eq!(sample(&metrics, "agora_mempool_txs"), Some(1.0));
    assert!(sample(&metrics, "agora_mempool_bytes").unwrap() > 100.0);
    assert_eq!(sample(&metrics, "agora_blocks_executed_total"), Some(3.0));
    assert_eq!(
        sample(&metrics, "agora_block_execution_seconds_count"),
        Some(3.0)
    );
    assert_eq!(
        sample(&metrics, r#"agora_module_calls_total{module="bank"}"#),
        Some(2.0)
    );
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("agora_module_failures_total{"))
        .unwrap_or_else(|| panic!("no failure counted: {metrics}"));
    assert!(failures.contains(r#"module="bank""#), "{failures}");
    assert!(failures.ends_with(" 1"), "{failures}");
    // The RPC calls above, counted by method; an unknown method is `other`, and an error.
    assert!(
        sample(
            &metrics,
            r#"agora_rpc_requests_total{method="agora_status"}"#
        )
        .unwrap()
            >= 3.0
    );
    let unknown = reqwest::Client::new()
        .post(&base)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"agora_nope","params":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 200);
    let (_, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(
        sample(&metrics, r#"agora_rpc_requests_total{method="other"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, r#"agora_rpc_errors_total{method="other"}"#),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_page_requests_get_clear_answers() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);

    let (code, body) = get(&format!("{base}/nope/../%ff")).await;
    assert_eq!(code, 404);
    assert!(body.contains("no such page"), "{body}");

    // A query string of 1 MB: refused before any page runs, and the node still answers.
    let huge = format!("{base}/metrics?q={}", "a".repeat(1 << 20));
    let response = reqwest::get(&huge).await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    assert_eq!(get(&format!("{base}/health")).await.0, 200);
    let client = Client::new(&base).unwrap();
    client.status().await.unwrap();
}

/// A client that sends half a request and then nothing (slowloris) holds its connection for
/// at most jsonrpsee's first-request timeout (30 s); the pages share the RPC's connections.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_request_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = served(RpcLimits::default()).await;
    let mut stream = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    stream
        .write_all(b"GET /explorer HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // Far beyond the node's timeout: this bounds a hang, it does not measure the node.
    let closed = tokio::time::timeout(Duration::from_secs(300), stream.read_to_end(&mut rest))
        .await
        .expect("the node kept a half-sent request open");
    assert!(closed.is_err() || rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"));
    assert_eq!(get(&format!("http://{}/health", node.addr)).await.0, 200);
}

/// Pages are not a way around the RPC's rate limit: each takes a token from its client's
/// bucket, and a client over its rate gets 429 until its bucket refills.
#[tokio::test(flavor = "multi_thread")]
async fn pages_count_against_the_clients_rate() {
    let limits = RpcLimits {
        burst: 3,
        requests_per_minute: 1,
        limit_loopback: true,
        ..RpcLimits::default()
    };
    let node = served(limits).await;
    let base = format!("http://{}", node.addr);
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(get(&format!("{base}/explorer")).await.0);
    }
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    let (code, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 429);
    assert!(body.contains("rate limit exceeded"), "{body}");
}
