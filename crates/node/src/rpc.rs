//! The node's JSON-RPC server: [`agora_client::AgoraApiServer`] over the executor and mempool.

use crate::mempool::{Mempool, SubmitError};
use agora_client::{
    AgoraApiServer, EventNotification, Status, NODE_ERROR, QUERY_FAILED, SUBMIT_REJECTED,
};
use agora_ledger::{AppliedBlock, Executor};
use agora_types::{Address, BlockRecord, Receipt, SignedTransaction, TxError, TxHash};
use jsonrpsee::{
    core::{async_trait, RpcResult, SubscriptionResult},
    types::ErrorObjectOwned,
    PendingSubscriptionSink, SubscriptionMessage,
};
use serde::Serialize;
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use tokio::sync::broadcast;
use tracing::warn;

/// Everything the RPC reads; shared with the consensus side.
#[derive(Clone)]
pub struct RpcState {
    pub executor: Arc<Executor>,
    pub mempool: Mempool,
    pub applied: broadcast::Sender<Arc<AppliedBlock>>,
    pub tip: Arc<AtomicU64>,
    pub validators: Vec<String>,
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
    /// Forwards what `pick` makes of each applied block until the subscriber leaves.
    async fn forward<T: Serialize + Send + 'static>(
        &self,
        pending: PendingSubscriptionSink,
        pick: impl Fn(&AppliedBlock) -> Vec<T> + Send + 'static,
    ) -> SubscriptionResult {
        let mut rx = self.applied.subscribe();
        let sink = pending.accept().await?;
        tokio::spawn(async move {
            loop {
                let applied = tokio::select! {
                    _ = sink.closed() => break,
                    next = rx.recv() => match next {
                        Ok(applied) => applied,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            warn!(missed, "a subscriber fell behind; closing its subscription");
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                for item in pick(&applied) {
                    let Some(message) = json_message(&item) else {
                        continue;
                    };
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
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
        let height = self
            .executor
            .last_applied_height()
            .map_err(node_error)?
            .unwrap_or(0);
        Ok(Status {
            chain_id: self.executor.chain_id().to_string(),
            height,
            finalized_height: self.tip.load(Ordering::Relaxed).max(height),
            state_root: self.executor.state_root(),
            validators: self.validators.clone(),
            mempool: self.mempool.len(),
        })
    }

    async fn query(
        &self,
        module: String,
        path: String,
        params: serde_json::Value,
    ) -> RpcResult<serde_json::Value> {
        self.executor
            .query(&module, &path, &params)
            .map_err(|e| error(QUERY_FAILED, e))
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
