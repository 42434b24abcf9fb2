//! The NATS JetStream bus (spec §5.5), for a `nats-server` 2.9 (Debian's; no auth callout).
//!
//! - Every stakeholder has an account whose one user logs in with the stakeholder's own ed25519
//!   key (an nkey is that key in NATS's encoding), so the server checks identity by key.
//! - Public channels (offers, allocations, accepts) live in a MARKET account; every other
//!   channel lives in its owner's account: the customer's for an allocation's subjects (A22:
//!   outputs too, writable by that slot's supplier only).
//! - Rights are exports restricted to the granted accounts and the matching imports, rendered by
//!   [`config`] and hot-reloaded by [`NatsAuthority`] whenever an owner grants or revokes.
//!   Without an import an account cannot reach a channel at all: the server, not this client,
//!   enforces the rights.
//! - One stream per channel: its sequence is the channel's seq, a publish carries the expected
//!   last seq (one total order, no gaps), and readers receive only stored messages, re-published
//!   by the stream, and fill any gap by direct get (at-least-once, de-duplicated by seq).

mod authority;
mod bus;
pub mod config;
mod server;

pub use authority::NatsAuthority;
pub use bus::NatsBus;
pub use server::{NatsServer, NATS_SERVER};

/// A broker failure, named by what was being done.
fn backend(what: &str, e: impl std::fmt::Display) -> crate::BusError {
    crate::BusError::Backend(format!("{what}: {e}"))
}
