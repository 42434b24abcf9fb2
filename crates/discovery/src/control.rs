//! The local protocol between components (through [`crate::Client`]) and their host's daemon:
//! JSON lines over a Unix socket.

use crate::record::{Kind, Service};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Keep `service` registered while process `pid` runs.
    Register { service: Service, pid: u32 },
    /// Tell this connection about services of `kind`'s counterpart for `app` and `msg`.
    Subscribe {
        id: u64,
        app: String,
        msg: String,
        kind: Kind,
    },
    /// What the daemon knows.
    Services,
}

/// A service another host (or this one) offers, as a subscriber sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Found {
    pub service: Service,
    /// The offering host's peer id.
    pub host: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    Error {
        message: String,
    },
    /// A counterpart of subscription `id` appeared.
    Appeared {
        id: u64,
        found: Found,
    },
    /// A counterpart of subscription `id` went away (its process ended, its host left, or its
    /// record expired).
    Gone {
        id: u64,
        found: Found,
    },
    Services(Snapshot),
}

/// `agora discovery services`: what a daemon knows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub host: String,
    /// Services registered here, with the process that keeps each alive.
    pub local: Vec<(Service, u32)>,
    /// Services of other hosts this daemon learned (for its subscriptions).
    pub remote: Vec<Found>,
    /// Hosts heard from: by beacon on this subnet, or through a gateway.
    pub hosts: Vec<HostInfo>,
    /// Topics this host's components subscribed to.
    pub subscriptions: Vec<(String, String, Kind)>,
    /// What the daemon holds for others, each under a cap (`agora_discovery::limits`).
    pub held: Held,
}

/// Entries a daemon holds for other hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Other hosts' records of subscribed topics (expired ones included).
    pub known_records: usize,
    pub hosts: usize,
    /// Last beacon sequence numbers, kept after their hosts leave.
    pub beacon_seqs: usize,
    pub peer_addresses: usize,
    /// Records in the DHT store (this host's own included).
    pub dht_records: usize,
    /// Source addresses whose datagram rate is tracked.
    pub rate_sources: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostInfo {
    pub host: String,
    pub ip: std::net::IpAddr,
    /// Heard by beacon (else through a gateway).
    pub by_beacon: bool,
}
