//! The stream market (seed chapter 4) played by its agents on a real chain.
//!
//! - [`allocator`]: the allocator's matching (spec 2.3-2.6), a pure function.

pub mod allocator;
