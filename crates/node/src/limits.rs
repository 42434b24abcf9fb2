//! Every admission limit of a node in one place, with its default and the reason for it.
//!
//! [`NodeLimits`] deserializes from any serde format (a missing field takes its default), so a
//! configuration file can set some of them and leave the rest.

use crate::config::doc::documented;
use serde::{Deserialize, Serialize};
use std::time::Duration;

documented! {
    /// The limits of a node's mempool and RPC server.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct NodeLimits {
        /// What the mempool keeps.
        pub mempool: MempoolLimits,
        /// What the JSON-RPC server accepts.
        pub rpc: RpcLimits,
    }
}

documented! {
    /// What the mempool keeps. A transaction is *executable* if it continues its sender's run of
    /// nonces from the sender's next one, *gapped* otherwise (it waits for an earlier nonce).
    /// Gapped transactions are capped apart, expire, and give way to executable ones, so that
    /// nobody can fill the pool with transactions that will never be proposed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct MempoolLimits {
        /// Transactions in the pool: 200,000.
        pub max_txs: usize,
        /// Bytes in the pool: 256 MiB.
        pub max_bytes: usize,
        /// Transactions of one sender: 4,096 (a DSO registers every meter of a large grid at once).
        pub max_per_sender: usize,
        /// Bytes of one sender: 72 MiB, enough for a solver's largest staged solution (64 parts of
        /// 1 MiB and the post) in flight at once.
        pub max_bytes_per_sender: usize,
        /// How far beyond a sender's next nonce a transaction may be: 4,096, the most it may
        /// have waiting.
        pub max_nonce_gap: u64,
        /// Gapped transactions of one sender: 16.
        pub max_gapped_per_sender: usize,
        /// Gapped transactions in the pool: 4,096, so that expiring them each block stays cheap.
        pub max_gapped_txs: usize,
        /// Bytes of gapped transactions in the pool: 16 MiB.
        pub max_gapped_bytes: usize,
        /// A transaction still gapped this long after it arrived is dropped: 60 s.
        pub gapped_ttl_ms: u64,
        /// A proposed transaction not finalized within this time is proposed again (its block
        /// may have been skipped by consensus): 3 s.
        pub repropose_after_ms: u64,
    }
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_txs: 200_000,
            max_bytes: 256 * 1024 * 1024,
            max_per_sender: 4_096,
            max_bytes_per_sender: 72 * 1024 * 1024,
            max_nonce_gap: 4_096,
            max_gapped_per_sender: 16,
            max_gapped_txs: 4_096,
            max_gapped_bytes: 16 * 1024 * 1024,
            gapped_ttl_ms: 60_000,
            repropose_after_ms: 3_000,
        }
    }
}

impl MempoolLimits {
    pub fn gapped_ttl(&self) -> Duration {
        Duration::from_millis(self.gapped_ttl_ms)
    }

    pub fn repropose_after(&self) -> Duration {
        Duration::from_millis(self.repropose_after_ms)
    }
}

documented! {
    /// What the JSON-RPC server accepts.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct RpcLimits {
        /// Bytes of one HTTP request or WebSocket message: 2 MiB + 64 KiB, the hex of the largest
        /// transaction and its JSON envelope.
        pub max_request_bytes: u32,
        /// Bytes of one response: 64 MiB. A market's open problem at 10,000 homes is larger than
        /// jsonrpsee's default of 10 MiB; queries are read-only and each client's rate is limited.
        pub max_response_bytes: u32,
        /// Calls in one JSON-RPC batch: 16.
        pub max_batch: u32,
        /// Calls one client IP may make per minute, on average: 12,000 (200 a second).
        pub requests_per_minute: u32,
        /// Calls one client IP may make at once after being idle: 1,000.
        pub burst: u32,
        /// Whether clients on the loopback interface are rate limited too: no, since the node's
        /// own agents (solvers, meters, the sims) run there. Set it behind a reverse proxy on the
        /// same host, where every client looks local.
        pub limit_loopback: bool,
        /// Notifications queued for one WebSocket connection: 256. A subscriber that lets this
        /// many pile up is dropped with an error notification saying why.
        pub subscriber_buffer: u32,
        /// Subscriptions on one WebSocket connection: 16.
        pub max_subscriptions_per_connection: u32,
        /// Connections at once: 512.
        pub max_connections: u32,
        /// Module queries answered at once, each on a blocking thread: 4. More wait for a
        /// slot, so that queries never take more threads than this whatever clients send.
        pub max_concurrent_queries: u32,
        /// Whether clients on the loopback interface (the operator) may make operator
        /// queries, whose cost grows with the state (`agora_operatorQuery`: the bank's
        /// recount of every balance and hold): yes. Never when `limit_loopback` is set.
        pub operator_queries: bool,
    }
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: (2 * agora_types::MAX_TX_BYTES + 64 * 1024) as u32,
            max_response_bytes: agora_types::MAX_RPC_RESPONSE_BYTES,
            max_batch: 16,
            requests_per_minute: 12_000,
            burst: 1_000,
            limit_loopback: false,
            subscriber_buffer: 256,
            max_subscriptions_per_connection: 16,
            max_connections: 512,
            max_concurrent_queries: 4,
            operator_queries: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_configurations_take_defaults() {
        let limits: NodeLimits =
            serde_json::from_str(r#"{"rpc": {"max_batch": 4}, "mempool": {"max_txs": 10}}"#)
                .unwrap();
        assert_eq!(limits.rpc.max_batch, 4);
        assert_eq!(limits.rpc.burst, RpcLimits::default().burst);
        assert_eq!(limits.mempool.max_txs, 10);
        assert_eq!(limits.mempool.max_nonce_gap, 4_096);
        assert!(serde_json::from_str::<NodeLimits>(r#"{"rpc": {"max_bach": 4}}"#).is_err());
    }
}
