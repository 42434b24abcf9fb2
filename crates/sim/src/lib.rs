//! Simulations of Agora's markets: agents that act for each stakeholder, driven by real data,
//! against a real chain over RPC.
//!
//! - [`allocation`]: the SolidWorx case studies (carpool, energy) on the allocation market.
//! - [`compute`]: the MODiCuM market with every role as an agent (`agora sim compute`).
//! - [`compute_game`]: the MODiCuM game (Theorem 3, eq. 3.4, 3.5, Table 3.4) for `agora compute calc`.
//! - [`demo`]: the markets `agora devnet --markets` keeps busy.
//! - [`profiles`]: the microgrid's day-ahead energy profiles.
//! - [`daemon`]: the solver daemon every hybrid market shares (poll, solve, check, submit).
//! - [`energy`]: a day of the TRANSAX market (DSO, prosumers, smart meters, solver daemons).
//! - [`meter`]: the smart meter's deposits check and bills.
//! - [`mixer`]: the mixer agent (denomination plan, CoinShuffle sessions, the mix transaction).
//! - [`mixing`]: the homes' mixing in a simulated day (withdraw, mix, offer anonymously).
//! - [`plot`]: SVG line and stacked bar charts of the results.
//! - [`stream`]: the stream market's allocator, agents and experiments (Fig. 4.5, 4.6).
//! - [`stream_analysis`]: the stream market's games, eq. 4.3-4.6 and break-even.

pub mod allocation;
pub mod compute;
pub mod compute_game;
pub mod daemon;
pub mod demo;
pub mod energy;
pub mod meter;
pub mod mixer;
pub mod mixing;
pub mod plot;
pub mod profiles;
pub mod stream;
pub mod stream_analysis;
