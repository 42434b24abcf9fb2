//! The daemon: one per host. It keeps its components' registrations alive while their
//! processes run, publishes them to the DHT, finds what its components subscribed to, and
//! tells them when such services appear and go away.

mod components;
mod dht;
mod network;
mod records;

pub(crate) use network::tcp_addr;

use crate::{
    control::{Found, Held, HostInfo, Reply, Request, Snapshot},
    hosts::{Gateway, Hosts},
    limits::{RateLimiter, MAX_LOCAL_TOPICS},
    policy::Publishers,
    process::Process,
    record::{RecordBody, Service, SignedRecord, Topic},
    seq::SeqStore,
    socket,
    table::Table,
    wire::MAX_DATAGRAM,
    DiscoveryError,
};
use borsh::BorshDeserialize;
use components::{accept_components, FromConn};
use futures::StreamExt;
use libp2p::{
    identity,
    kad::{self, store::RecordStore, QueryId},
    PeerId, StreamProtocol, Swarm,
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::{Duration, Instant},
};
use tokio::{
    net::{UdpSocket, UnixListener},
    sync::mpsc,
};
use tracing::{info, warn};

/// How a daemon runs; every host of a cluster should use the same ports, periods and
/// publishers list.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// The host's identity: its peer id, and the key its records and beacons are signed with.
    pub key: identity::Keypair,
    /// The DHT's TCP address (port 0: any).
    pub listen: SocketAddr,
    /// UDP port of beacons and record pushes, the same on every host.
    pub beacon_port: u16,
    /// A host silent for two periods is dropped.
    pub beacon_period: Duration,
    /// Records are renewed and subscriptions looked up again this often.
    pub refresh_period: Duration,
    /// A record not renewed within this time (at least two refresh periods) expires.
    pub record_ttl: Duration,
    /// Hosts on other subnets, by key and DHT address.
    pub gateways: Vec<Gateway>,
    /// The Unix socket components reach the daemon on (in a private directory).
    pub socket: PathBuf,
    /// Who may publish what; hosts not on it are not heard.
    pub publishers: Publishers,
    /// Where the host's sequence counter is kept across restarts.
    pub seq_file: PathBuf,
}

/// Ticks per refresh period; each renews and looks up the topics of its slot.
const REFRESH_SLOTS: u64 = 4;
/// Most refresh periods between DHT renewals and lookups.
const DHT_EVERY: u64 = 3;

impl DaemonConfig {
    /// Refresh periods between DHT renewals: as many as fit twice in the record TTL (at most
    /// [`DHT_EVERY`]), so a record stored in the DHT outlives one lost renewal.
    pub fn dht_every(&self) -> u64 {
        let fit = self.record_ttl.as_millis() / (2 * self.refresh_period.as_millis()).max(1);
        (fit as u64).clamp(1, DHT_EVERY)
    }
}

/// A random duration below `d`: phases that keep hosts from acting in lockstep.
fn random_below(d: Duration) -> Duration {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    Duration::from_micros(r % (d.as_micros() as u64).max(1))
}

/// What a DHT query was for.
enum Pending {
    /// Find the hosts offering a topic a component subscribed to, then their records (the
    /// hosts asked so far: a query reports providers more than once).
    Fetch(Topic, BTreeSet<PeerId>),
    /// Find the hosts interested in one of our topics, to push them our record (once each).
    Push(Topic, BTreeSet<PeerId>),
    /// One host's record of a topic.
    Record(Topic, PeerId),
}

pub struct Daemon {
    cfg: DaemonConfig,
    me: PeerId,
    swarm: Swarm<kad::Behaviour<kad::store::MemoryStore>>,
    udp: UdpSocket,
    /// Registrations of this host's components: topic -> (service, keeping process).
    local: BTreeMap<Topic, Vec<(Service, Process)>>,
    /// Our latest signed record per topic.
    own: BTreeMap<Topic, SignedRecord>,
    /// Subscriptions: wanted topic -> (connection, subscription id).
    subs: BTreeMap<Topic, BTreeSet<(u64, u64)>>,
    known: Table,
    hosts: Hosts,
    limiter: RateLimiter,
    queries: HashMap<QueryId, Pending>,
    conns: HashMap<u64, mpsc::UnboundedSender<Reply>>,
    seq: SeqStore,
    /// A host joined: our records go out again at the next beacon tick (once, however many
    /// joined), to the subnet only (`true`) or to the DHT too.
    rejoin_due: Option<bool>,
    /// Which refresh periods do DHT work: random, so hosts started together spread it.
    dht_phase: u64,
}

impl Daemon {
    pub async fn start(cfg: DaemonConfig) -> Result<Self, DiscoveryError> {
        if cfg.record_ttl < 2 * cfg.refresh_period {
            return Err(DiscoveryError::Invalid(
                "the record TTL must be at least two refresh periods".into(),
            ));
        }
        let me = cfg.key.public().to_peer_id();
        let mut kad_cfg = kad::Config::new(StreamProtocol::new("/agora/discovery/kad/2"));
        kad_cfg
            .set_record_ttl(Some(cfg.record_ttl))
            .set_provider_record_ttl(Some(cfg.record_ttl))
            // The daemon renews its records and provider entries itself, every refresh.
            .set_publication_interval(None)
            .set_provider_publication_interval(None)
            .set_record_filtering(kad::StoreInserts::FilterBoth)
            .set_query_timeout(Duration::from_secs(5));
        let store = dht::store(me);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(cfg.key.clone())
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default().nodelay(true),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .map_err(|e| DiscoveryError::Network(e.to_string()))?
            .with_behaviour(|_| kad::Behaviour::with_config(me, store, kad_cfg))
            .map_err(|e| DiscoveryError::Network(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
            .build();
        // Private addresses are never "confirmed": serve the DHT regardless.
        swarm.behaviour_mut().set_mode(Some(kad::Mode::Server));
        swarm
            .listen_on(network::tcp_addr(cfg.listen.ip(), cfg.listen.port()))
            .map_err(|e| DiscoveryError::Network(e.to_string()))?;
        let udp = UdpSocket::bind(SocketAddr::new(
            Ipv4Addr::UNSPECIFIED.into(),
            cfg.beacon_port,
        ))
        .await?;
        udp.set_broadcast(true)?;
        network::enlarge_buffers(&udp);
        let seq = SeqStore::open(cfg.seq_file.clone())?;
        if !cfg.publishers.is_member(&me) {
            warn!(host = %me, "this host is not on the publishers list: no host will hear it");
        }
        Ok(Self {
            me,
            swarm,
            udp,
            local: BTreeMap::new(),
            own: BTreeMap::new(),
            subs: BTreeMap::new(),
            known: Table::new(cfg.record_ttl),
            hosts: Hosts::default(),
            limiter: RateLimiter::new(Instant::now()),
            queries: HashMap::new(),
            conns: HashMap::new(),
            seq,
            rejoin_due: None,
            dht_phase: random_below(Duration::from_micros(DHT_EVERY)).as_micros() as u64,
            cfg,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.me
    }

    /// Serves until the process ends.
    pub async fn run(mut self) -> Result<(), DiscoveryError> {
        socket::prepare_dir(&self.cfg.socket)?;
        let _ = std::fs::remove_file(&self.cfg.socket);
        let listener = UnixListener::bind(&self.cfg.socket)?;
        let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
        tokio::spawn(accept_components(listener, conn_tx));
        // Hosts started together must not beacon together either: a burst of broadcasts from
        // every host at once overflows receive queues.
        let mut beacon = tokio::time::interval_at(
            tokio::time::Instant::now() + random_below(self.cfg.beacon_period),
            self.cfg.beacon_period,
        );
        let mut liveness = tokio::time::interval(Duration::from_millis(250));
        // Daemons started together must not refresh together: a random phase, then slots.
        let mut refresh = tokio::time::interval_at(
            tokio::time::Instant::now() + random_below(self.cfg.refresh_period),
            self.cfg.refresh_period / REFRESH_SLOTS as u32,
        );
        let mut tick = 0u64;
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        info!(host = %self.me, socket = %self.cfg.socket.display(), "discovery daemon running");
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                received = self.udp.recv_from(&mut buf) => match received {
                    Ok((n, from)) => self.on_datagram(&buf[..n], from),
                    Err(e) => tracing::debug!(error = %e, "udp receive"),
                },
                Some(msg) = conn_rx.recv() => self.on_conn(msg),
                _ = beacon.tick() => self.beacon(),
                _ = liveness.tick() => self.check_processes(),
                _ = refresh.tick() => {
                    tick += 1;
                    self.refresh(tick);
                }
            }
        }
    }

    /// The next sequence number (records and beacons), above any used before a restart.
    fn next_seq(&mut self) -> Option<u64> {
        self.seq
            .take()
            .inspect_err(|e| warn!(error = %e, "cannot keep the sequence counter"))
            .ok()
    }

    fn on_conn(&mut self, msg: FromConn) {
        match msg {
            FromConn::Open(id, tx) => {
                self.conns.insert(id, tx);
            }
            FromConn::Closed(id) => {
                self.conns.remove(&id);
                let mut emptied = Vec::new();
                for (topic, subs) in self.subs.iter_mut() {
                    subs.retain(|(c, _)| *c != id);
                    if subs.is_empty() {
                        emptied.push(topic.clone());
                    }
                }
                for topic in emptied {
                    self.subs.remove(&topic);
                    self.known.unwatch(&topic);
                    self.swarm
                        .behaviour_mut()
                        .stop_providing(&topic.interest_key());
                }
            }
            FromConn::Malformed(id, message) => self.send(id, Reply::Error { message }),
            FromConn::Request(id, request) => {
                let reply = self.on_request(id, request);
                self.send(id, reply);
            }
        }
    }

    fn send(&self, conn: u64, reply: Reply) {
        if let Some(tx) = self.conns.get(&conn) {
            let _ = tx.send(reply);
        }
    }

    fn on_request(&mut self, conn: u64, request: Request) -> Reply {
        let error = |message: String| Reply::Error { message };
        match request {
            Request::Register { service, pid } => {
                if let Err(message) = service.check() {
                    return error(message);
                }
                if let Err(refused) = self.cfg.publishers.may_publish(&self.me, &service.app) {
                    return error(format!("{refused} (the publishers list)"));
                }
                let Some(process) = Process::of(pid) else {
                    return error(format!("process {pid} is not running"));
                };
                let topic = service.topic();
                if !self.local.contains_key(&topic) && self.local.len() >= MAX_LOCAL_TOPICS {
                    return error(format!("at most {MAX_LOCAL_TOPICS} topics per host"));
                }
                let entries = self.local.entry(topic.clone()).or_default();
                if !entries.contains(&(service.clone(), process)) {
                    entries.push((service, process));
                    self.publish(&topic, true, true);
                }
                Reply::Ok
            }
            Request::Subscribe { id, app, msg, kind } => {
                let wanted = Topic {
                    app,
                    msg,
                    kind: kind.counterpart(),
                };
                if !self.subs.contains_key(&wanted) && self.subs.len() >= MAX_LOCAL_TOPICS {
                    return error(format!("at most {MAX_LOCAL_TOPICS} subscribed topics"));
                }
                self.subs
                    .entry(wanted.clone())
                    .or_default()
                    .insert((conn, id));
                self.known.watch(&wanted);
                // What is known already, our own services of the topic (held only once someone
                // here wants them), then a lookup for what is not.
                for (host, k) in self.known.get(&wanted).into_iter().flatten() {
                    for service in &k.services {
                        let found = Found {
                            service: service.clone(),
                            host: host.to_string(),
                        };
                        self.send(conn, Reply::Appeared { id, found });
                    }
                }
                let own = self.own.get(&wanted).map(|r| r.body.clone());
                if let Some(body) = own.and_then(|b| RecordBody::try_from_slice(&b).ok()) {
                    self.apply(self.me, body);
                }
                self.look_again(&wanted);
                Reply::Ok
            }
            Request::Services => Reply::Services(self.snapshot()),
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        let (_, beacon_seqs, peer_addresses) = self.hosts.held();
        Snapshot {
            host: self.me.to_string(),
            local: self
                .local
                .values()
                .flatten()
                .map(|(s, p)| (s.clone(), p.pid))
                .collect(),
            remote: self
                .known
                .iter()
                .filter(|(_, h, _)| **h != self.me)
                .flat_map(|(_, h, k)| {
                    k.services.iter().map(move |s| Found {
                        service: s.clone(),
                        host: h.to_string(),
                    })
                })
                .collect(),
            hosts: self
                .hosts
                .present()
                .iter()
                .map(|(p, h)| HostInfo {
                    host: p.to_string(),
                    ip: h.ip,
                    by_beacon: h.by_beacon,
                })
                .collect(),
            subscriptions: self
                .subs
                .keys()
                .map(|t| (t.app.clone(), t.msg.clone(), t.kind.counterpart()))
                .collect(),
            held: Held {
                known_records: self.known.held(),
                hosts: self.hosts.present().len(),
                beacon_seqs,
                peer_addresses,
                dht_records: self.swarm.behaviour_mut().store_mut().records().count(),
                rate_sources: self.limiter.sources(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dht_renewal_fits_the_record_ttl() {
        let key = identity::Keypair::generate_ed25519();
        for (refresh_ms, ttl_ms) in [(1000, 4000), (5000, 30_000), (1000, 2000), (5000, 10_000)] {
            let cfg = DaemonConfig {
                key: key.clone(),
                listen: "127.0.0.1:0".parse().unwrap(),
                beacon_port: 0,
                beacon_period: Duration::from_secs(1),
                refresh_period: Duration::from_millis(refresh_ms),
                record_ttl: Duration::from_millis(ttl_ms),
                gateways: Vec::new(),
                socket: PathBuf::new(),
                publishers: Publishers::default(),
                seq_file: PathBuf::new(),
            };
            let renewal = cfg.refresh_period * cfg.dht_every() as u32;
            assert!(
                2 * renewal <= cfg.record_ttl,
                "refresh {refresh_ms} ms, ttl {ttl_ms} ms: DHT renewed every {renewal:?}"
            );
        }
    }
}
