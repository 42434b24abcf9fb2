//! `agora-hybrid`: the ledger side of the hybrid-solver pattern (seed chapters 2 and 6), shared
//! by every market whose problem is solved off the ledger and verified on it.
//!
//! # Contract
//!
//! 1. **Open problem as a query.** A market answers `open_problem{market}` with everything a
//!    solver needs (its instance), in the shape its solver reads; solvers need no other source.
//! 2. **Solutions are ordinary transactions** from any account. One that fits in a transaction is
//!    posted whole ([`submit`]); a larger one is staged in parts ([`Slot`], [`Staged`]): only its
//!    creator adds parts, only in the round it was created for, in order, none empty, at most a
//!    market-chosen number of parts. [`split`] cuts a solution into the calls that carry it.
//! 3. **Exact verification.** The market's [`HybridMarket::verify`] checks every constraint in
//!    integers, at a cost linear in the solution's size, and scores it. Solvers call the same
//!    check before submitting.
//! 4. **The candidate.** A solution replaces the candidate only if it scores strictly higher
//!    ([`replaces`]); on a tie the market chooses: keep the earlier (the default) or a canonical
//!    order. A refused solution changes nothing. The empty allocation is the candidate until one
//!    is accepted and again after each round ([`Candidate::reset`]).
//! 5. **Time-guarded finalization** ([`finalize`], [`ensure_due`]): anyone may call it once the
//!    block clock reaches the due time; it commits the candidate (or its due part) and settles.
//!    A solver that is late, silent or lying cannot block it.
//!
//! A market written on this crate implements [`HybridMarket`]: its problem's check and score,
//! what adopting a solution stores, and its settlement. [`store`] holds the typed state helpers
//! the markets share, [`market_module!`] the glue between a market's call, error and state.

mod candidate;
mod glue;
mod split;
mod staged;
pub mod store;

pub use candidate::{ensure_due, finalize, replaces, submit, Candidate, HybridMarket};
pub use split::{max_items_per_call, split, Split};
pub use staged::{Slot, StageError, Staged};
pub use store::{Store, StoreError};
