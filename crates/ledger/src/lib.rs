//! The deterministic side of an Agora node: what happens to a block once consensus finalized it.
//!
//! # Contract
//!
//! - **Order first, execute after finalization.** [`Executor::apply_block`] is called with each
//!   finalized block in height order, at least once. It executes every transaction, writes the
//!   state changes, the receipts, the block record and `last_applied_height` in **one** redb
//!   write transaction, so a crash leaves either all of a block or none of it, and a block
//!   delivered again after a restart is recognised by its height and skipped.
//! - **Modules** ([`Module`]) are deterministic state machines with typed calls, events, queries
//!   and errors. The executor dispatches a transaction's [`Call`](agora_types::Call) by module
//!   name; adding a market means registering one more module, never changing the executor.
//! - **Failure is a receipt, not a panic.** A transaction that a module refuses gets a failed
//!   [`Receipt`] with a stable reason code, its state changes are discarded, and its nonce is
//!   still consumed. A transaction whose nonce is not the sender's next one is not executed at
//!   all and gets no receipt, so the sender can still send it once the gap is filled.
//! - **State root.** Every state entry `(key, value)` is folded into an [`LtHash`] (a lattice
//!   hash: adding and removing entries is O(1)); the state root after a block is its checksum.
//!   Replicas that applied the same blocks have equal roots whatever order they wrote in.
//! - **Fees** ([`Executor::with_fees`]): before its call runs, a transaction's sender pays
//!   the admission fee (per call and per byte of the transaction); after a successful call,
//!   the fee for the bytes it put into the state. Fees are burned. A sender that cannot pay
//!   the admission fee gets a failed receipt (`insufficient_fee`) and only its nonce is
//!   consumed; a call that fails or cannot pay for its writes keeps only the admission fee.
//! - **Storage failures are not transaction failures.** If reading state fails mid-block, the
//!   block's write transaction is dropped and [`Executor::apply_block`] returns an error: the
//!   node stops rather than commit a result computed from a failed read.
//!
//! [`LtHash`]: commonware_cryptography::lthash::LtHash

mod admission;
mod executor;
mod module;
mod page;
mod state;

pub use admission::{CallError, FeeCollector, INSUFFICIENT_FEE};
pub use agora_types::{BlockRecord, Event, Receipt, TxStatus};
pub use executor::{AppliedBlock, Executor, ExecutorError, ModuleGenesis};
pub use module::{query_param, Module, QueryError, ReasonCode, TxContext};
pub use page::{Page, Paged, MAX_PAGE};
pub use state::{Entries, MemState, ReadCounter, StateError, StateRead};
