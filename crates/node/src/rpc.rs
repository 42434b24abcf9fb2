//! The node's JSON-RPC server: [`agora_client::AgoraApiServer`] over the executor and mempool,
//! served by [`serve`] within [`RpcLimits`]: request size, batch size, connections, a rate per
//! client IP, and a bounded buffer per WebSocket subscriber.

use crate::mempool::{Mempool, SubmitError};
use crate::{
    http::{is_page, PAGE_TIMEOUT},
    limits::RpcLimits,
    metrics::{Counted, NodeMetrics},
    queries::QueryGate,
    ratelimit::{ClientIp, ClientLimiter, RateLimited},
};
use agora_client::{AgoraApiServer, EventNotification, Status, NODE_ERROR, SUBMIT_REJECTED};
use agora_ledger::{AppliedBlock, Executor, ExecutorError};
use agora_types::{Address, BlockRecord, Receipt, SignedTransaction, TxError, TxHash};
use hyper::body::Incoming;
use jsonrpsee::{
    core::{async_trait, server::TrySendError, RpcResult, SubscriptionResult},
    server::{
        middleware::rpc::RpcServiceBuilder, serve_with_graceful_shutdown, stop_channel,
        BatchRequestConfig, HttpBody, HttpResponse, Server, ServerConfig, ServerHandle,
    },
    types::ErrorObjectOwned,
    Extensions, Methods, PendingSubscriptionSink, SubscriptionMessage,
};
use serde::Serialize;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{net::TcpListener, sync::broadcast};
use tower::{Service, ServiceExt};
use tracing::warn;

/// Everything the RPC reads; shared with the consensus side.
#[derive(Clone)]
pub struct RpcState {
    pub executor: Arc<Executor>,
    pub mempool: Mempool,
    pub applied: broadcast::Sender<Arc<AppliedBlock>>,
    pub tip: Arc<AtomicU64>,
    pub validators: Vec<String>,
    pub metrics: Arc<NodeMetrics>,
    /// Where module queries run, and who may make operator queries.
    pub queries: QueryGate,
}

fn error(code: i32, e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

fn node_error(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(NODE_ERROR, e)
}

fn json_message(value: &impl Serialize) -> Option<SubscriptionMessage> {
    serde_json::value::to_raw_value(value)
        .ok()
        .map(SubscriptionMessage::from)
}

impl RpcState {
    /// The node's view of its chain, for `agora_status` and the pages.
    pub fn chain_status(&self) -> Result<Status, ExecutorError> {
        let height = self.executor.last_applied_height()?.unwrap_or(0);
        let finalized_height = self.tip.load(Ordering::Relaxed).max(height);
        Ok(Status {
            chain_id: self.executor.chain_id().to_string(),
            height,
            finalized_height,
            state_root: self.executor.state_root(),
            validators: self.validators.clone(),
            mempool: self.mempool.len(),
            caught_up: height == finalized_height,
        })
    }

    /// Forwards what `pick` makes of each applied block until the subscriber leaves. A
    /// subscriber that does not read fills its connection's bounded buffer; it is then
    /// dropped with an error notification rather than have the node queue blocks for it.
    async fn forward<T: Serialize + Send + 'static>(
        &self,
        pending: PendingSubscriptionSink,
        pick: impl Fn(&AppliedBlock) -> Vec<T> + Send + 'static,
    ) -> SubscriptionResult {
        let mut rx = self.applied.subscribe();
        let mut sink = pending.accept().await?;
        loop {
            let applied = tokio::select! {
                _ = sink.closed() => return Ok(()),
                next = rx.recv() => match next {
                    Ok(applied) => applied,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(missed, "a subscriber fell behind; closing its subscription");
                        return Err(format!("{BEHIND}: {missed} blocks missed").into());
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            };
            for item in pick(&applied) {
                let Some(message) = json_message(&item) else {
                    continue;
                };
                match sink.try_send(message) {
                    Ok(()) => {}
                    Err(TrySendError::Closed(_)) => return Ok(()),
                    Err(TrySendError::Full(_)) => {
                        let unread = sink.max_capacity();
                        warn!(
                            unread,
                            "a subscriber stopped reading; closing its subscription"
                        );
                        return Err(format!("{BEHIND}: {unread} notifications unread").into());
                    }
                }
            }
        }
    }
}

/// The start of the error notification that closes a subscription whose subscriber fell
/// behind.
pub const BEHIND: &str = "subscriber fell behind, subscription closed";

/// Serves `state` on `addr` within `limits` until the returned handle is stopped; returns the
/// bound address too (`addr` may ask for any port). Each connection's client IP goes into
/// its requests' extensions for the rate limiter ([`crate::ratelimit`]). Page requests (GET
/// without a WebSocket upgrade) go to [`crate::http::router`] instead of jsonrpsee.
pub async fn serve(
    addr: SocketAddr,
    state: RpcState,
    limits: &RpcLimits,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    let pages = crate::http::router(state.clone());
    let metrics = state.metrics.clone();
    let methods: Methods = state.into_rpc().into();
    let known = Arc::new(methods.method_names().map(str::to_string).collect());
    let limiter = Arc::new(ClientLimiter::new(limits));
    let max_response_bytes = limits.max_response_bytes as usize;
    let page_limiter = limiter.clone();
    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(limits.max_response_bytes)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch))
        .set_message_buffer_capacity(limits.subscriber_buffer)
        .max_subscriptions_per_connection(limits.max_subscriptions_per_connection)
        .max_connections(limits.max_connections)
        .build();
    let services = Server::builder()
        .set_config(config)
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer_fn(move |service| Counted {
                    service,
                    metrics: metrics.clone(),
                    known: Arc::clone(&known),
                    max_response_bytes,
                })
                .layer_fn(move |service| RateLimited {
                    service,
                    limiter: limiter.clone(),
                }),
        )
        .to_service_builder();
    tokio::spawn(async move {
        loop {
            let (socket, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, most likely: let connections close.
                        warn!(%e, "cannot accept an RPC connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.clone().shutdown() => break,
            };
            let (services, methods, conn_stop) = (services.clone(), methods.clone(), stop.clone());
            let (pages, page_limiter) = (pages.clone(), page_limiter.clone());
            let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ClientIp(remote.ip()));
                let mut service = services.clone().build(methods.clone(), conn_stop.clone());
                let (pages, page_limiter) = (pages.clone(), page_limiter.clone());
                async move {
                    if is_page(&request) {
                        let allowed = page_limiter.allow(request.extensions());
                        Ok(page(pages, request, allowed).await)
                    } else {
                        service.call(request).await
                    }
                }
            });
            tokio::spawn(serve_with_graceful_shutdown(
                socket,
                service,
                stop.clone().shutdown(),
            ));
        }
    });
    Ok((local, handle))
}

/// Answers a page request within [`PAGE_TIMEOUT`], unless its client is over its rate.
async fn page(
    pages: axum::Router,
    request: hyper::Request<Incoming>,
    allowed: bool,
) -> HttpResponse {
    if !allowed {
        let limited = crate::http::error_page(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded: this client made too many requests; try again later",
        );
        return limited.map(HttpBody::new);
    }
    let answer = tokio::time::timeout(
        PAGE_TIMEOUT,
        pages.oneshot(request.map(axum::body::Body::new)),
    );
    let response = match answer.await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => crate::http::error_page(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the page took too long; try again",
        ),
    };
    response.map(HttpBody::new)
}

#[async_trait]
impl AgoraApiServer for RpcState {
    async fn submit_transaction(&self, tx_hex: String) -> RpcResult<TxHash> {
        let reject = |e: SubmitError| match e {
            SubmitError::Node(e) => node_error(e),
            e => error(SUBMIT_REJECTED, e),
        };
        let bytes = hex::decode(tx_hex.trim().trim_start_matches("0x")).map_err(|e| {
            reject(SubmitError::Invalid(TxError::Malformed(format!(
                "not hex: {e}"
            ))))
        })?;
        let tx = SignedTransaction::decode_untrusted(&bytes).map_err(|e| reject(e.into()))?;
        self.mempool.submit(tx).map_err(reject)
    }

    async fn get_receipt(&self, hash: TxHash) -> RpcResult<Option<Receipt>> {
        self.executor.receipt(&hash).map_err(node_error)
    }

    async fn get_block(&self, height: u64) -> RpcResult<Option<BlockRecord>> {
        self.executor.block(height).map_err(node_error)
    }

    async fn status(&self) -> RpcResult<Status> {
        self.chain_status().map_err(node_error)
    }

    async fn query(
        &self,
        module: String,
        path: String,
        params: serde_json::Value,
    ) -> RpcResult<serde_json::Value> {
        let executor = self.executor.clone();
        self.queries
            .run(executor, move |e| e.query(&module, &path, &params))
            .await
    }

    async fn operator_query(
        &self,
        extensions: &Extensions,
        module: String,
        path: String,
        params: serde_json::Value,
    ) -> RpcResult<serde_json::Value> {
        self.queries.operator(extensions)?;
        let executor = self.executor.clone();
        self.queries
            .run(executor, move |e| e.operator_query(&module, &path, &params))
            .await
    }

    async fn next_nonce(&self, address: Address) -> RpcResult<u64> {
        self.mempool.next_nonce(&address).map_err(node_error)
    }

    async fn subscribe_blocks(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        self.forward(pending, |applied| vec![applied.record.clone()])
            .await
    }

    async fn subscribe_events(
        &self,
        pending: PendingSubscriptionSink,
        module: Option<String>,
        name: Option<String>,
    ) -> SubscriptionResult {
        self.forward(pending, move |applied| {
            applied
                .receipts
                .iter()
                .flat_map(|r| r.events.iter().map(move |e| (r, e)))
                .filter(|(_, e)| module.as_ref().is_none_or(|m| *m == e.module))
                .filter(|(_, e)| name.as_ref().is_none_or(|n| *n == e.name))
                .map(|(r, e)| EventNotification {
                    height: r.height,
                    tx_hash: r.tx_hash,
                    event: e.clone(),
                })
                .collect()
        })
        .await
    }
}
