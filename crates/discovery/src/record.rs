//! Services, the topics they are found under, and the signed records hosts publish.

use borsh::{BorshDeserialize, BorshSerialize};
use libp2p::{identity, kad::RecordKey, PeerId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a service communicates; each kind is found by its counterpart.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pub,
    Sub,
    Req,
    Rep,
    Clt,
    Srv,
}

impl Kind {
    /// The kind a service of this kind looks for: sub finds pub, clt finds srv, req finds rep,
    /// and the other way round.
    pub fn counterpart(self) -> Kind {
        match self {
            Kind::Pub => Kind::Sub,
            Kind::Sub => Kind::Pub,
            Kind::Req => Kind::Rep,
            Kind::Rep => Kind::Req,
            Kind::Clt => Kind::Srv,
            Kind::Srv => Kind::Clt,
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pub" => Kind::Pub,
            "sub" => Kind::Sub,
            "req" => Kind::Req,
            "rep" => Kind::Rep,
            "clt" => Kind::Clt,
            "srv" => Kind::Srv,
            _ => {
                return Err(format!(
                    "unknown kind {s:?}: one of pub, sub, req, rep, clt, srv"
                ))
            }
        })
    }
}

/// Longest application name, message type or address accepted.
pub const MAX_FIELD: usize = 256;
/// Most services one host lists under one topic.
pub const MAX_SERVICES_PER_RECORD: usize = 64;

/// One service a component offers: found by components of the counterpart kind.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Service {
    pub app: String,
    pub msg: String,
    pub kind: Kind,
    /// Where to reach it (e.g. `tcp://10.0.0.5:4000`); opaque to discovery.
    pub address: String,
}

impl Service {
    pub fn topic(&self) -> Topic {
        Topic {
            app: self.app.clone(),
            msg: self.msg.clone(),
            kind: self.kind,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("app", &self.app),
            ("msg", &self.msg),
            ("address", &self.address),
        ] {
            if v.is_empty() || v.len() > MAX_FIELD {
                return Err(format!("{name} must have 1 to {MAX_FIELD} bytes"));
            }
        }
        Ok(())
    }
}

/// What services are found under: an application, a message type and a kind.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Topic {
    pub app: String,
    pub msg: String,
    pub kind: Kind,
}

impl Topic {
    fn hash(&self, what: &str) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"agora-discovery-v2/");
        h.update(what.as_bytes());
        for part in [self.app.as_bytes(), self.msg.as_bytes()] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        h.update([self.kind as u8]);
        h.finalize().to_vec()
    }

    /// Hosts that offer services of this topic provide this key.
    pub fn offer_key(&self) -> RecordKey {
        RecordKey::new(&self.hash("offer"))
    }

    /// Hosts whose components look for services of this topic provide this key.
    pub fn interest_key(&self) -> RecordKey {
        RecordKey::new(&self.hash("interest"))
    }

    /// Where `host`'s record of this topic lives in the DHT.
    pub fn record_key(&self, host: &PeerId) -> RecordKey {
        let mut k = self.hash("record");
        k.extend_from_slice(&host.to_bytes());
        RecordKey::new(&k)
    }
}

/// What a host says about one topic: its services (none: they are gone), a sequence number so
/// newer records win, and how long it holds unless renewed, counted from when a host receives
/// it (hosts share no clock).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecordBody {
    pub topic: Topic,
    pub host: Vec<u8>,
    pub seq: u64,
    /// How long after receipt the record is void unless renewed; receivers clamp it to their
    /// own record TTL.
    pub ttl_ms: u64,
    pub services: Vec<Service>,
}

/// A record signed by its host's key (the key the host's peer id derives from).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedRecord {
    pub body: Vec<u8>,
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
}

const RECORD_DOMAIN: &[u8] = b"agora-discovery-record-v2";

fn domain(bytes: &[u8]) -> Vec<u8> {
    let mut m = RECORD_DOMAIN.to_vec();
    m.extend_from_slice(bytes);
    m
}

impl SignedRecord {
    pub fn sign(key: &identity::Keypair, body: &RecordBody) -> Option<Self> {
        let body = borsh::to_vec(body).ok()?;
        let signature = key.sign(&domain(&body)).ok()?;
        Some(Self {
            body,
            public_key: key.public().encode_protobuf(),
            signature,
        })
    }

    /// The body and its host, if the signature is the host's and the body is well formed.
    pub fn verify(&self) -> Option<(PeerId, RecordBody)> {
        let key = identity::PublicKey::try_decode_protobuf(&self.public_key).ok()?;
        if !key.verify(&domain(&self.body), &self.signature) {
            return None;
        }
        let body = RecordBody::try_from_slice(&self.body).ok()?;
        let host = PeerId::from_bytes(&body.host).ok()?;
        let sane = host == key.to_peer_id()
            && body.services.len() <= MAX_SERVICES_PER_RECORD
            && body
                .services
                .iter()
                .all(|s| s.topic() == body.topic && s.check().is_ok());
        sane.then_some((host, body))
    }

    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Self::try_from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(host: PeerId) -> RecordBody {
        RecordBody {
            topic: Topic {
                app: "a".into(),
                msg: "m".into(),
                kind: Kind::Pub,
            },
            host: host.to_bytes(),
            seq: 1,
            ttl_ms: 10,
            services: vec![Service {
                app: "a".into(),
                msg: "m".into(),
                kind: Kind::Pub,
                address: "x".into(),
            }],
        }
    }

    #[test]
    fn only_the_hosts_own_signature_verifies() {
        let key = identity::Keypair::generate_ed25519();
        let other = identity::Keypair::generate_ed25519();
        let host = key.public().to_peer_id();
        let rec = SignedRecord::sign(&key, &body(host)).unwrap();
        assert_eq!(rec.verify().map(|(h, _)| h), Some(host));
        // Signed by someone else in the host's name.
        assert!(SignedRecord::sign(&other, &body(host))
            .unwrap()
            .verify()
            .is_none());
        // Tampered body.
        let mut bad = rec.clone();
        let last = bad.body.len() - 1;
        bad.body[last] ^= 1;
        assert!(bad.verify().is_none());
        // A service of another topic smuggled into the record.
        let mut mixed = body(host);
        mixed.services[0].kind = Kind::Sub;
        assert!(SignedRecord::sign(&key, &mixed).unwrap().verify().is_none());
        assert!(SignedRecord::decode(&[1, 2, 3]).is_none());
    }
}
