//! The property the fuzz target `fuzz/fuzz_targets/discovery.rs` checks on the wire formats
//! (datagrams, and DHT values: signed records), kept here so the bounded run in this crate's
//! tests checks the very same: decoding any bytes never panics, whatever decodes is canonical
//! (encodes back to the same bytes), and verifying it never panics. `agora-fuzzing` runs it,
//! with [`seeds`], in its tests and in `agora bench fuzz`.

use crate::record::{Kind, Service, Topic};
use crate::{
    policy::Publishers,
    record::{RecordBody, SignedRecord},
    wire::Datagram,
};
use borsh::BorshDeserialize;
use libp2p::identity::Keypair;
use std::net::Ipv4Addr;

/// Panics if `data` breaks the property.
pub fn check(data: &[u8]) {
    if let Some(datagram) = Datagram::decode(data) {
        assert_eq!(datagram.encode(), data, "a datagram decodes canonically");
        let _ = datagram.verify_beacon();
        if let Datagram::Push(record) = &datagram {
            check_record(record);
        }
    }
    if let Some(record) = SignedRecord::decode(data) {
        assert_eq!(record.encode(), data, "a DHT value decodes canonically");
        check_record(&record);
    }
}

fn check_record(record: &SignedRecord) {
    if let Ok(body) = RecordBody::try_from_slice(&record.body) {
        assert_eq!(borsh::to_vec(&body).ok().as_deref(), Some(&record.body[..]));
    }
    let _ = Publishers::default().admit(record);
}

/// Valid wire inputs to mutate from: a beacon, a push, a DHT value, and nothing. The host key
/// is fixed so the seeds are the same on every run.
pub fn seeds() -> Vec<Vec<u8>> {
    let Ok(key) = Keypair::ed25519_from_bytes([7; 32]) else {
        return vec![Vec::new()];
    };
    let topic = Topic {
        app: "traffic".into(),
        msg: "density".into(),
        kind: Kind::Pub,
    };
    let body = RecordBody {
        topic: topic.clone(),
        host: key.public().to_peer_id().to_bytes(),
        seq: 7,
        ttl_ms: 30_000,
        services: vec![Service {
            app: topic.app.clone(),
            msg: topic.msg.clone(),
            kind: Kind::Pub,
            address: "tcp://10.0.0.5:4000".into(),
        }],
    };
    let mut seeds = Vec::new();
    if let Some(beacon) = Datagram::beacon(&key, Ipv4Addr::new(10, 0, 0, 1), 9939, 3) {
        seeds.push(beacon.encode());
    }
    if let Some(record) = SignedRecord::sign(&key, &body) {
        seeds.push(Datagram::Push(record.clone()).encode());
        seeds.push(record.encode());
    }
    seeds.push(Vec::new());
    seeds
}
