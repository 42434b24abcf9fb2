//! An Agora validator node.
//!
//! A node is a [`mempool`] that checks what clients submit, the consensus engine
//! ([`agora_consensus`]) that orders blocks with the other validators, the executor
//! ([`agora_ledger`]) that applies each finalized block with the registered modules, and the
//! JSON-RPC server ([`rpc`]) through which clients submit, read and subscribe.
//!
//! [`node::run`] runs a validator from its home directory ([`genesis::Home`]);
//! [`devnet::Devnet`] creates the homes of a local chain; [`simulation`] runs whole chains on
//! Commonware's deterministic runtime for the fault tests and `agora bench faults`;
//! [`limits::NodeLimits`] holds every admission limit of the mempool and the RPC server, and
//! [`config::NodeConfig`] everything an operator sets in `agora node --config FILE`;
//! [`http`] serves `/health`, `/ready` and `/metrics` ([`metrics`]) beside JSON-RPC.

pub mod config;
pub mod devnet;
pub mod explorer;
pub mod genesis;
pub mod http;
pub mod limits;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod queries;
pub mod ratelimit;
pub mod rpc;
pub mod simulation;
