//! The availability record a mediator reads, and the retention of a match's blobs.

use agora_directory::{Availability, BlobStore, Client, ClientError, StoreConfig};
use agora_types::Keypair;
use std::sync::Arc;

async fn start(
    root: &std::path::Path,
    log: Option<Arc<Availability>>,
) -> (
    String,
    Arc<BlobStore>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let store = BlobStore::open(StoreConfig {
        root: root.to_path_buf(),
        max_blob_bytes: 1 << 20,
        max_total_bytes: 1 << 24,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(agora_directory::serve(listener, store.clone(), log));
    (base, store, server)
}

#[test]
fn beats_merge_into_intervals_and_two_missed_beats_are_an_outage() {
    let log = Availability::new(Keypair::from_seed(1), 100);
    for t in [1_000, 1_100, 1_300, 1_350] {
        log.beat(t);
    }
    // 1_350 -> 1_700 misses more than two beats: an outage.
    for t in [1_700, 1_800] {
        log.beat(t);
    }
    let record = log.record(0, 5_000);
    assert_eq!(record.intervals, vec![[1_000, 1_350], [1_700, 1_800]]);
    assert!(record.covers(1_050, 1_300));
    assert!(!record.covers(1_300, 1_750));
    let clipped = log.record(1_200, 1_750);
    assert_eq!(clipped.intervals, vec![[1_200, 1_350], [1_700, 1_750]]);
    assert!(record.verify(&Keypair::from_seed(1).address()));
    assert!(!record.verify(&Keypair::from_seed(2).address()));
    let mut forged = record.clone();
    forged.intervals = vec![[1_000, 1_800]];
    assert!(!forged.verify(&Keypair::from_seed(1).address()));
}

#[tokio::test]
async fn the_record_is_served_signed_and_checked_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::from_seed(7);
    // A long period, so no scheduling delay can look like an outage: the test's own beat and
    // the request's are one interval.
    let log = Arc::new(Availability::new(key.clone(), 10_000));
    let from = agora_directory::availability::now_ms();
    log.beat(from);
    let (base, _store, server) = start(dir.path(), Some(log)).await;
    let client = Client::new(&base, 1 << 20);
    let to = agora_directory::availability::now_ms();
    let record = client.availability(&key.address(), from, to).await.unwrap();
    assert!(record.covers(from, to), "{record:?}");
    assert!(!record.covers(from.saturating_sub(1), to), "{record:?}");
    // Signed by the directory's key, so the record of another address is refused.
    let other = Keypair::from_seed(8).address();
    assert!(matches!(
        client.availability(&other, from, to).await,
        Err(ClientError::Refused { .. })
    ));
    assert!(matches!(
        client.availability(&key.address(), to + 1, from).await,
        Err(ClientError::Refused { status, .. }) if status == 400
    ));
    server.abort();
}

#[tokio::test]
async fn a_directory_without_a_log_has_no_availability_route() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _store, server) = start(dir.path(), None).await;
    let client = Client::new(&base, 1 << 20);
    let any = Keypair::from_seed(1).address();
    assert!(matches!(
        client.availability(&any, 0, 1).await,
        Err(ClientError::Refused { status, .. }) if status == 404
    ));
    server.abort();
}

#[tokio::test]
async fn a_match_keeps_its_blobs_until_close_plus_grace_and_shared_blobs_stay_while_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let (base, store, server) = start(dir.path(), None).await;
    let client = Client::new(&base, 1 << 20);
    let module = client.put(b"module shared by two jobs").await.unwrap();
    let input = client.put(b"input of job 1").await.unwrap();
    let unclaimed = client.put(b"an offer nobody matched").await.unwrap();
    // Match 1 holds module and input until 1_000 (its latest possible close), match 2 the
    // module until 5_000.
    store.retain(module, (0, 1), 1_000);
    store.retain(input, (0, 1), 1_000);
    store.retain(module, (0, 2), 5_000);
    assert!(store.sweep(900).await.unwrap().is_empty());
    // Match 1 closed at 400: close + grace (100) replaces its claims.
    store.retain(module, (0, 1), 500);
    store.retain(input, (0, 1), 500);
    let used = store.used_bytes();
    assert_eq!(store.sweep(600).await.unwrap(), vec![input]);
    assert_eq!(store.used_bytes(), used - b"input of job 1".len() as u64);
    assert!(matches!(
        client.get(&input).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(client.get(&module).await.is_ok());
    assert_eq!(store.sweep(5_001).await.unwrap(), vec![module]);
    assert!(matches!(
        client.get(&module).await,
        Err(ClientError::NotFound(_))
    ));
    assert!(client.get(&unclaimed).await.is_ok());
    server.abort();
}

#[tokio::test]
async fn a_blob_uploaded_again_survives_the_sweep_of_its_old_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (base, store, server) = start(dir.path(), None).await;
    let client = Client::new(&base, 1 << 20);
    let module = client.put(b"a module jobs reuse").await.unwrap();
    store.retain(module, (0, 1), 500);
    // A new offer uploads it again before its match claims it.
    client.put(b"a module jobs reuse").await.unwrap();
    assert!(store.sweep(600).await.unwrap().is_empty());
    assert!(client.get(&module).await.is_ok());
    server.abort();
}
