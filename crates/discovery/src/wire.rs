//! What hosts send each other over UDP: beacons (one subnet finds itself) and record pushes (a
//! host tells interested hosts its record changed, without waiting for their next lookup).

use crate::record::SignedRecord;
use borsh::{BorshDeserialize, BorshSerialize};
use libp2p::{identity, PeerId};

/// Datagrams start with this, so other UDP traffic on the port is told apart at once.
const MAGIC: &[u8; 8] = b"AGORADS1";
/// Largest datagram accepted.
pub const MAX_DATAGRAM: usize = 60 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Datagram {
    /// "I am this host, and my DHT listens on this TCP port of the address I send from."
    Beacon {
        public_key: Vec<u8>,
        tcp_port: u16,
        sent_ms: u64,
        signature: Vec<u8>,
    },
    /// A host's record of a topic, for hosts interested in it.
    Push(SignedRecord),
}

fn beacon_message(public_key: &[u8], tcp_port: u16, sent_ms: u64) -> Vec<u8> {
    let mut m = b"agora-discovery-beacon-v1".to_vec();
    m.extend_from_slice(public_key);
    m.extend_from_slice(&tcp_port.to_be_bytes());
    m.extend_from_slice(&sent_ms.to_be_bytes());
    m
}

impl Datagram {
    pub fn beacon(key: &identity::Keypair, tcp_port: u16, sent_ms: u64) -> Option<Self> {
        let public_key = key.public().encode_protobuf();
        let signature = key
            .sign(&beacon_message(&public_key, tcp_port, sent_ms))
            .ok()?;
        Some(Datagram::Beacon {
            public_key,
            tcp_port,
            sent_ms,
            signature,
        })
    }

    /// The sender's host and DHT port, if this is a beacon it signed.
    pub fn verify_beacon(&self) -> Option<(PeerId, u16)> {
        let Datagram::Beacon {
            public_key,
            tcp_port,
            sent_ms,
            signature,
        } = self
        else {
            return None;
        };
        let key = identity::PublicKey::try_decode_protobuf(public_key).ok()?;
        key.verify(&beacon_message(public_key, *tcp_port, *sent_ms), signature)
            .then(|| (key.to_peer_id(), *tcp_port))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(borsh::to_vec(self).unwrap_or_default());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let body = bytes.strip_prefix(MAGIC)?;
        if bytes.len() > MAX_DATAGRAM {
            return None;
        }
        Self::try_from_slice(body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacons_verify_only_as_signed() {
        let key = identity::Keypair::generate_ed25519();
        let b = Datagram::beacon(&key, 9939, 5).unwrap();
        let back = Datagram::decode(&b.encode()).unwrap();
        assert_eq!(
            back.verify_beacon(),
            Some((key.public().to_peer_id(), 9939))
        );
        let Datagram::Beacon {
            public_key,
            sent_ms,
            signature,
            ..
        } = back
        else {
            unreachable!()
        };
        let moved = Datagram::Beacon {
            public_key,
            tcp_port: 1,
            sent_ms,
            signature,
        };
        assert_eq!(
            moved.verify_beacon(),
            None,
            "a beacon's port cannot be changed"
        );
        assert_eq!(Datagram::decode(b"hello"), None);
        assert_eq!(Datagram::decode(b"AGORADS1\xff\xff\xff"), None);
    }
}
