//! The JSON-RPC interface of an Agora node ([`AgoraApiServer`] for nodes) and a typed client
//! ([`Client`]) that the CLI, agents and tests use.
//!
//! Methods (namespace `agora`, HTTP and WebSocket on the same port):
//!
//! | method | params | result |
//! | --- | --- | --- |
//! | `agora_submitTransaction` | hex of a signed transaction's canonical encoding | its hash |
//! | `agora_getReceipt` | transaction hash | [`Receipt`] or `null` |
//! | `agora_getBlock` | height | [`BlockRecord`] or `null` |
//! | `agora_status` | | [`Status`] |
//! | `agora_query` | module, path, params | module-defined JSON |
//! | `agora_operatorQuery` | module, path, params | module-defined JSON (the node's operator only) |
//! | `agora_nextNonce` | address | the nonce the address's next transaction needs |
//! | `agora_subscribeBlocks` | | a [`BlockRecord`] per applied block (WebSocket) |
//! | `agora_subscribeEvents` | module or `null`, event name or `null` | [`EventNotification`]s (WebSocket) |
//!
//! Submission errors carry code [`SUBMIT_REJECTED`] and a message saying what was wrong; a
//! failed query carries [`QUERY_FAILED`] with its reason code as the error's data
//! (`{"reason": "limit_exceeded"}`, [`query_reason`]); a client over its rate gets
//! [`RATE_LIMITED`]. Every query any client may send is bounded in cost: lists come in pages
//! (`after`, `limit` at most `agora_ledger::MAX_PAGE`, the answer's `next`). Queries whose
//! cost grows with the state (the bank's recount) are operator queries, served only to
//! clients on the node's loopback interface and only when its configuration allows
//! (`limits.rpc.operator_queries`); anyone else gets [`OPERATOR_ONLY`]. A subscriber that stops reading is dropped with
//! an error notification saying so (the client's [`Subscribed::next`] then ends).

use agora_types::{
    Address, BlockRecord, Call, Event, Keypair, Receipt, SignedTransaction, Transaction, TxHash,
};
use commonware_codec::Encode;
use jsonrpsee::{
    core::{client::Subscription, RpcResult, SubscriptionResult},
    http_client::{HttpClient, HttpClientBuilder},
    proc_macros::rpc,
    ws_client::{WsClient, WsClientBuilder},
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// JSON-RPC error code of a refused transaction.
pub const SUBMIT_REJECTED: i32 = -32001;
/// JSON-RPC error code of a failed query.
pub const QUERY_FAILED: i32 = -32002;
/// JSON-RPC error code of a node-side failure (storage).
pub const NODE_ERROR: i32 = -32003;
/// JSON-RPC error code of a call refused because its client exceeded its rate.
pub const RATE_LIMITED: i32 = -32005;
/// JSON-RPC error code of an operator query from a client that is not the node's operator.
pub const OPERATOR_ONLY: i32 = -32006;

/// The reason code of a failed query's error (`limit_exceeded`, `not_found`, ...), if any.
pub fn query_reason(error: &ClientError) -> Option<String> {
    let ClientError::Rpc {
        source: jsonrpsee::core::client::Error::Call(e),
        ..
    } = error
    else {
        return None;
    };
    let data: serde_json::Value = serde_json::from_str(e.data()?.get()).ok()?;
    Some(data["reason"].as_str()?.to_string())
}

/// A node's view of its chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub chain_id: String,
    /// Last block this node executed.
    pub height: u64,
    /// Highest finalized block this node knows of (may run ahead of `height` briefly).
    pub finalized_height: u64,
    /// State root after `height`.
    pub state_root: String,
    pub validators: Vec<String>,
    /// Transactions waiting in this node's mempool.
    pub mempool: usize,
    /// Whether this node executed every block it knows is finalized (`height` equals
    /// `finalized_height`); a node that is still replaying blocks after a restart is not, and
    /// its nonces and balances lag. The node's `GET /ready` answers 200 exactly when this holds.
    #[serde(default)]
    pub caught_up: bool,
}

/// An event as delivered to subscribers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventNotification {
    pub height: u64,
    pub tx_hash: TxHash,
    pub event: Event,
}

#[rpc(server, client, namespace = "agora")]
pub trait AgoraApi {
    #[method(name = "submitTransaction")]
    async fn submit_transaction(&self, tx_hex: String) -> RpcResult<TxHash>;

    #[method(name = "getReceipt")]
    async fn get_receipt(&self, hash: TxHash) -> RpcResult<Option<Receipt>>;

    #[method(name = "getBlock")]
    async fn get_block(&self, height: u64) -> RpcResult<Option<BlockRecord>>;

    #[method(name = "status")]
    async fn status(&self) -> RpcResult<Status>;

    #[method(name = "query")]
    async fn query(
        &self,
        module: String,
        path: String,
        params: serde_json::Value,
    ) -> RpcResult<serde_json::Value>;

    /// A query whose cost grows with the state; see the crate docs for who may ask.
    #[method(name = "operatorQuery", with_extensions)]
    async fn operator_query(
        &self,
        module: String,
        path: String,
        params: serde_json::Value,
    ) -> RpcResult<serde_json::Value>;

    #[method(name = "nextNonce")]
    async fn next_nonce(&self, address: Address) -> RpcResult<u64>;

    #[subscription(name = "subscribeBlocks" => "block", unsubscribe = "unsubscribeBlocks", item = BlockRecord)]
    async fn subscribe_blocks(&self) -> SubscriptionResult;

    #[subscription(name = "subscribeEvents" => "event", unsubscribe = "unsubscribeEvents", item = EventNotification)]
    async fn subscribe_events(
        &self,
        module: Option<String>,
        name: Option<String>,
    ) -> SubscriptionResult;
}

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("node at {url}: {source}")]
    Rpc {
        url: String,
        source: jsonrpsee::core::client::Error,
    },
    #[error("no receipt for {hash} after {waited:?}")]
    Timeout { hash: TxHash, waited: Duration },
    #[error("unexpected answer from node: {0}")]
    Unexpected(String),
}

/// A typed client of one node.
#[derive(Clone, Debug)]
pub struct Client {
    url: String,
    http: HttpClient,
}

impl Client {
    /// A client of the node at `url` (`http://host:port`); connects lazily.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_response_size(agora_types::MAX_RPC_RESPONSE_BYTES)
            .build(url)
            .map_err(|source| ClientError::Rpc {
                url: url.to_string(),
                source,
            })?;
        Ok(Self {
            url: url.to_string(),
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn rpc(&self) -> impl FnOnce(jsonrpsee::core::client::Error) -> ClientError + '_ {
        |source| ClientError::Rpc {
            url: self.url.clone(),
            source,
        }
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        AgoraApiClient::status(&self.http).await.map_err(self.rpc())
    }

    pub async fn submit(&self, tx: &SignedTransaction) -> Result<TxHash, ClientError> {
        self.submit_hex(hex::encode(tx.encode())).await
    }

    /// Submits bytes as they are: what a client in another language would send.
    pub async fn submit_hex(&self, tx_hex: String) -> Result<TxHash, ClientError> {
        self.http
            .submit_transaction(tx_hex)
            .await
            .map_err(self.rpc())
    }

    pub async fn receipt(&self, hash: &TxHash) -> Result<Option<Receipt>, ClientError> {
        self.http.get_receipt(*hash).await.map_err(self.rpc())
    }

    /// Polls until the transaction has a receipt (it was finalized and executed).
    pub async fn wait_for_receipt(
        &self,
        hash: &TxHash,
        timeout: Duration,
    ) -> Result<Receipt, ClientError> {
        let start = std::time::Instant::now();
        loop {
            if let Some(receipt) = self.receipt(hash).await? {
                return Ok(receipt);
            }
            if start.elapsed() > timeout {
                return Err(ClientError::Timeout {
                    hash: *hash,
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn block(&self, height: u64) -> Result<Option<BlockRecord>, ClientError> {
        self.http.get_block(height).await.map_err(self.rpc())
    }

    pub async fn query(
        &self,
        module: &str,
        path: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        AgoraApiClient::query(&self.http, module.into(), path.into(), params)
            .await
            .map_err(self.rpc())
    }

    /// Every entry of a paged list query (its answers' `field`), following `next` page by
    /// page: each request bounded, the whole list read. `params` must be an object.
    pub async fn query_all(
        &self,
        module: &str,
        path: &str,
        mut params: serde_json::Value,
        field: &str,
    ) -> Result<Vec<serde_json::Value>, ClientError> {
        let mut all = Vec::new();
        loop {
            let mut page = self.query(module, path, params.clone()).await?;
            match page[field].take() {
                serde_json::Value::Array(items) => all.extend(items),
                other => {
                    return Err(ClientError::Unexpected(format!(
                        "{module} {path}: {field} is {other}"
                    )))
                }
            }
            match page["next"].take() {
                serde_json::Value::Null => return Ok(all),
                next => params["after"] = next,
            }
        }
    }

    /// An operator query (the bank's `conservation` recount): only on the node's own host.
    pub async fn operator_query(
        &self,
        module: &str,
        path: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        AgoraApiClient::operator_query(&self.http, module.into(), path.into(), params)
            .await
            .map_err(self.rpc())
    }

    pub async fn balance(&self, address: &Address) -> Result<u64, ClientError> {
        let answer = self
            .query("bank", "balance", serde_json::json!({ "address": address }))
            .await?;
        answer["balance"]
            .as_u64()
            .ok_or_else(|| ClientError::Unexpected(format!("balance answer {answer}")))
    }

    pub async fn next_nonce(&self, address: &Address) -> Result<u64, ClientError> {
        self.http.next_nonce(*address).await.map_err(self.rpc())
    }

    /// Signs `call` with the next nonce of `key` and submits it.
    pub async fn send(&self, key: &Keypair, call: Call) -> Result<SignedTransaction, ClientError> {
        let chain_id = self.status().await?.chain_id;
        let nonce = self.next_nonce(&key.address()).await?;
        let tx = Transaction {
            chain_id,
            sender: key.address(),
            nonce,
            call,
        }
        .sign(key);
        self.submit(&tx).await?;
        Ok(tx)
    }

    fn ws_url(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.url.clone()
        }
    }

    async fn ws(&self) -> Result<jsonrpsee::ws_client::WsClient, ClientError> {
        WsClientBuilder::default()
            .max_buffer_capacity_per_subscription(65_536)
            .build(self.ws_url())
            .await
            .map_err(self.rpc())
    }

    /// Every block this node applies from now on.
    pub async fn subscribe_blocks(&self) -> Result<Subscribed<BlockRecord>, ClientError> {
        let ws = self.ws().await?;
        let inner = ws.subscribe_blocks().await.map_err(self.rpc())?;
        Ok(Subscribed { _ws: ws, inner })
    }

    /// Events of `module` (any if `None`) named `name` (any if `None`) from now on.
    pub async fn subscribe_events(
        &self,
        module: Option<&str>,
        name: Option<&str>,
    ) -> Result<Subscribed<EventNotification>, ClientError> {
        let ws = self.ws().await?;
        let inner = ws
            .subscribe_events(module.map(String::from), name.map(String::from))
            .await
            .map_err(self.rpc())?;
        Ok(Subscribed { _ws: ws, inner })
    }
}

/// A live subscription; it owns its WebSocket connection, which closes when this is dropped.
pub struct Subscribed<T> {
    _ws: WsClient,
    inner: Subscription<T>,
}

impl<T: serde::de::DeserializeOwned> Subscribed<T> {
    /// The next item; `None` once the node closed the subscription (for example because this
    /// subscriber fell too far behind).
    pub async fn next(&mut self) -> Option<Result<T, ClientError>> {
        self.inner
            .next()
            .await
            .map(|item| item.map_err(|e| ClientError::Unexpected(e.to_string())))
    }
}
