//! What hosts send each other over UDP: beacons (one subnet finds itself) and record pushes (a
//! host tells interested hosts its record changed, without waiting for their next lookup).
//!
//! Wire version 2: beacons carry a per-host sequence number and the sender's signed address
//! instead of a send time; records carry a TTL instead of an absolute expiry.

use crate::record::SignedRecord;
use borsh::{BorshDeserialize, BorshSerialize};
use libp2p::{identity, PeerId};
use std::net::Ipv4Addr;

/// Datagrams start with this, so other UDP traffic on the port (and version 1 hosts) are told
/// apart at once.
const MAGIC: &[u8; 8] = b"AGORADS2";
/// Largest datagram accepted.
pub const MAX_DATAGRAM: usize = 60 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Datagram {
    /// "I am this host, at this address, and my DHT listens on this TCP port." `seq` rises
    /// with every beacon the host sends, across its restarts, so a replay is told apart.
    Beacon {
        public_key: Vec<u8>,
        address: [u8; 4],
        tcp_port: u16,
        seq: u64,
        signature: Vec<u8>,
    },
    /// A host's record of a topic, for hosts interested in it.
    Push(SignedRecord),
}

/// A beacon's content once its signature checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beacon {
    pub host: PeerId,
    /// The address the host says it sends from (signed: a copy sent from elsewhere is refused).
    pub address: Ipv4Addr,
    pub tcp_port: u16,
    pub seq: u64,
}

fn beacon_message(public_key: &[u8], address: [u8; 4], tcp_port: u16, seq: u64) -> Vec<u8> {
    let mut m = b"agora-discovery-beacon-v2".to_vec();
    m.extend_from_slice(&(public_key.len() as u32).to_be_bytes());
    m.extend_from_slice(public_key);
    m.extend_from_slice(&address);
    m.extend_from_slice(&tcp_port.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m
}

impl Datagram {
    pub fn beacon(
        key: &identity::Keypair,
        address: Ipv4Addr,
        tcp_port: u16,
        seq: u64,
    ) -> Option<Self> {
        let public_key = key.public().encode_protobuf();
        let address = address.octets();
        let signature = key
            .sign(&beacon_message(&public_key, address, tcp_port, seq))
            .ok()?;
        Some(Datagram::Beacon {
            public_key,
            address,
            tcp_port,
            seq,
            signature,
        })
    }

    /// The beacon's content, if this is a beacon its key signed.
    pub fn verify_beacon(&self) -> Option<Beacon> {
        let Datagram::Beacon {
            public_key,
            address,
            tcp_port,
            seq,
            signature,
        } = self
        else {
            return None;
        };
        let key = identity::PublicKey::try_decode_protobuf(public_key).ok()?;
        key.verify(
            &beacon_message(public_key, *address, *tcp_port, *seq),
            signature,
        )
        .then(|| Beacon {
            host: key.to_peer_id(),
            address: Ipv4Addr::from(*address),
            tcp_port: *tcp_port,
            seq: *seq,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(borsh::to_vec(self).unwrap_or_default());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_DATAGRAM {
            return None;
        }
        let body = bytes.strip_prefix(MAGIC)?;
        Self::try_from_slice(body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacons_verify_only_as_signed() {
        let key = identity::Keypair::generate_ed25519();
        let at = Ipv4Addr::new(10, 0, 0, 1);
        let b = Datagram::beacon(&key, at, 9939, 5).unwrap();
        let back = Datagram::decode(&b.encode()).unwrap();
        assert_eq!(
            back.verify_beacon(),
            Some(Beacon {
                host: key.public().to_peer_id(),
                address: at,
                tcp_port: 9939,
                seq: 5
            })
        );
        let Datagram::Beacon {
            public_key,
            address,
            seq,
            signature,
            ..
        } = back.clone()
        else {
            unreachable!()
        };
        let moved = Datagram::Beacon {
            public_key: public_key.clone(),
            address,
            tcp_port: 1,
            seq,
            signature: signature.clone(),
        };
        assert_eq!(moved.verify_beacon(), None, "the port is signed");
        let readdressed = Datagram::Beacon {
            public_key: public_key.clone(),
            address: [10, 0, 0, 2],
            tcp_port: 9939,
            seq,
            signature: signature.clone(),
        };
        assert_eq!(readdressed.verify_beacon(), None, "the address is signed");
        let renumbered = Datagram::Beacon {
            public_key,
            address,
            tcp_port: 9939,
            seq: seq + 1,
            signature,
        };
        assert_eq!(renumbered.verify_beacon(), None, "the sequence is signed");
        assert_eq!(Datagram::decode(b"hello"), None);
        assert_eq!(Datagram::decode(b"AGORADS2\xff\xff\xff"), None);
        // A version 1 datagram is not taken for a version 2 one.
        let mut v1 = b"AGORADS1".to_vec();
        v1.extend_from_slice(&b.encode()[8..]);
        assert_eq!(Datagram::decode(&v1), None);
    }
}
