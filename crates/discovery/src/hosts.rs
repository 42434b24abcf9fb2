//! The hosts a daemon hears: by beacon on its subnets, or through a gateway. Beacons are
//! taken only from the address they were signed for and only with a sequence number above
//! the last one heard from their host (kept after the host is dropped), so a recorded beacon
//! replayed later, from anywhere, neither keeps a departed host alive nor moves it.

use crate::{limits::MAX_HOSTS, wire::Beacon};
use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

/// A host on another subnet, named by its key and DHT address (`PEER_ID@IP:PORT`). A DHT
/// connection is taken for it only when the peer proves that key (the address alone may be
/// anyone's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    pub peer: PeerId,
    pub addr: SocketAddr,
}

impl Gateway {
    /// Its DHT address, with its key: dialling it checks the key.
    pub fn multiaddr(&self) -> Multiaddr {
        crate::daemon::tcp_addr(self.addr.ip(), self.addr.port()).with(Protocol::P2p(self.peer))
    }
}

impl std::str::FromStr for Gateway {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (peer, addr) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?}: a gateway is PEER_ID@IP:PORT"))?;
        Ok(Self {
            peer: peer
                .parse()
                .map_err(|e| format!("{peer:?} is not a host id: {e}"))?,
            addr: addr
                .parse()
                .map_err(|e| format!("{addr:?} is not IP:PORT: {e}"))?,
        })
    }
}

impl std::fmt::Display for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.peer, self.addr)
    }
}

#[derive(Clone, Debug)]
pub struct Host {
    pub ip: IpAddr,
    pub last_seen: Instant,
    /// Heard by beacon (dropped when silent); otherwise reached through a gateway.
    pub by_beacon: bool,
}

/// Why a beacon was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeaconRefused {
    #[error("signed for {signed} but sent from {from}")]
    WrongAddress { signed: IpAddr, from: IpAddr },
    #[error("sequence {seq} is not above {last}, the last heard")]
    Stale { seq: u64, last: u64 },
    #[error("the table of hosts is full")]
    Full,
}

#[derive(Default)]
pub struct Hosts {
    present: BTreeMap<PeerId, Host>,
    /// The last beacon sequence number heard from each host, present or not.
    beacon_seq: HashMap<PeerId, u64>,
    /// Where each peer's pushes go: from its beacons and its DHT connections.
    addresses: HashMap<PeerId, IpAddr>,
}

impl Hosts {
    pub fn present(&self) -> &BTreeMap<PeerId, Host> {
        &self.present
    }

    pub fn contains(&self, peer: &PeerId) -> bool {
        self.present.contains_key(peer)
    }

    pub fn address(&self, peer: &PeerId) -> Option<IpAddr> {
        self.addresses.get(peer).copied()
    }

    /// Entries held: present hosts, beacon sequence numbers, addresses.
    pub fn held(&self) -> (usize, usize, usize) {
        (
            self.present.len(),
            self.beacon_seq.len(),
            self.addresses.len(),
        )
    }

    /// Takes a verified beacon that arrived from `from` at `now`; true if its host is new.
    pub fn beacon(
        &mut self,
        b: &Beacon,
        from: IpAddr,
        now: Instant,
    ) -> Result<bool, BeaconRefused> {
        let signed = IpAddr::V4(b.address);
        if signed != from {
            return Err(BeaconRefused::WrongAddress { signed, from });
        }
        match self.beacon_seq.get(&b.host) {
            Some(&last) if b.seq <= last => return Err(BeaconRefused::Stale { seq: b.seq, last }),
            None if self.beacon_seq.len() >= MAX_HOSTS => return Err(BeaconRefused::Full),
            _ => {}
        }
        let new = !self.present.contains_key(&b.host);
        if new && (self.present.len() >= MAX_HOSTS || !self.set_address(b.host, from)) {
            return Err(BeaconRefused::Full);
        }
        self.beacon_seq.insert(b.host, b.seq);
        self.addresses.insert(b.host, from);
        self.present.insert(
            b.host,
            Host {
                ip: from,
                last_seen: now,
                by_beacon: true,
            },
        );
        Ok(new)
    }

    /// A gateway host connected; true if it is new.
    pub fn gateway(&mut self, peer: PeerId, ip: IpAddr, now: Instant) -> bool {
        if self.present.contains_key(&peer)
            || self.present.len() >= MAX_HOSTS
            || !self.set_address(peer, ip)
        {
            return false;
        }
        self.present.insert(
            peer,
            Host {
                ip,
                last_seen: now,
                by_beacon: false,
            },
        );
        true
    }

    /// Records where `peer` is reached (a DHT connection); false when the table is full.
    pub fn set_address(&mut self, peer: PeerId, ip: IpAddr) -> bool {
        if !self.addresses.contains_key(&peer) && self.addresses.len() >= MAX_HOSTS {
            return false;
        }
        self.addresses.insert(peer, ip);
        true
    }

    /// `peer` has no DHT connection left: its address is dropped unless it is a host heard by
    /// beacon, and a gateway host is dropped (it is dialled again).
    pub fn disconnected(&mut self, peer: &PeerId) -> bool {
        let by_beacon = self.present.get(peer).is_some_and(|h| h.by_beacon);
        if !by_beacon {
            self.addresses.remove(peer);
        }
        !by_beacon && self.present.remove(peer).is_some()
    }

    /// Removes the hosts heard by beacon that were silent for two beacon periods at `now`.
    pub fn drop_silent(&mut self, now: Instant, period: Duration) -> Vec<PeerId> {
        let silent: Vec<PeerId> = self
            .present
            .iter()
            .filter(|(_, h)| h.by_beacon && now.saturating_duration_since(h.last_seen) > 2 * period)
            .map(|(p, _)| *p)
            .collect();
        for p in &silent {
            self.present.remove(p);
            self.addresses.remove(p);
        }
        silent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn beacon(host: PeerId, last: u8, seq: u64) -> Beacon {
        Beacon {
            host,
            address: Ipv4Addr::new(10, 0, 0, last),
            tcp_port: 9939,
            seq,
        }
    }

    fn ip(last: u8) -> IpAddr {
        Ipv4Addr::new(10, 0, 0, last).into()
    }

    #[test]
    fn a_replayed_beacon_changes_nothing() {
        let mut hosts = Hosts::default();
        let host = PeerId::random();
        let t0 = Instant::now();
        let period = Duration::from_secs(1);
        assert_eq!(hosts.beacon(&beacon(host, 1, 10), ip(1), t0), Ok(true));
        // The same beacon sent again from another address: refused, the host stays where it
        // is.
        assert_eq!(
            hosts.beacon(&beacon(host, 1, 10), ip(66), t0),
            Err(BeaconRefused::WrongAddress {
                signed: ip(1),
                from: ip(66)
            })
        );
        assert_eq!(hosts.address(&host), Some(ip(1)));
        // The host falls silent and is dropped; its recorded beacons, replayed from its own
        // address, do not bring it back.
        let later = t0 + 3 * period;
        assert_eq!(hosts.drop_silent(later, period), vec![host]);
        for seq in [10, 9, 1] {
            assert_eq!(
                hosts.beacon(&beacon(host, 1, seq), ip(1), later),
                Err(BeaconRefused::Stale { seq, last: 10 })
            );
        }
        assert!(!hosts.contains(&host));
        // Its next real beacon does.
        assert_eq!(hosts.beacon(&beacon(host, 1, 11), ip(1), later), Ok(true));
        assert_eq!(hosts.beacon(&beacon(host, 1, 12), ip(1), later), Ok(false));
    }

    #[test]
    fn many_hosts_stay_under_the_cap() {
        let mut hosts = Hosts::default();
        let now = Instant::now();
        for _ in 0..MAX_HOSTS + 50 {
            let _ = hosts.beacon(&beacon(PeerId::random(), 1, 1), ip(1), now);
            hosts.gateway(PeerId::random(), ip(2), now);
            hosts.set_address(PeerId::random(), ip(3));
        }
        let (present, seqs, addresses) = hosts.held();
        assert!(present <= MAX_HOSTS && seqs <= MAX_HOSTS && addresses <= MAX_HOSTS);
        assert_eq!(
            hosts.beacon(&beacon(PeerId::random(), 1, 1), ip(1), now),
            Err(BeaconRefused::Full)
        );
    }

    #[test]
    fn gateways_are_named_by_key() {
        let peer = PeerId::random();
        let gw: Gateway = format!("{peer}@10.0.1.1:9939").parse().unwrap();
        assert_eq!(gw.to_string().parse::<Gateway>().unwrap(), gw);
        assert!(gw
            .multiaddr()
            .to_string()
            .ends_with(&format!("/p2p/{peer}")));
        // An address alone no longer names a gateway.
        assert!("10.0.1.1:9939".parse::<Gateway>().is_err());
        assert!("nobody@10.0.1.1:9939".parse::<Gateway>().is_err());
    }

    #[test]
    fn gateway_hosts_and_peer_addresses_are_pruned_on_disconnect() {
        let mut hosts = Hosts::default();
        let now = Instant::now();
        let (gw, beaconing, peer) = (PeerId::random(), PeerId::random(), PeerId::random());
        assert!(hosts.gateway(gw, ip(2), now));
        hosts.beacon(&beacon(beaconing, 1, 1), ip(1), now).unwrap();
        assert!(hosts.set_address(peer, ip(3)));
        assert!(hosts.disconnected(&gw));
        assert!(!hosts.disconnected(&beaconing));
        assert!(!hosts.disconnected(&peer));
        assert_eq!(hosts.held(), (1, 1, 1));
        assert_eq!(hosts.address(&beaconing), Some(ip(1)));
    }
}
