//! The properties, one module per target.

mod market_seeds;
pub mod mixer;
pub mod modules;
pub mod transaction;

pub use agora_discovery::fuzzing as discovery;
