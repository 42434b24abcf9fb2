//! The property the fuzz target `fuzz/fuzz_targets/discovery.rs` checks on the wire formats
//! (datagrams, and DHT values: signed records), kept here so the bounded run in this crate's
//! tests checks the very same: decoding any bytes never panics, whatever decodes is canonical
//! (encodes back to the same bytes), and verifying it never panics.

use crate::{
    policy::Publishers,
    record::{RecordBody, SignedRecord},
    wire::Datagram,
};
use borsh::BorshDeserialize;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, Service, Topic};
    use libp2p::identity::Keypair;
    use std::net::Ipv4Addr;

    /// A small deterministic generator (xorshift64*): the run is the same every time.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn seeds() -> Vec<Vec<u8>> {
        let key = Keypair::generate_ed25519();
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
        let record = SignedRecord::sign(&key, &body).unwrap();
        vec![
            Datagram::beacon(&key, Ipv4Addr::new(10, 0, 0, 1), 9939, 3)
                .unwrap()
                .encode(),
            Datagram::Push(record.clone()).encode(),
            record.encode(),
            Vec::new(),
        ]
    }

    /// A bounded fuzz run: 20,000 mutations (bit flips, byte changes, cuts, splices, length
    /// fields) of valid datagrams and DHT values, and random bytes.
    #[test]
    fn mutated_wire_formats_never_panic_and_decode_canonically() {
        let seeds = seeds();
        let mut rng = Rng(0x5eed_d15c_0fe2);
        for seed in &seeds {
            check(seed);
        }
        for _ in 0..20_000 {
            let mut data = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(6) {
                    0 if !data.is_empty() => {
                        let i = rng.below(data.len());
                        data[i] ^= 1 << rng.below(8);
                    }
                    1 if !data.is_empty() => {
                        let i = rng.below(data.len());
                        data[i] = rng.next() as u8;
                    }
                    2 => data.truncate(rng.below(data.len() + 1)),
                    3 => {
                        let other = &seeds[rng.below(seeds.len())];
                        let at = rng.below(data.len() + 1);
                        let from = rng.below(other.len() + 1);
                        data.splice(at..at, other[from..].iter().copied());
                    }
                    4 if data.len() >= 4 => {
                        // A length prefix set to something extreme.
                        let i = rng.below(data.len() - 3);
                        let v = [0u32, 1, u32::MAX, 0x8000_0000][rng.below(4)];
                        data[i..i + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => data = (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
                }
            }
            check(&data);
        }
    }
}
