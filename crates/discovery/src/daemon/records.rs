//! Publishing this host's records, taking other hosts' records, and telling subscribers.

use super::{Daemon, Pending, REFRESH_SLOTS};
use crate::{
    control::{Found, Reply},
    record::{RecordBody, Service, SignedRecord, Topic},
    wire::Datagram,
};
use libp2p::{
    kad::{self, Quorum},
    PeerId,
};
use std::{collections::BTreeSet, time::Instant};
use tracing::{debug, info, warn};

impl Daemon {
    /// Signs a new record of `topic` and broadcasts it to the subnet (a change reaches its
    /// subscribers at once; a renewal keeps their copies from expiring). With `dht`, stores it
    /// in the DHT and (re)announces the topic there; with `change`, also tells the interested
    /// hosts the DHT knows of (those behind gateways).
    pub(super) fn publish(&mut self, topic: &Topic, change: bool, dht: bool) {
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
        let Some(seq) = self.next_seq() else {
            return;
        };
        let body = RecordBody {
            topic: topic.clone(),
            host: self.me.to_bytes(),
            seq,
            ttl_ms: self.cfg.record_ttl.as_millis() as u64,
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
        self.apply(self.me, body);
        if change {
            let q = self
                .swarm
                .behaviour_mut()
                .get_providers(topic.interest_key());
            self.queries
                .insert(q, Pending::Push(topic.clone(), BTreeSet::new()));
        }
    }

    pub(super) fn fetch(&mut self, topic: &Topic) {
        let q = self.swarm.behaviour_mut().get_providers(topic.offer_key());
        self.queries
            .insert(q, Pending::Fetch(topic.clone(), BTreeSet::new()));
    }

    /// Takes a host's record of a topic if it is wanted and newer, and tells subscribers what
    /// changed.
    pub(super) fn apply(&mut self, host: PeerId, body: RecordBody) {
        let topic = body.topic.clone();
        match self.known.apply(host, body, Instant::now()) {
            Ok(change) => self.notify(&topic, host, change.appeared, change.gone),
            Err(reason) => debug!(%host, app = %topic.app, %reason, "record not taken"),
        }
    }

    pub(super) fn notify(
        &self,
        topic: &Topic,
        host: PeerId,
        appeared: Vec<Service>,
        gone: Vec<Service>,
    ) {
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
    pub(super) fn forget(&mut self, host: PeerId) {
        for (topic, services) in self.known.forget(&host) {
            self.notify(&topic, host, Vec::new(), services);
        }
    }

    /// A host appeared: our records go out again at the next beacon tick, once however many
    /// hosts appear meanwhile.
    pub(super) fn rejoin_soon(&mut self, by_beacon: bool) {
        self.rejoin_due = Some(self.rejoin_due.unwrap_or(true) && by_beacon);
    }

    /// On this subnet a new host hears our records when we broadcast them again (as signed:
    /// nothing is signed anew), and we hear its own the same way (it sees us appear too). A
    /// host behind a gateway hears nothing of that: our records go to the DHT again and our
    /// subscriptions look again.
    pub(super) fn rejoin(&mut self, by_beacon: bool) {
        if by_beacon {
            for record in self.own.values() {
                self.broadcast(&Datagram::Push(record.clone()).encode());
            }
            return;
        }
        let topics: Vec<Topic> = self.own.keys().cloned().collect();
        for topic in topics {
            self.publish(&topic, false, true);
        }
        let wanted: Vec<Topic> = self.subs.keys().cloned().collect();
        for topic in wanted {
            self.look_again(&topic);
        }
    }

    /// Announces our interest in `topic` in the DHT again and looks up who offers it.
    pub(super) fn look_again(&mut self, topic: &Topic) {
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .start_providing(topic.interest_key())
        {
            warn!(error = %e, "cannot announce a subscription");
        }
        self.fetch(topic);
    }

    pub(super) fn check_processes(&mut self) {
        let mut changed = Vec::new();
        for (topic, entries) in self.local.iter_mut() {
            let before = entries.len();
            entries.retain(|(_, process)| process.alive());
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
    pub(super) fn refresh(&mut self, tick: u64) {
        let slot = |t: &Topic| {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(t) % REFRESH_SLOTS
        };
        let due = tick % REFRESH_SLOTS;
        // Broadcast renewals every period; the DHT (records, announcements, lookups) every
        // few periods, twice within the record TTL.
        let dht = (tick / REFRESH_SLOTS + self.dht_phase).is_multiple_of(self.cfg.dht_every());
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
        for (topic, host, services) in self.known.expire(Instant::now()) {
            self.notify(&topic, host, Vec::new(), services);
        }
        for gw in &self.cfg.gateways {
            if !self.swarm.is_connected(&gw.peer) {
                if let Err(e) = self.swarm.dial(gw.multiaddr()) {
                    debug!(gateway = %gw, error = %e, "cannot dial a gateway");
                }
            }
        }
    }
}
