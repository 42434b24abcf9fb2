//! The daemon: one per host. It keeps its components' registrations alive while their
//! processes run, publishes them to the DHT, finds what its components subscribed to, and
//! tells them when such services appear and go away.

use crate::{
    control::{Found, HostInfo, Reply, Request, Snapshot},
    record::{RecordBody, Service, SignedRecord, Topic},
    wire::{Datagram, MAX_DATAGRAM},
    DiscoveryError,
};
use futures::StreamExt;
use libp2p::{
    identity,
    kad::{self, store::RecordStore, GetProvidersOk, GetRecordOk, QueryId, QueryResult, Quorum},
    multiaddr::Protocol,
    swarm::SwarmEvent,
    Multiaddr, PeerId, StreamProtocol, Swarm,
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UdpSocket, UnixListener},
    sync::mpsc,
};
use tracing::{debug, info, warn};

/// How a daemon runs; every host of a cluster should use the same ports and periods.
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
    /// A record not renewed within this time expires.
    pub record_ttl: Duration,
    /// DHT addresses (ip:port) of hosts on other subnets.
    pub gateways: Vec<SocketAddr>,
    /// The Unix socket components reach the daemon on.
    pub socket: PathBuf,
}

/// Ticks per refresh period; each renews and looks up the topics of its slot.
const REFRESH_SLOTS: u64 = 4;
/// Refresh periods between DHT renewals and lookups.
const DHT_EVERY: u64 = 3;

/// Broadcasts on a busy subnet are held against the sender's buffer until every host on the
/// subnet took them: the default buffer (about 200 kB) runs out with tens of hosts. Root may
/// force larger buffers; otherwise the system's maximum applies.
fn enlarge_buffers(udp: &UdpSocket) {
    use std::os::fd::AsRawFd;
    const SIZE: libc::c_int = 4 << 20;
    for (force, normal) in [
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
    ] {
        let set = |opt| unsafe {
            libc::setsockopt(
                udp.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&SIZE as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        };
        if !set(force) && !set(normal) {
            debug!("cannot enlarge the UDP socket's buffers");
        }
    }
}

/// A random duration below `d`: phases that keep hosts from acting in lockstep.
fn random_below(d: Duration) -> Duration {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(now_ms());
    Duration::from_micros(r % (d.as_micros() as u64).max(1))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

fn tcp_addr(ip: IpAddr, port: u16) -> Multiaddr {
    Multiaddr::empty().with(ip.into()).with(Protocol::Tcp(port))
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
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

struct Host {
    ip: IpAddr,
    last_seen: Instant,
    /// Heard by beacon (dropped when silent); otherwise reached through a gateway.
    by_beacon: bool,
}

struct Known {
    seq: u64,
    expires_ms: u64,
    services: Vec<Service>,
}

/// A message from a component's connection to the daemon's loop.
enum FromConn {
    Open(u64, mpsc::UnboundedSender<Reply>),
    Request(u64, Request),
    Malformed(u64, String),
    Closed(u64),
}

pub struct Daemon {
    cfg: DaemonConfig,
    me: PeerId,
    swarm: Swarm<kad::Behaviour<kad::store::MemoryStore>>,
    udp: UdpSocket,
    /// Registrations of this host's components: topic -> (service, keeping process).
    local: BTreeMap<Topic, Vec<(Service, u32)>>,
    /// Our latest signed record per topic.
    own: BTreeMap<Topic, SignedRecord>,
    /// Subscriptions: wanted topic -> (connection, subscription id).
    subs: BTreeMap<Topic, BTreeSet<(u64, u64)>>,
    known: BTreeMap<Topic, BTreeMap<PeerId, Known>>,
    hosts: BTreeMap<PeerId, Host>,
    peer_ip: HashMap<PeerId, IpAddr>,
    queries: HashMap<QueryId, Pending>,
    conns: HashMap<u64, mpsc::UnboundedSender<Reply>>,
    next_seq: u64,
    /// Which refresh periods do DHT work: random, so hosts started together spread it.
    dht_phase: u64,
}

impl Daemon {
    pub async fn start(cfg: DaemonConfig) -> Result<Self, DiscoveryError> {
        let me = cfg.key.public().to_peer_id();
        let mut kad_cfg = kad::Config::new(StreamProtocol::new("/agora/discovery/kad/1"));
        kad_cfg
            .set_record_ttl(Some(cfg.record_ttl))
            .set_provider_record_ttl(Some(cfg.record_ttl))
            // The daemon renews its records and provider entries itself, every refresh.
            .set_publication_interval(None)
            .set_provider_publication_interval(None)
            .set_record_filtering(kad::StoreInserts::FilterBoth)
            .set_query_timeout(Duration::from_secs(5));
        let store = kad::store::MemoryStore::with_config(
            me,
            kad::store::MemoryStoreConfig {
                max_records: 1 << 16,
                max_value_bytes: MAX_DATAGRAM,
                max_providers_per_key: 1024,
                max_provided_keys: 1 << 12,
            },
        );
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
            .listen_on(tcp_addr(cfg.listen.ip(), cfg.listen.port()))
            .map_err(|e| DiscoveryError::Network(e.to_string()))?;
        let udp = UdpSocket::bind(SocketAddr::new(
            Ipv4Addr::UNSPECIFIED.into(),
            cfg.beacon_port,
        ))
        .await?;
        udp.set_broadcast(true)?;
        enlarge_buffers(&udp);
        Ok(Self {
            cfg,
            me,
            swarm,
            udp,
            local: BTreeMap::new(),
            own: BTreeMap::new(),
            subs: BTreeMap::new(),
            known: BTreeMap::new(),
            hosts: BTreeMap::new(),
            peer_ip: HashMap::new(),
            queries: HashMap::new(),
            conns: HashMap::new(),
            next_seq: 0,
            dht_phase: random_below(Duration::from_micros(DHT_EVERY)).as_micros() as u64,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.me
    }

    /// Serves until the process ends.
    pub async fn run(mut self) -> Result<(), DiscoveryError> {
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
                    Err(e) => debug!(error = %e, "udp receive"),
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

    fn seq(&mut self) -> u64 {
        // Above anything published before a restart, as long as clocks move forward.
        self.next_seq = (self.next_seq + 1).max(now_ms());
        self.next_seq
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
        match request {
            Request::Register { service, pid } => {
                if let Err(message) = service.check() {
                    return Reply::Error { message };
                }
                if !pid_alive(pid) {
                    return Reply::Error {
                        message: format!("process {pid} is not running"),
                    };
                }
                let topic = service.topic();
                let entries = self.local.entry(topic.clone()).or_default();
                if !entries.contains(&(service.clone(), pid)) {
                    entries.push((service, pid));
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
                self.subs
                    .entry(wanted.clone())
                    .or_default()
                    .insert((conn, id));
                // What is known already, then a lookup for what is not.
                if let Some(hosts) = self.known.get(&wanted) {
                    for (host, k) in hosts {
                        for service in &k.services {
                            let found = Found {
                                service: service.clone(),
                                host: host.to_string(),
                            };
                            self.send(conn, Reply::Appeared { id, found });
                        }
                    }
                }
                self.look_again(&wanted);
                Reply::Ok
            }
            Request::Services => Reply::Services(self.snapshot()),
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            host: self.me.to_string(),
            local: self.local.values().flatten().cloned().collect(),
            remote: self
                .known
                .values()
                .flat_map(|hosts| hosts.iter())
                .filter(|(h, _)| **h != self.me)
                .flat_map(|(h, k)| {
                    k.services.iter().map(move |s| Found {
                        service: s.clone(),
                        host: h.to_string(),
                    })
                })
                .collect(),
            hosts: self
                .hosts
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
        }
    }

    /// Signs a new record of `topic` and broadcasts it to the subnet (a change reaches its
    /// subscribers at once; a renewal keeps their copies from expiring). With `dht`, stores it
    /// in the DHT and (re)announces the topic there; with `change`, also tells the interested
    /// hosts the DHT knows of (those behind gateways).
    fn publish(&mut self, topic: &Topic, change: bool, dht: bool) {
        let services: Vec<Service> = self
            .local
            .get(topic)
            .map(|v| {
                v.iter()
                    .map(|(s, _)| s.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default();
        let body = RecordBody {
            topic: topic.clone(),
            host: self.me.to_bytes(),
            seq: self.seq(),
            expires_ms: now_ms() + self.cfg.record_ttl.as_millis() as u64,
            services,
        };
        let Some(signed) = SignedRecord::sign(&self.cfg.key, &body) else {
            warn!("cannot sign a record");
            return;
        };
        if dht {
            let kad = self.swarm.behaviour_mut();
            let record = kad::Record::new(topic.record_key(&self.me), signed.encode());
            if let Err(e) = kad.put_record(record, Quorum::One) {
                warn!(error = %e, "cannot store a record");
            }
            if body.services.is_empty() {
                kad.stop_providing(&topic.offer_key());
            } else if let Err(e) = kad.start_providing(topic.offer_key()) {
                warn!(error = %e, "cannot announce a topic");
            }
        }
        self.broadcast(&Datagram::Push(signed.clone()).encode());
        self.own.insert(topic.clone(), signed);
        let me = self.me;
        self.apply(me, body);
        if change {
            let q = self
                .swarm
                .behaviour_mut()
                .get_providers(topic.interest_key());
            self.queries
                .insert(q, Pending::Push(topic.clone(), BTreeSet::new()));
        }
    }

    fn fetch(&mut self, topic: &Topic) {
        let q = self.swarm.behaviour_mut().get_providers(topic.offer_key());
        self.queries
            .insert(q, Pending::Fetch(topic.clone(), BTreeSet::new()));
    }

    /// Takes a host's record of a topic if it is newer, and tells subscribers what changed.
    fn apply(&mut self, host: PeerId, body: RecordBody) {
        if body.expires_ms < now_ms() {
            return;
        }
        let hosts = self.known.entry(body.topic.clone()).or_default();
        let old: BTreeSet<Service> = match hosts.get(&host) {
            Some(k) if k.seq >= body.seq => return,
            Some(k) => k.services.iter().cloned().collect(),
            None => BTreeSet::new(),
        };
        let new: BTreeSet<Service> = body.services.iter().cloned().collect();
        let appeared: Vec<Service> = new.difference(&old).cloned().collect();
        let gone: Vec<Service> = old.difference(&new).cloned().collect();
        hosts.insert(
            host,
            Known {
                seq: body.seq,
                expires_ms: body.expires_ms,
                services: body.services,
            },
        );
        self.notify(&body.topic, host, appeared, gone);
    }

    fn notify(&self, topic: &Topic, host: PeerId, appeared: Vec<Service>, gone: Vec<Service>) {
        let Some(subs) = self.subs.get(topic) else {
            return;
        };
        for (conn, id) in subs {
            for service in &appeared {
                let found = Found {
                    service: service.clone(),
                    host: host.to_string(),
                };
                self.send(*conn, Reply::Appeared { id: *id, found });
            }
            for service in &gone {
                let found = Found {
                    service: service.clone(),
                    host: host.to_string(),
                };
                self.send(*conn, Reply::Gone { id: *id, found });
            }
        }
    }

    /// Forgets everything a host said: it left.
    fn forget(&mut self, host: PeerId) {
        let mut changes = Vec::new();
        for (topic, hosts) in self.known.iter_mut() {
            if let Some(k) = hosts.remove(&host) {
                changes.push((topic.clone(), k.services));
            }
        }
        for (topic, services) in changes {
            self.notify(&topic, host, Vec::new(), services);
        }
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let Some(datagram) = Datagram::decode(bytes) else {
            debug!(%from, "ignored a datagram that is not ours");
            return;
        };
        match datagram {
            Datagram::Push(record) => match record.verify() {
                Some((host, body)) if host != self.me => {
                    debug!(%host, app = %body.topic.app, "record pushed");
                    self.apply(host, body)
                }
                Some(_) => {}
                None => warn!(%from, "dropped a pushed record that fails verification"),
            },
            beacon => {
                let Some((peer, port)) = beacon.verify_beacon() else {
                    warn!(%from, "dropped a beacon that fails verification");
                    return;
                };
                if peer == self.me {
                    return;
                }
                let ip = from.ip();
                self.peer_ip.insert(peer, ip);
                let new = !self.hosts.contains_key(&peer);
                self.hosts.insert(
                    peer,
                    Host {
                        ip,
                        last_seen: Instant::now(),
                        by_beacon: true,
                    },
                );
                if new {
                    info!(%peer, %ip, "host joined");
                    self.swarm
                        .behaviour_mut()
                        .add_address(&peer, tcp_addr(ip, port));
                    self.rejoin(true);
                }
            }
        }
    }

    /// A host appeared. On this subnet it hears our records when we broadcast them again, and
    /// we hear its own the same way (it sees us appear too). A host behind a gateway hears
    /// nothing of that: our records go to the DHT again and our subscriptions look again.
    fn rejoin(&mut self, by_beacon: bool) {
        let topics: Vec<Topic> = self.own.keys().cloned().collect();
        for topic in topics {
            self.publish(&topic, false, !by_beacon);
        }
        if !by_beacon {
            let wanted: Vec<Topic> = self.subs.keys().cloned().collect();
            for topic in wanted {
                self.look_again(&topic);
            }
        }
    }

    /// Announces our interest in `topic` in the DHT again and looks up who offers it.
    fn look_again(&mut self, topic: &Topic) {
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .start_providing(topic.interest_key())
        {
            warn!(error = %e, "cannot announce a subscription");
        }
        self.fetch(topic);
    }

    /// Sends `bytes` to the broadcast address of every IPv4 subnet this host is on.
    fn broadcast(&self, bytes: &[u8]) {
        for ifa in if_addrs::get_if_addrs().unwrap_or_default() {
            if let if_addrs::IfAddr::V4(v4) = ifa.addr {
                if let (false, Some(broadcast)) = (v4.ip.is_loopback(), v4.broadcast) {
                    let to = SocketAddr::new(broadcast.into(), self.cfg.beacon_port);
                    if let Err(e) = self.udp.try_send_to(bytes, to) {
                        debug!(%to, error = %e, "broadcast not sent");
                    }
                }
            }
        }
    }

    fn beacon(&mut self) {
        let port = self
            .swarm
            .listeners()
            .filter_map(|a| {
                a.iter().find_map(|p| match p {
                    Protocol::Tcp(port) => Some(port),
                    _ => None,
                })
            })
            .next()
            .unwrap_or(self.cfg.listen.port());
        if let Some(b) = Datagram::beacon(&self.cfg.key, port, now_ms()) {
            self.broadcast(&b.encode());
        }
        let silent: Vec<PeerId> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.by_beacon && h.last_seen.elapsed() > 2 * self.cfg.beacon_period)
            .map(|(p, _)| *p)
            .collect();
        for peer in silent {
            info!(%peer, "host silent for two beacon periods: dropped");
            self.hosts.remove(&peer);
            self.swarm.behaviour_mut().remove_peer(&peer);
            self.forget(peer);
        }
    }

    fn check_processes(&mut self) {
        let mut changed = Vec::new();
        for (topic, entries) in self.local.iter_mut() {
            let before = entries.len();
            entries.retain(|(_, pid)| pid_alive(*pid));
            if entries.len() != before {
                changed.push(topic.clone());
            }
        }
        for topic in changed {
            info!(app = %topic.app, msg = %topic.msg, "a registering process ended: its services are withdrawn");
            self.publish(&topic, true, true);
            if self.local.get(&topic).is_some_and(|e| e.is_empty()) {
                self.local.remove(&topic);
            }
        }
    }

    /// One of [`REFRESH_SLOTS`] ticks per refresh period: renews and looks up again the topics
    /// of this slot, so the work (and the cluster's DHT traffic) is spread over the period.
    fn refresh(&mut self, tick: u64) {
        let slot = |t: &Topic| {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(t) % REFRESH_SLOTS
        };
        let due = tick % REFRESH_SLOTS;
        // Broadcast renewals every period; the DHT (records, announcements, lookups) every
        // DHT_EVERY periods, well within the record TTL.
        let dht = (tick / REFRESH_SLOTS + self.dht_phase).is_multiple_of(DHT_EVERY);
        let topics: Vec<Topic> = self
            .own
            .keys()
            .filter(|t| slot(t) == due)
            .cloned()
            .collect();
        for topic in topics {
            if self.local.contains_key(&topic) {
                self.publish(&topic, false, dht);
            } else {
                self.own.remove(&topic);
            }
        }
        let wanted: Vec<Topic> = self
            .subs
            .keys()
            .filter(|t| dht && slot(t) == due)
            .cloned()
            .collect();
        for topic in wanted {
            self.look_again(&topic);
        }
        let now = now_ms();
        let mut expired = Vec::new();
        for (topic, hosts) in self.known.iter_mut() {
            let gone: Vec<PeerId> = hosts
                .iter()
                .filter(|(_, k)| k.expires_ms < now)
                .map(|(h, _)| *h)
                .collect();
            for h in gone {
                if let Some(k) = hosts.remove(&h) {
                    expired.push((topic.clone(), h, k.services));
                }
            }
        }
        for (topic, host, services) in expired {
            self.notify(&topic, host, Vec::new(), services);
        }
        for gw in self.cfg.gateways.clone() {
            let addr = tcp_addr(gw.ip(), gw.port());
            if !self.peer_ip.values().any(|ip| *ip == gw.ip()) {
                let _ = self.swarm.dial(addr);
            }
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<kad::Event>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                let addr = endpoint.get_remote_address();
                if let Some(ip) = ip_of(addr) {
                    self.peer_ip.insert(peer_id, ip);
                    let gateway = self.cfg.gateways.iter().find(|g| g.ip() == ip);
                    if let (Some(gw), false) = (gateway, self.hosts.contains_key(&peer_id)) {
                        info!(peer = %peer_id, %ip, "gateway host joined");
                        self.swarm
                            .behaviour_mut()
                            .add_address(&peer_id, tcp_addr(ip, gw.port()));
                        self.hosts.insert(
                            peer_id,
                            Host {
                                ip,
                                last_seen: Instant::now(),
                                by_beacon: false,
                            },
                        );
                        self.rejoin(false);
                    }
                }
            }
            SwarmEvent::Behaviour(kad::Event::InboundRequest { request }) => match request {
                kad::InboundRequest::PutRecord {
                    record: Some(record),
                    source,
                    ..
                } => {
                    let valid = SignedRecord::decode(&record.value)
                        .and_then(|r| r.verify())
                        .is_some_and(|(host, body)| body.topic.record_key(&host) == record.key);
                    if valid {
                        let _ = self.swarm.behaviour_mut().store_mut().put(record);
                    } else {
                        warn!(%source, "refused to store a record that fails verification");
                    }
                }
                kad::InboundRequest::AddProvider {
                    record: Some(provider),
                } => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .store_mut()
                        .add_provider(provider);
                }
                _ => {}
            },
            SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            }) => {
                self.on_query(id, result);
                if step.last {
                    self.queries.remove(&id);
                }
            }
            _ => {}
        }
    }

    fn on_query(&mut self, id: QueryId, result: QueryResult) {
        let Some(pending) = self.queries.get_mut(&id) else {
            return;
        };
        match (pending, result) {
            (
                Pending::Fetch(topic, asked),
                QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })),
            ) => {
                let topic = topic.clone();
                // A record we hold that lasts past half its lifetime is fresh: not asked again.
                let fresh_until = now_ms() + self.cfg.record_ttl.as_millis() as u64 / 2;
                let known = self.known.get(&topic);
                let new: Vec<PeerId> = providers
                    .into_iter()
                    .filter(|p| *p != self.me && asked.insert(*p))
                    .filter(|p| {
                        known
                            .and_then(|k| k.get(p))
                            .is_none_or(|k| k.expires_ms < fresh_until)
                    })
                    .collect();
                for p in new {
                    let q = self.swarm.behaviour_mut().get_record(topic.record_key(&p));
                    self.queries.insert(q, Pending::Record(topic.clone(), p));
                }
            }
            (
                Pending::Push(topic, pushed),
                QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })),
            ) => {
                let Some(record) = self.own.get(topic) else {
                    return;
                };
                let bytes = Datagram::Push(record.clone()).encode();
                let targets: Vec<SocketAddr> = providers
                    .iter()
                    .filter(|p| **p != self.me && pushed.insert(**p))
                    .filter_map(|p| self.peer_ip.get(p))
                    .map(|ip| SocketAddr::new(*ip, self.cfg.beacon_port))
                    .collect();
                debug!(app = %topic.app, pushed = targets.len(), "pushing a record to interested hosts");
                for to in targets {
                    if let Err(e) = self.udp.try_send_to(&bytes, to) {
                        debug!(%to, error = %e, "push not sent");
                    }
                }
            }
            (
                Pending::Record(topic, host),
                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))),
            ) => {
                let (topic, host) = (topic.clone(), *host);
                match SignedRecord::decode(&found.record.value).and_then(|r| r.verify()) {
                    Some((signer, body)) if signer == host && body.topic == topic => {
                        debug!(%host, app = %topic.app, "record fetched");
                        self.apply(host, body)
                    }
                    _ => warn!(%host, "dropped a record that fails verification"),
                }
            }
            _ => {}
        }
    }
}

/// Accepts component connections; each gets an id and a line-based reader and writer.
async fn accept_components(listener: UnixListener, tx: mpsc::UnboundedSender<FromConn>) {
    let mut next = 0u64;
    while let Ok((stream, _)) = listener.accept().await {
        next += 1;
        let id = next;
        let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Reply>();
        if tx.send(FromConn::Open(id, reply_tx)).is_err() {
            return;
        }
        let (read, mut write) = stream.into_split();
        tokio::spawn(async move {
            while let Some(reply) = reply_rx.recv().await {
                let Ok(mut line) = serde_json::to_vec(&reply) else {
                    continue;
                };
                line.push(b'\n');
                if write.write_all(&line).await.is_err() {
                    return;
                }
            }
        });
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let msg = match serde_json::from_str::<Request>(&line) {
                    Ok(request) => FromConn::Request(id, request),
                    Err(e) => FromConn::Malformed(id, format!("malformed request: {e}")),
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
            let _ = tx.send(FromConn::Closed(id));
        });
    }
}
