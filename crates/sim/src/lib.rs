//! Simulations of Agora's markets: agents that act for each stakeholder, driven by real data,
//! against a real chain over RPC.
//!
//! - [`compute_game`]: the MODiCuM game (Theorem 3, eq. 3.4, 3.5, Table 3.4) for `agora compute calc`.
//! - [`demo`]: the markets `agora devnet --markets` keeps busy.
//! - [`profiles`]: the microgrid's day-ahead energy profiles.
//! - [`energy`]: a day of the TRANSAX market (DSO, prosumers, smart meters, solver daemons).
//! - [`meter`]: the smart meter's deposits check and bills.
//! - [`mixer`]: the mixer agent (denomination plan, CoinShuffle sessions, the mix transaction).
//! - [`mixing`]: the homes' mixing in a simulated day (withdraw, mix, offer anonymously).
//! - [`plot`]: SVG line charts of the results.
//! - [`stream_analysis`]: the stream market's games, eq. 4.3-4.6 and break-even.

pub mod compute_game;
pub mod demo;
pub mod energy;
pub mod meter;
pub mod mixer;
pub mod mixing;
pub mod plot;
pub mod profiles;
pub mod stream_analysis;
