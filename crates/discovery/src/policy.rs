//! Who may publish what: the deployment's list of host keys. Records are self-signed by their
//! host, so a signature alone proves nothing about the right to a topic: any fresh key could
//! publish any service. Every path a record takes (a push, a DHT store, a DHT fetch, a local
//! registration) checks it against this list, and hosts not on it are not heard at all
//! (beacons, DHT connections).
//!
//! The file (the same on every host of a deployment), one host a line, `#` starts a comment:
//!
//! ```text
//! 12D3KooW...A              # a member: it finds services and serves the DHT, publishes none
//! 12D3KooW...B *            # may publish services of any application
//! 12D3KooW...C traffic sensors   # may publish services of these applications only
//! ```

use crate::{
    record::{RecordBody, SignedRecord},
    DiscoveryError,
};
use libp2p::PeerId;
use std::{
    collections::{BTreeSet, HashMap},
    path::Path,
};

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the record fails verification")]
    Invalid,
    #[error("host {0} is not on the publishers list")]
    NotMember(PeerId),
    #[error("host {host} may not publish services of application {app:?}")]
    NotAllowed { host: PeerId, app: String },
    #[error("sequence {seq} is not newer than {held}, already held")]
    Stale { seq: u64, held: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Apps {
    All,
    Only(BTreeSet<String>),
}

/// The deployment's publishers list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Publishers {
    hosts: HashMap<PeerId, Apps>,
}

impl Publishers {
    /// Reads the list at `path`.
    pub fn load(path: &Path) -> Result<Self, DiscoveryError> {
        let bad = |reason: String| DiscoveryError::Publishers {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::parse(&text).map_err(bad)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut hosts = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(first) = words.next() else {
                continue;
            };
            let host: PeerId = first
                .parse()
                .map_err(|e| format!("line {}: {first:?} is not a host id: {e}", n + 1))?;
            let rest: BTreeSet<String> = words.map(str::to_string).collect();
            let apps = if rest.contains("*") {
                Apps::All
            } else {
                Apps::Only(rest)
            };
            if hosts.insert(host, apps).is_some() {
                return Err(format!("line {}: host {host} is listed twice", n + 1));
            }
        }
        Ok(Self { hosts })
    }

    /// A list of these hosts, each allowed to publish anything.
    pub fn everyone(hosts: impl IntoIterator<Item = PeerId>) -> Self {
        Self {
            hosts: hosts.into_iter().map(|h| (h, Apps::All)).collect(),
        }
    }

    /// The list as a file's text.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<String> = self
            .hosts
            .iter()
            .map(|(host, apps)| match apps {
                Apps::All => format!("{host} *"),
                Apps::Only(apps) => std::iter::once(host.to_string())
                    .chain(apps.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect();
        lines.sort();
        lines.join("\n") + "\n"
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// A host of the deployment: heard, and served by the DHT.
    pub fn is_member(&self, host: &PeerId) -> bool {
        self.hosts.contains_key(host)
    }

    pub fn may_publish(&self, host: &PeerId, app: &str) -> Result<(), Refused> {
        match self.hosts.get(host) {
            None => Err(Refused::NotMember(*host)),
            Some(Apps::All) => Ok(()),
            Some(Apps::Only(apps)) if apps.contains(app) => Ok(()),
            Some(Apps::Only(_)) => Err(Refused::NotAllowed {
                host: *host,
                app: app.to_string(),
            }),
        }
    }

    /// The record's host and body if its signature holds and its host may publish its topic.
    pub fn admit(&self, record: &SignedRecord) -> Result<(PeerId, RecordBody), Refused> {
        let (host, body) = record.verify().ok_or(Refused::Invalid)?;
        self.may_publish(&host, &body.topic.app)?;
        Ok((host, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, Service, Topic};
    use libp2p::identity::Keypair;

    fn record(key: &Keypair, app: &str) -> SignedRecord {
        let topic = Topic {
            app: app.into(),
            msg: "m".into(),
            kind: Kind::Pub,
        };
        let body = RecordBody {
            topic,
            host: key.public().to_peer_id().to_bytes(),
            seq: 1,
            ttl_ms: 1000,
            services: vec![Service {
                app: app.into(),
                msg: "m".into(),
                kind: Kind::Pub,
                address: "tcp://x:1".into(),
            }],
        };
        SignedRecord::sign(key, &body).unwrap()
    }

    #[test]
    fn a_fresh_key_cannot_publish_under_an_existing_topic() {
        let (any, traffic, member, fresh) = (
            Keypair::generate_ed25519(),
            Keypair::generate_ed25519(),
            Keypair::generate_ed25519(),
            Keypair::generate_ed25519(),
        );
        let id = |k: &Keypair| k.public().to_peer_id();
        let list = Publishers::parse(&format!(
            "# the deployment\n{} *\n{} traffic  # only traffic\n\n{}\n",
            id(&any),
            id(&traffic),
            id(&member)
        ))
        .unwrap();
        assert_eq!(list.len(), 3);
        assert!(list.admit(&record(&any, "traffic")).is_ok());
        assert!(list.admit(&record(&any, "sensors")).is_ok());
        assert!(list.admit(&record(&traffic, "traffic")).is_ok());
        assert_eq!(
            list.admit(&record(&traffic, "sensors")),
            Err(Refused::NotAllowed {
                host: id(&traffic),
                app: "sensors".into()
            })
        );
        assert!(matches!(
            list.admit(&record(&member, "traffic")),
            Err(Refused::NotAllowed { .. })
        ));
        assert!(list.is_member(&id(&member)));
        assert_eq!(
            list.admit(&record(&fresh, "traffic")),
            Err(Refused::NotMember(id(&fresh)))
        );
        assert!(!list.is_member(&id(&fresh)));
        // The text form reads back the same.
        assert_eq!(Publishers::parse(&list.to_text()).unwrap(), list);
    }

    #[test]
    fn malformed_lists_are_refused() {
        let key = Keypair::generate_ed25519().public().to_peer_id();
        assert!(Publishers::parse("not-a-peer-id *").is_err());
        assert!(Publishers::parse(&format!("{key}\n{key} *")).is_err());
        assert!(Publishers::parse("# nothing\n\n").unwrap().is_empty());
    }
}
