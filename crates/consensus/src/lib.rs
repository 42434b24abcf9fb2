//! Agora's only contact with the consensus engine.
//!
//! Ordering comes from Commonware: `simplex` (BFT consensus tolerating f < n/3 faulty
//! validators, finality in two network hops) decides on block digests, `marshal` disseminates
//! the blocks and delivers every finalized block in height order, at least once, and the
//! `buffered` broadcast engine carries proposals. This crate wires them and translates between
//! them and the rest of Agora through two narrow traits:
//!
//! - [`TxPool`]: where a proposer takes transactions from;
//! - [`Ledger`]: where finalized blocks go to be executed.
//!
//! Upgrading or replacing the engine touches this crate only.
//!
//! # A block's life
//!
//! 1. The leader of a view asks [`Application`] to build on the parent: it waits until the
//!    parent is at least [`BlockTiming::min_interval`] old and transactions are pending (or until
//!    [`BlockTiming::max_interval`], then proposes an empty block so the chain's clock moves),
//!    stamps the time, and takes transactions from the pool.
//! 2. Every validator verifies the proposal: height and parent (marshal), a timestamp after the
//!    parent's and not too far ahead of its clock, the size limits, and every transaction's
//!    chain id and signature. Nothing is executed yet.
//! 3. simplex notarizes and finalizes; marshal hands the block to [`Application`]'s reporter,
//!    which passes it to the [`Ledger`] and acknowledges it once the ledger made it durable.
//!    Unacknowledged blocks are delivered again after a restart.
//!
//! Networking: [`network`] runs a validator on the authenticated `lookup` p2p network with
//! the addresses fixed by the genesis; tests use Commonware's simulated network instead.

mod application;
mod engine;
mod execution;
pub mod network;

pub use application::{
    genesis_block, Application, BlockTiming, ChainGenesis, Ledger, TxPool, EPOCH,
};
pub use engine::{consensus_namespace, App, Config, Engine, EngineError, Timeouts};
pub use execution::{Execution, ExecutionError};
