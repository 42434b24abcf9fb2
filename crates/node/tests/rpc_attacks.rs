//! Hostile clients against the real JSON-RPC server ([`agora_node::rpc::serve`]) over TCP:
//! oversized batches and bodies, floods of calls, and a subscriber that stops reading.

mod common;

use agora_client::{Client, Status, RATE_LIMITED};
use agora_ledger::AppliedBlock;
use agora_node::{limits::RpcLimits, rpc::BEHIND};
use agora_types::{BlockRecord, Keypair, TxHash, TxSummary};
use common::*;
use jsonrpsee::{
    core::{client::ClientT, params::BatchRequestBuilder},
    http_client::HttpClientBuilder,
    rpc_params,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn batch(calls: usize) -> BatchRequestBuilder<'static> {
    let mut batch = BatchRequestBuilder::new();
    for _ in 0..calls {
        batch.insert("agora_status", rpc_params![]).unwrap();
    }
    batch
}

/// Posts `body` over plain HTTP and returns the whole response.
async fn post(addr: SocketAddr, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_and_bodies_over_their_caps_are_refused() {
    let limits = RpcLimits {
        max_request_bytes: 8 * 1024,
        ..RpcLimits::default()
    };
    let node = served(limits).await;
    let http = HttpClientBuilder::default()
        .build(format!("http://{}", node.addr))
        .unwrap();
    let answers = http
        .batch_request::<Status>(batch(limits.max_batch as usize))
        .await
        .unwrap();
    assert_eq!(answers.num_successful_calls(), limits.max_batch as usize);
    // The refusal is one error object, which a batch client cannot parse: read it raw.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"agora_status","params":[]}"#;
    let calls = vec![call; limits.max_batch as usize + 1].join(",");
    let refused = post(node.addr, &format!("[{calls}]")).await;
    assert!(refused.contains("batch request was too large"), "{refused}");

    let client = Client::new(&format!("http://{}", node.addr)).unwrap();
    let big = client.submit_hex("00".repeat(8 * 1024)).await.unwrap_err();
    assert!(big.to_string().contains("413"), "{big}");
    // Within the cap, the same kind of request gets the usual answer.
    let small = client.submit_hex("00".repeat(16)).await.unwrap_err();
    assert!(small.to_string().contains("malformed"), "{small}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_over_their_rate_get_a_clear_error() {
    let limits = RpcLimits {
        burst: 5,
        requests_per_minute: 1,
        limit_loopback: true,
        ..RpcLimits::default()
    };
    let node = served(limits).await;
    let client = Client::new(&format!("http://{}", node.addr)).unwrap();
    for _ in 0..limits.burst {
        client.status().await.unwrap();
    }
    let refused = client.status().await.unwrap_err();
    assert!(
        refused.to_string().contains("rate limit exceeded"),
        "{refused}"
    );
    assert!(matches!(
        refused,
        agora_client::ClientError::Rpc {
            source: jsonrpsee::core::client::Error::Call(ref e),
            ..
        } if e.code() == RATE_LIMITED
    ));
    // Every call of a batch counts.
    let http = HttpClientBuilder::default()
        .build(format!("http://{}", node.addr))
        .unwrap();
    let answers = http.batch_request::<Status>(batch(3)).await.unwrap();
    assert_eq!(answers.num_failed_calls(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_clients_are_not_limited_by_default() {
    let limits = RpcLimits {
        burst: 5,
        requests_per_minute: 1,
        ..RpcLimits::default()
    };
    let node = served(limits).await;
    let client = Client::new(&format!("http://{}", node.addr)).unwrap();
    for _ in 0..3 * limits.burst {
        client.status().await.unwrap();
    }
}

/// A block as large as a full one's record: many transaction summaries.
fn big_block(height: u64) -> Arc<AppliedBlock> {
    let summary = TxSummary {
        hash: TxHash([7; 32]),
        sender: Keypair::from_seed(2).address(),
        nonce: 0,
        module: "bank".into(),
    };
    Arc::new(AppliedBlock {
        record: BlockRecord {
            height,
            digest: String::new(),
            parent: String::new(),
            timestamp: height,
            proposer: String::new(),
            txs: vec![summary; 4_000],
            state_root: String::new(),
        },
        receipts: Vec::new(),
    })
}

/// Opens a WebSocket, subscribes to blocks and then reads nothing.
async fn stalled_subscriber(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let request = br#"{"jsonrpc":"2.0","id":1,"method":"agora_subscribeBlocks","params":[]}"#;
    // A final text frame, masked with zeros as clients must mask.
    let mut frame = vec![0x81, 0x80 | request.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(request);
    stream.write_all(&frame).await.unwrap();
    stream
}

/// A subscriber that stops reading used to keep its task waiting and the node's channel
/// holding up to 4,096 blocks for it; now it is dropped once its connection's small buffer
/// is full, with an error notification saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_subscriber_is_dropped_with_a_reason() {
    let limits = RpcLimits {
        subscriber_buffer: 4,
        ..RpcLimits::default()
    };
    let node = served(limits).await;
    let mut stream = stalled_subscriber(node.addr).await;
    while node.applied.receiver_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Socket buffers take a few of these 1 MB notifications, the connection's buffer 4 more.
    let mut sent = 0;
    while node.applied.receiver_count() > 0 {
        assert!(
            sent < 200,
            "the node kept queueing blocks for a subscriber that reads nothing"
        );
        sent += 1;
        node.applied.send(big_block(sent)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What the subscriber finds once it reads again: the blocks buffered, then the reason.
    let mut seen = Vec::new();
    let mut chunk = vec![0; 1 << 16];
    let needle = BEHIND.as_bytes();
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk))
            .await
            .expect("no close notification")
            .unwrap();
        assert!(n > 0, "connection closed without saying why");
        // Keep only a tail that may hold the start of the reason.
        let keep = seen.len().saturating_sub(needle.len());
        seen.drain(..keep);
        seen.extend_from_slice(&chunk[..n]);
    }
}
