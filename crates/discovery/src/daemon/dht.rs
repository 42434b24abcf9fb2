//! The DHT's store, bounded, and what it takes from others: records are stored only if their
//! signature holds, their host may publish their topic, they sit under their own key, they are
//! newer than the copy held, and their host has room left.

use crate::{
    limits::{MAX_DHT_RECORDS, MAX_DHT_RECORDS_PER_HOST, MAX_PROVIDERS_PER_KEY, MAX_PROVIDER_KEYS},
    policy::{Publishers, Refused},
    record::{RecordBody, SignedRecord},
    wire::MAX_DATAGRAM,
};
use borsh::BorshDeserialize;
use libp2p::{
    kad::{
        store::{MemoryStore, MemoryStoreConfig, RecordStore},
        Record,
    },
    PeerId,
};

pub(super) fn store(me: PeerId) -> MemoryStore {
    MemoryStore::with_config(
        me,
        MemoryStoreConfig {
            max_records: MAX_DHT_RECORDS,
            max_value_bytes: MAX_DATAGRAM,
            max_providers_per_key: MAX_PROVIDERS_PER_KEY,
            max_provided_keys: MAX_PROVIDER_KEYS,
        },
    )
}

/// Why a record offered for storage was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum PutRefused {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("the record is not under its own key")]
    WrongKey,
    #[error("its host holds {MAX_DHT_RECORDS_PER_HOST} records here already")]
    HostFull,
    #[error("the store: {0}")]
    Store(String),
}

/// The sequence number of the record under `record`'s key, if one is held.
fn held_seq(store: &MemoryStore, record: &Record) -> Option<u64> {
    let held = store.get(&record.key)?;
    let signed = SignedRecord::decode(&held.value)?;
    Some(RecordBody::try_from_slice(&signed.body).ok()?.seq)
}

/// Stores `record`, offered by another host, if it may be stored.
pub(super) fn admit_put(
    store: &mut MemoryStore,
    publishers: &Publishers,
    record: Record,
) -> Result<(), PutRefused> {
    let signed = SignedRecord::decode(&record.value).ok_or(Refused::Invalid)?;
    let (host, body) = publishers.admit(&signed)?;
    if body.topic.record_key(&host) != record.key {
        return Err(PutRefused::WrongKey);
    }
    match held_seq(store, &record) {
        Some(held) if held >= body.seq => {
            return Err(Refused::Stale {
                seq: body.seq,
                held,
            }
            .into())
        }
        Some(_) => {}
        None => {
            let host = host.to_bytes();
            let of_host = store
                .records()
                .filter(|r| r.key.as_ref().ends_with(&host))
                .count();
            if of_host >= MAX_DHT_RECORDS_PER_HOST {
                return Err(PutRefused::HostFull);
            }
        }
    }
    store
        .put(record)
        .map_err(|e| PutRefused::Store(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, Service, Topic};
    use libp2p::identity::Keypair;

    fn record(key: &Keypair, app: &str, seq: u64) -> Record {
        let host = key.public().to_peer_id();
        let topic = Topic {
            app: app.into(),
            msg: "m".into(),
            kind: Kind::Pub,
        };
        let body = RecordBody {
            topic: topic.clone(),
            host: host.to_bytes(),
            seq,
            ttl_ms: 1000,
            services: vec![Service {
                app: app.into(),
                msg: "m".into(),
                kind: Kind::Pub,
                address: format!("tcp://{seq}:1"),
            }],
        };
        Record::new(
            topic.record_key(&host),
            SignedRecord::sign(key, &body).unwrap().encode(),
        )
    }

    #[test]
    fn a_fresh_key_cannot_store_a_record() {
        let (member, fresh) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let publishers = Publishers::everyone([member.public().to_peer_id()]);
        let mut store = store(PeerId::random());
        assert_eq!(
            admit_put(&mut store, &publishers, record(&fresh, "traffic", 1)),
            Err(PutRefused::Refused(Refused::NotMember(
                fresh.public().to_peer_id()
            )))
        );
        admit_put(&mut store, &publishers, record(&member, "traffic", 1)).unwrap();
        // Under someone else's key.
        let mut moved = record(&member, "traffic", 2);
        moved.key = record(&member, "other", 2).key;
        assert_eq!(
            admit_put(&mut store, &publishers, moved),
            Err(PutRefused::WrongKey)
        );
        assert_eq!(store.records().count(), 1);
    }

    #[test]
    fn older_sequence_numbers_do_not_replace_newer_ones() {
        let key = Keypair::generate_ed25519();
        let publishers = Publishers::everyone([key.public().to_peer_id()]);
        let mut store = store(PeerId::random());
        admit_put(&mut store, &publishers, record(&key, "traffic", 5)).unwrap();
        for seq in [5, 4, 1] {
            assert_eq!(
                admit_put(&mut store, &publishers, record(&key, "traffic", seq)),
                Err(PutRefused::Refused(Refused::Stale { seq, held: 5 }))
            );
        }
        admit_put(&mut store, &publishers, record(&key, "traffic", 6)).unwrap();
        let held = store.get(&record(&key, "traffic", 6).key).unwrap();
        assert_eq!(held.value, record(&key, "traffic", 6).value);
    }

    #[test]
    fn one_host_cannot_fill_the_store() {
        let (flooder, other) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let publishers =
            Publishers::everyone([flooder.public().to_peer_id(), other.public().to_peer_id()]);
        let mut store = store(PeerId::random());
        let mut refused = 0;
        for i in 0..MAX_DHT_RECORDS_PER_HOST + 10 {
            if admit_put(
                &mut store,
                &publishers,
                record(&flooder, &format!("t{i}"), 1),
            )
            .is_err()
            {
                refused += 1;
            }
        }
        assert_eq!(refused, 10);
        assert_eq!(store.records().count(), MAX_DHT_RECORDS_PER_HOST);
        admit_put(&mut store, &publishers, record(&other, "t0", 1)).unwrap();
    }
}
