//! What a daemon holds of other hosts' records: only for topics its components subscribed
//! to, at most [`MAX_KNOWN`] records, each expiring a TTL after receipt (the sender's TTL,
//! clamped to this host's), measured on this host's monotonic clock: hosts share no clock.
//!
//! A record that expires, or whose host leaves, leaves its sequence number behind, so a
//! replay of it (or of anything older) is not taken for news.

use crate::{
    limits::MAX_KNOWN,
    policy::Refused,
    record::{RecordBody, Service, Topic},
};
use libp2p::PeerId;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

/// One host's latest record of a topic.
#[derive(Clone, Debug)]
pub struct Known {
    pub seq: u64,
    pub expires: Instant,
    /// Empty once expired or its host left (the sequence number is kept).
    pub services: Vec<Service>,
}

/// Why a record was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTaken {
    #[error("no component subscribed to its topic")]
    Unwanted,
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("the table of known records is full")]
    Full,
}

/// What changed for subscribers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub appeared: Vec<Service>,
    pub gone: Vec<Service>,
}

pub struct Table {
    records: BTreeMap<Topic, BTreeMap<PeerId, Known>>,
    held: usize,
    /// The longest a record is kept without renewal, whatever its sender says.
    ttl: Duration,
}

impl Table {
    pub fn new(ttl: Duration) -> Self {
        Self {
            records: BTreeMap::new(),
            held: 0,
            ttl,
        }
    }

    /// Records of `topic` are taken from now on.
    pub fn watch(&mut self, topic: &Topic) {
        self.records.entry(topic.clone()).or_default();
    }

    /// Records of `topic` are dropped, and no longer taken.
    pub fn unwatch(&mut self, topic: &Topic) {
        if let Some(hosts) = self.records.remove(topic) {
            self.held -= hosts.len();
        }
    }

    /// Records held, expired ones included.
    pub fn held(&self) -> usize {
        self.held
    }

    pub fn get(&self, topic: &Topic) -> Option<&BTreeMap<PeerId, Known>> {
        self.records.get(topic)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Topic, &PeerId, &Known)> {
        self.records
            .iter()
            .flat_map(|(t, hosts)| hosts.iter().map(move |(h, k)| (t, h, k)))
    }

    /// Takes `host`'s record received at `now` if its topic is watched and it is newer than
    /// the one held.
    pub fn apply(
        &mut self,
        host: PeerId,
        body: RecordBody,
        now: Instant,
    ) -> Result<Change, NotTaken> {
        let full = self.held >= MAX_KNOWN;
        let hosts = self
            .records
            .get_mut(&body.topic)
            .ok_or(NotTaken::Unwanted)?;
        let old: BTreeSet<Service> = match hosts.get(&host) {
            Some(k) if k.seq >= body.seq => {
                return Err(Refused::Stale {
                    seq: body.seq,
                    held: k.seq,
                }
                .into())
            }
            Some(k) => k.services.iter().cloned().collect(),
            None if full => return Err(NotTaken::Full),
            None => {
                self.held += 1;
                BTreeSet::new()
            }
        };
        let ttl = Duration::from_millis(body.ttl_ms).min(self.ttl);
        let new: BTreeSet<Service> = body.services.iter().cloned().collect();
        let change = Change {
            appeared: new.difference(&old).cloned().collect(),
            gone: old.difference(&new).cloned().collect(),
        };
        hosts.insert(
            host,
            Known {
                seq: body.seq,
                expires: now + ttl,
                services: new.into_iter().collect(),
            },
        );
        Ok(change)
    }

    /// Empties the records expired at `now`: (topic, host, services gone) for each.
    pub fn expire(&mut self, now: Instant) -> Vec<(Topic, PeerId, Vec<Service>)> {
        let mut gone = Vec::new();
        for (topic, hosts) in self.records.iter_mut() {
            for (host, k) in hosts.iter_mut() {
                if k.expires < now && !k.services.is_empty() {
                    gone.push((topic.clone(), *host, std::mem::take(&mut k.services)));
                }
            }
        }
        gone
    }

    /// Empties every record of a host that left: (topic, services gone) for each.
    pub fn forget(&mut self, host: &PeerId) -> Vec<(Topic, Vec<Service>)> {
        self.records
            .iter_mut()
            .filter_map(|(topic, hosts)| {
                let k = hosts.get_mut(host)?;
                let services = std::mem::take(&mut k.services);
                (!services.is_empty()).then(|| (topic.clone(), services))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;

    fn topic(app: &str) -> Topic {
        Topic {
            app: app.into(),
            msg: "m".into(),
            kind: Kind::Pub,
        }
    }

    fn body(app: &str, host: PeerId, seq: u64, ttl_ms: u64) -> RecordBody {
        RecordBody {
            topic: topic(app),
            host: host.to_bytes(),
            seq,
            ttl_ms,
            services: vec![Service {
                app: app.into(),
                msg: "m".into(),
                kind: Kind::Pub,
                address: format!("tcp://{app}:1"),
            }],
        }
    }

    #[test]
    fn records_of_unsubscribed_topics_are_not_held() {
        let mut table = Table::new(Duration::from_secs(30));
        let host = PeerId::random();
        let now = Instant::now();
        for i in 0..10_000 {
            let r = table.apply(host, body(&format!("flood{i}"), host, 1, 1000), now);
            assert_eq!(r, Err(NotTaken::Unwanted));
        }
        assert_eq!(table.held(), 0);
        table.watch(&topic("wanted"));
        assert_eq!(
            table
                .apply(host, body("wanted", host, 1, 1000), now)
                .unwrap()
                .appeared
                .len(),
            1
        );
        assert_eq!(table.held(), 1);
        table.unwatch(&topic("wanted"));
        assert_eq!(table.held(), 0);
    }

    #[test]
    fn many_hosts_fill_the_table_to_its_cap_only() {
        let mut table = Table::new(Duration::from_secs(30));
        let now = Instant::now();
        table.watch(&topic("t"));
        for _ in 0..MAX_KNOWN + 100 {
            let host = PeerId::random();
            let _ = table.apply(host, body("t", host, 1, 1000), now);
        }
        assert_eq!(table.held(), MAX_KNOWN);
        let host = PeerId::random();
        assert_eq!(
            table.apply(host, body("t", host, 1, 1000), now),
            Err(NotTaken::Full)
        );
    }

    #[test]
    fn a_huge_expiry_is_clamped_to_the_ttl_from_receipt() {
        let ttl = Duration::from_secs(30);
        let mut table = Table::new(ttl);
        let host = PeerId::random();
        let now = Instant::now();
        table.watch(&topic("t"));
        table
            .apply(host, body("t", host, 1, u64::MAX), now)
            .unwrap();
        assert_eq!(table.get(&topic("t")).unwrap()[&host].expires, now + ttl);
        assert!(table.expire(now + ttl).is_empty());
        let gone = table.expire(now + ttl + Duration::from_millis(1));
        assert_eq!(gone.len(), 1);
    }

    #[test]
    fn a_skewed_sender_clock_changes_nothing() {
        // Sender and receiver clocks differ by a day either way: records carry no time, only
        // their TTL, so each lives its TTL from its receipt on the receiver's own clock.
        let ttl = Duration::from_secs(30);
        let day = Duration::from_secs(86_400);
        let base = Instant::now();
        for receiver_now in [base, base + day] {
            let mut table = Table::new(ttl);
            table.watch(&topic("t"));
            let host = PeerId::random();
            let change = table
                .apply(host, body("t", host, 1, 10_000), receiver_now)
                .unwrap();
            assert_eq!(change.appeared.len(), 1, "taken at once");
            let lives = Duration::from_millis(10_000);
            assert!(table.expire(receiver_now + lives).is_empty(), "still held");
            assert_eq!(table.expire(receiver_now + lives * 2).len(), 1, "expired");
        }
    }

    #[test]
    fn older_and_replayed_records_are_refused_even_after_expiry() {
        let mut table = Table::new(Duration::from_secs(30));
        let host = PeerId::random();
        let now = Instant::now();
        table.watch(&topic("t"));
        table.apply(host, body("t", host, 5, 1000), now).unwrap();
        assert!(matches!(
            table.apply(host, body("t", host, 5, 1000), now),
            Err(NotTaken::Refused(Refused::Stale { .. }))
        ));
        assert!(table.apply(host, body("t", host, 4, 1000), now).is_err());
        // Expired, or its host left: a replay of the last record does not bring it back.
        let later = now + Duration::from_secs(2);
        assert_eq!(table.expire(later).len(), 1);
        assert!(table.apply(host, body("t", host, 5, 1000), later).is_err());
        table.apply(host, body("t", host, 6, 1000), later).unwrap();
        assert_eq!(table.forget(&host).len(), 1);
        assert!(table.apply(host, body("t", host, 6, 1000), later).is_err());
    }
}
