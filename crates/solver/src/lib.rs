//! Off-ledger solvers of Agora's markets. They may fail or lie: the ledger verifies whatever
//! they submit, so a solver only has to be good, never trusted.
//!
//! - [`energy`]: the TRANSAX energy trading problem, solved with HiGHS.
//! - [`allocation`]: SolidWorx's resource-allocation problem (eq. 6.1-6.14), with HiGHS or greedily.
//! - [`lp`]: the HiGHS runner and the LP -> MIP -> round-down pipeline they share.

pub mod allocation;
pub mod energy;
pub mod lp;
