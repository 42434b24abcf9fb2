//! The properties, one module per target.

pub mod mixer;
pub mod modules;
pub mod transaction;

pub use agora_discovery::fuzzing as discovery;
