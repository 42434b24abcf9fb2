//! What the chain says about each executed transaction.

use crate::{Address, TxHash};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    Success,
    Failed,
}

/// Something a module reports happened, for subscribers and receipts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub module: String,
    pub name: String,
    pub data: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: TxHash,
    pub height: u64,
    /// Position of the transaction in its block.
    pub index: u32,
    pub sender: Address,
    pub nonce: u64,
    pub module: String,
    pub status: TxStatus,
    /// Stable machine-readable reason code when the transaction failed (e.g. `insufficient_funds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The human-readable message that goes with `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub events: Vec<Event>,
    /// What the sender paid (burned) for this transaction, also when it failed.
    #[serde(default)]
    pub fee: u64,
}

/// What the chain keeps about a block, for the RPC and explorers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub height: u64,
    pub digest: String,
    pub parent: String,
    pub timestamp: u64,
    pub proposer: String,
    pub txs: Vec<TxSummary>,
    /// State root after this block.
    pub state_root: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxSummary {
    pub hash: TxHash,
    pub sender: Address,
    pub nonce: u64,
    pub module: String,
}
