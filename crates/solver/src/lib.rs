//! Off-ledger solvers of Agora's markets. They may fail or lie: the ledger verifies whatever
//! they submit, so a solver only has to be good, never trusted.
//!
//! - [`energy`]: the TRANSAX energy trading problem, solved with HiGHS.

pub mod energy;
