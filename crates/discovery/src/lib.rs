//! `discovery`: edge devices find each other's services with no central server (dissertation,
//! chapter 5, sections 5.3.4 to 5.5).
//!
//! # Protocol
//!
//! Every host runs one [`Daemon`]; every daemon is an equal peer of one Kademlia DHT
//! (libp2p), with no server role. Components reach their host's daemon through a [`Client`]
//! (JSON lines over a Unix socket, [`control`]).
//!
//! 0. **Who may publish.** Every host reads the deployment's publishers list ([`policy`]):
//!    the hosts heard at all, and the applications each may publish. Every path a record takes
//!    checks it.
//! 1. **Finding hosts.** Each daemon broadcasts a signed beacon (its host key, its address on
//!    that subnet, its DHT port and a rising sequence number) on every IPv4 subnet it is on,
//!    each beacon period, and adds the listed hosts it hears to the DHT's routing table.
//!    Datagrams that are not beacons, whose signature fails, that come from another address
//!    than the signed one or repeat an old sequence number are dropped. A host silent for two
//!    periods is dropped, with every service it offered. Hosts on other subnets are reached
//!    through configured gateways, named by key and address.
//! 2. **Registering.** A component registers a service (application, message type, kind,
//!    address) with the pid of the process that keeps it alive. The daemon signs a record of
//!    all its services of that topic (application, message type, kind) with a sequence number
//!    (kept across restarts) and a TTL, stores it in the DHT under the topic and its host, and provides the
//!    topic's offer key. It then finds the hosts that provide the topic's interest key and
//!    pushes them the record over UDP, so they need not wait for their next lookup.
//! 3. **Subscribing.** A component subscribes to the counterpart of its kind (sub finds pub,
//!    clt finds srv, req finds rep, and back). The daemon provides the counterpart topic's
//!    interest key, looks up the hosts providing its offer key and fetches their records.
//!    Every record is verified against its host's key and the publishers list before use; one
//!    that fails is dropped, and so is one no newer than the record held.
//!    The subscriber hears `Appeared` for each service found and `Gone` when a newer record
//!    no longer lists it, its host is dropped or its record expires.
//! 4. **Liveness.** The daemon checks the registering processes several times a second; when
//!    one has ended its services are withdrawn at once (a newer record without them, pushed to
//!    interested hosts). Records are renewed every refresh period and expire the record TTL
//!    after their receipt unless renewed (hosts share no clock), so a host that vanishes without a word is forgotten too.
//! 5. **Restarts.** A client reconnects to a restarted daemon and registers and subscribes
//!    again by itself. A host that rejoins is heard by its beacons; every daemon then looks up
//!    its subscriptions again, so what the host offers is found again.

pub mod cli;
pub mod client;
pub mod control;
mod daemon;
pub mod fuzzing;
pub mod hosts;
pub mod limits;
pub mod policy;
pub mod process;
pub mod record;
pub mod seq;
pub mod socket;
mod table;
pub mod testbed;
mod wire;

pub use client::{services, Client, Event};
pub use control::{Found, Held, Snapshot};
pub use daemon::{Daemon, DaemonConfig};
pub use hosts::Gateway;
/// Host keys are libp2p identities (ed25519).
pub use libp2p::identity;
pub use policy::Publishers;
pub use record::{Kind, Service, Topic};
pub use wire::Datagram;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("invalid service: {0}")]
    Invalid(String),
    #[error("cannot reach the discovery daemon at {socket}: {source}")]
    Unreachable {
        socket: String,
        source: std::io::Error,
    },
    #[error("discovery protocol: {0}")]
    Protocol(String),
    #[error("network: {0}")]
    Network(String),
    #[error("host key {path}: {reason}")]
    HostKey { path: String, reason: String },
    #[error("publishers list {path}: {reason}")]
    Publishers { path: String, reason: String },
    #[error("control socket directory {dir}: {reason}")]
    UnsafeSocketDir { dir: String, reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
