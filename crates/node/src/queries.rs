//! How the RPC answers module queries: off the async workers, a bounded number at once, and
//! operator queries only for the node's operator.
//!
//! Every public query is bounded in reads and bytes by its module (lists are paged), and each
//! call takes a token from its client's rate ([`crate::ratelimit`]). What remains is how many
//! run at once: a query runs on a blocking thread once one of
//! [`RpcLimits::max_concurrent_queries`] slots is free, so that clients asking at once for the
//! largest answers (a market's open problem) use at most that many threads and never stall
//! the async workers that serve consensus-facing RPC, subscriptions and pages.

use crate::{limits::RpcLimits, ratelimit::ClientIp};
use agora_client::{NODE_ERROR, OPERATOR_ONLY, QUERY_FAILED};
use agora_ledger::{Executor, QueryError, ReasonCode};
use jsonrpsee::{core::RpcResult, types::ErrorObjectOwned, Extensions};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The query slots and who may make operator queries.
#[derive(Clone)]
pub struct QueryGate {
    slots: Arc<Semaphore>,
    operator_queries: bool,
}

impl QueryGate {
    pub fn new(limits: &RpcLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_concurrent_queries.max(1) as usize)),
            // Behind a proxy on the same host every client looks local (`limit_loopback`):
            // then nobody is known to be the operator.
            operator_queries: limits.operator_queries && !limits.limit_loopback,
        }
    }

    /// Whether the client that sent a request may make operator queries: the node's own host
    /// (loopback), when the configuration allows them.
    pub fn is_operator(&self, extensions: &Extensions) -> bool {
        self.operator_queries
            && extensions
                .get::<ClientIp>()
                .is_some_and(|ClientIp(ip)| ip.is_loopback())
    }

    /// Refuses an operator query from anyone but the operator.
    pub fn operator(&self, extensions: &Extensions) -> RpcResult<()> {
        if self.is_operator(extensions) {
            Ok(())
        } else {
            Err(ErrorObjectOwned::owned(
                OPERATOR_ONLY,
                "operator queries are served only on the node's own host, when its \
                 configuration allows them (limits.rpc.operator_queries)",
                None::<()>,
            ))
        }
    }

    /// Runs `answer` on a blocking thread once a slot is free.
    pub async fn run(
        &self,
        executor: Arc<Executor>,
        answer: impl FnOnce(&Executor) -> Result<serde_json::Value, QueryError> + Send + 'static,
    ) -> RpcResult<serde_json::Value> {
        let node = |e: String| ErrorObjectOwned::owned(NODE_ERROR, e, None::<()>);
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| node(e.to_string()))?;
        let answered = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            answer(&executor)
        })
        .await
        .map_err(|e| node(e.to_string()))?;
        answered.map_err(|e| match e {
            QueryError::State(e) => node(e.to_string()),
            e => ErrorObjectOwned::owned(
                QUERY_FAILED,
                e.to_string(),
                Some(serde_json::json!({"reason": e.reason()})),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// However many queries clients send at once, at most `max_concurrent_queries` run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn queries_run_at_most_the_configured_number_at_once() {
        let gate = QueryGate::new(&RpcLimits {
            max_concurrent_queries: 2,
            ..RpcLimits::default()
        });
        let executor = Arc::new(Executor::in_memory("queries").unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let queries = (0..16).map(|_| {
            let (gate, executor) = (gate.clone(), executor.clone());
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(async move {
                gate.run(executor, move |_| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Hold the slot long enough for the others to pile up.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(serde_json::Value::Null)
                })
                .await
            })
        });
        for query in queries.collect::<Vec<_>>() {
            query.await.unwrap().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
    }
}
