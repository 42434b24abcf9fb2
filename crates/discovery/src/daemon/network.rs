//! The daemon's network side: beacons and pushes over UDP, and the DHT's events.

use super::{dht, Daemon, Pending};
use crate::{policy::Refused, record::SignedRecord, wire::Datagram};
use libp2p::{
    kad::{self, store::RecordStore, GetProvidersOk, GetRecordOk, QueryId, QueryResult},
    multiaddr::Protocol,
    swarm::SwarmEvent,
    Multiaddr, PeerId,
};
use std::{
    net::{IpAddr, SocketAddr},
    time::Instant,
};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

/// Broadcasts on a busy subnet are held against the sender's buffer until every host on the
/// subnet took them: the default buffer (about 200 kB) runs out with tens of hosts. Root may
/// force larger buffers; otherwise the system's maximum applies.
pub(super) fn enlarge_buffers(udp: &UdpSocket) {
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

pub(crate) fn tcp_addr(ip: IpAddr, port: u16) -> Multiaddr {
    Multiaddr::empty().with(ip.into()).with(Protocol::Tcp(port))
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl Daemon {
    pub(super) fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        if !self.limiter.allow(from.ip(), Instant::now()) {
            debug!(%from, "datagram over the source's rate limit: dropped");
            return;
        }
        let Some(datagram) = Datagram::decode(bytes) else {
            debug!(%from, "ignored a datagram that is not ours");
            return;
        };
        if let Datagram::Push(record) = &datagram {
            match self.cfg.publishers.admit(record) {
                Ok((host, body)) if host != self.me => {
                    debug!(%host, app = %body.topic.app, "record pushed");
                    self.apply(host, body)
                }
                Ok(_) => {}
                Err(Refused::Invalid) => {
                    warn!(%from, "dropped a pushed record that fails verification")
                }
                Err(reason) => warn!(%from, %reason, "refused a pushed record"),
            }
            return;
        }
        let Some(beacon) = datagram.verify_beacon() else {
            warn!(%from, "dropped a beacon that fails verification");
            return;
        };
        if beacon.host == self.me {
            return;
        }
        if !self.cfg.publishers.is_member(&beacon.host) {
            warn!(%from, host = %beacon.host, "refused a beacon: its host is not on the publishers list");
            return;
        }
        match self.hosts.beacon(&beacon, from.ip(), Instant::now()) {
            Ok(true) => {
                info!(peer = %beacon.host, ip = %beacon.address, "host joined");
                self.swarm.behaviour_mut().add_address(
                    &beacon.host,
                    tcp_addr(beacon.address.into(), beacon.tcp_port),
                );
                self.rejoin_soon(true);
            }
            Ok(false) => {}
            Err(reason) => warn!(%from, host = %beacon.host, %reason, "refused a beacon"),
        }
    }

    /// Sends `bytes` to the broadcast address of every IPv4 subnet this host is on.
    pub(super) fn broadcast(&self, bytes: &[u8]) {
        for (_, broadcast) in self.subnets() {
            self.send_to(bytes, broadcast);
        }
    }

    /// This host's IPv4 addresses with their subnets' broadcast addresses.
    fn subnets(&self) -> Vec<(std::net::Ipv4Addr, SocketAddr)> {
        if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|ifa| match ifa.addr {
                if_addrs::IfAddr::V4(v4) if !v4.ip.is_loopback() => Some((
                    v4.ip,
                    SocketAddr::new(v4.broadcast?.into(), self.cfg.beacon_port),
                )),
                _ => None,
            })
            .collect()
    }

    fn send_to(&self, bytes: &[u8], to: SocketAddr) {
        if let Err(e) = self.udp.try_send_to(bytes, to) {
            debug!(%to, error = %e, "datagram not sent");
        }
    }

    /// Beacons on each subnet (each signed with this host's address there and a new sequence
    /// number), drops the hosts that fell silent, and sends our records to the hosts that
    /// joined since the last beacon.
    pub(super) fn beacon(&mut self) {
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
        for (ip, broadcast) in self.subnets() {
            let Some(seq) = self.next_seq() else {
                return;
            };
            if let Some(b) = Datagram::beacon(&self.cfg.key, ip, port, seq) {
                self.send_to(&b.encode(), broadcast);
            }
        }
        for peer in self
            .hosts
            .drop_silent(Instant::now(), self.cfg.beacon_period)
        {
            info!(%peer, "host silent for two beacon periods: dropped");
            self.swarm.behaviour_mut().remove_peer(&peer);
            self.forget(peer);
        }
        if let Some(by_beacon) = self.rejoin_due.take() {
            self.rejoin(by_beacon);
        }
    }

    pub(super) fn on_swarm(&mut self, event: SwarmEvent<kad::Event>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => self.on_connected(peer_id, endpoint.get_remote_address()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.hosts.disconnected(&peer_id) => {
                info!(peer = %peer_id, "gateway host disconnected");
            }
            SwarmEvent::Behaviour(kad::Event::InboundRequest { request }) => match request {
                kad::InboundRequest::PutRecord {
                    record: Some(record),
                    source,
                    ..
                } => {
                    let publishers = &self.cfg.publishers;
                    let store = self.swarm.behaviour_mut().store_mut();
                    if let Err(reason) = dht::admit_put(store, publishers, record) {
                        warn!(%source, %reason, "refused to store a record");
                    }
                }
                kad::InboundRequest::AddProvider {
                    record: Some(provider),
                } => {
                    if self.cfg.publishers.is_member(&provider.provider) {
                        let store = self.swarm.behaviour_mut().store_mut();
                        if let Err(e) = store.add_provider(provider) {
                            debug!(error = %e, "provider not stored");
                        }
                    } else {
                        warn!(provider = %provider.provider, "refused a provider not on the publishers list");
                    }
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

    /// A DHT connection (authenticated by the peer's key): hosts not on the publishers list
    /// are sent away; a configured gateway is recognized by its key, not its address.
    fn on_connected(&mut self, peer: PeerId, addr: &Multiaddr) {
        if !self.cfg.publishers.is_member(&peer) {
            warn!(%peer, %addr, "refused a DHT connection: the host is not on the publishers list");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        let Some(ip) = ip_of(addr) else {
            return;
        };
        if !self.hosts.set_address(peer, ip) {
            debug!(%peer, "the table of peer addresses is full");
        }
        let Some(gw) = self.cfg.gateways.iter().find(|g| g.peer == peer) else {
            return;
        };
        let at = tcp_addr(gw.addr.ip(), gw.addr.port());
        if self.hosts.gateway(peer, ip, Instant::now()) {
            info!(%peer, %ip, "gateway host joined");
            self.swarm.behaviour_mut().add_address(&peer, at);
            self.rejoin_soon(false);
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
                let fresh_until = Instant::now() + self.cfg.record_ttl / 2;
                let known = self.known.get(&topic);
                let publishers = &self.cfg.publishers;
                let new: Vec<PeerId> = providers
                    .into_iter()
                    .filter(|p| *p != self.me && publishers.is_member(p) && asked.insert(*p))
                    .filter(|p| {
                        known
                            .and_then(|k| k.get(p))
                            .is_none_or(|k| k.expires < fresh_until)
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
                    .filter_map(|p| self.hosts.address(p))
                    .map(|ip| SocketAddr::new(ip, self.cfg.beacon_port))
                    .collect();
                debug!(app = %topic.app, pushed = targets.len(), "pushing a record to interested hosts");
                for to in targets {
                    self.send_to(&bytes, to);
                }
            }
            (
                Pending::Record(topic, host),
                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))),
            ) => {
                let (topic, host) = (topic.clone(), *host);
                let admitted = SignedRecord::decode(&found.record.value)
                    .ok_or(Refused::Invalid)
                    .and_then(|r| self.cfg.publishers.admit(&r));
                match admitted {
                    Ok((signer, body)) if signer == host && body.topic == topic => {
                        debug!(%host, app = %topic.app, "record fetched");
                        self.apply(host, body)
                    }
                    Ok(_) => warn!(%host, "dropped a fetched record stored under another key"),
                    Err(reason) => warn!(%host, %reason, "dropped a fetched record"),
                }
            }
            _ => {}
        }
    }
}
