//! Simulations of Agora's markets: agents that act for each stakeholder, driven by real data,
//! against a real chain over RPC.
//!
//! - [`profiles`]: the microgrid's day-ahead energy profiles.
//! - [`energy`]: a day of the TRANSAX market (DSO, prosumers, smart meters, solver daemons).
//! - [`mixer`]: the mixer agent (denomination plan, CoinShuffle sessions).
//! - [`mixing`]: the homes' mixing in a simulated day (withdraw, mix, offer anonymously).
//! - [`plot`]: SVG line charts of the results.

pub mod energy;
pub mod mixer;
pub mod mixing;
pub mod plot;
pub mod profiles;
