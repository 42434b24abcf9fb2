//! The directory through its HTTP client: storage, refusals, faults, persistence and a tampering directory.

use agora_directory::{BlobHash, BlobStore, Client, ClientError, StoreConfig};
use std::path::Path;
use std::sync::Arc;

const MAX_BLOB: u64 = 1 << 20;

struct Directory {
    client: Client,
    base: String,
    store: Arc<BlobStore>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(root: &Path, max_total_bytes: u64) -> Directory {
    let config = StoreConfig {
        root: root.to_path_buf(),
        max_blob_bytes: MAX_BLOB,
        max_total_bytes,
    };
    let store = BlobStore::open(config).expect("store opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(agora_directory::serve(listener, store.clone(), None));
    // A client that accepts larger blobs than the server, so the server's own limit is what is tested.
    Directory {
        client: Client::new(&base, 4 * MAX_BLOB),
        base,
        store,
        server,
    }
}

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn a_stored_blob_comes_back_under_its_hash_once() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), 10 * MAX_BLOB).await;
    for bytes in [vec![], b"job module".to_vec(), blob(MAX_BLOB as usize, 1)] {
        let hash = directory.client.put(&bytes).await.unwrap();
        assert_eq!(hash, BlobHash::of(&bytes));
        assert_eq!(directory.client.get(&hash).await.unwrap(), bytes);
    }
    let used = directory.store.used_bytes();
    directory.client.put(b"job module").await.unwrap();
    assert_eq!(
        directory.store.used_bytes(),
        used,
        "a second upload of the same blob takes no space"
    );
}

#[tokio::test]
async fn an_unknown_blob_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), MAX_BLOB).await;
    let hash = BlobHash::of(b"never uploaded");
    assert!(
        matches!(directory.client.get(&hash).await, Err(ClientError::NotFound(h)) if h == hash)
    );
}

#[tokio::test]
async fn a_body_that_does_not_match_its_hash_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), MAX_BLOB).await;
    let claimed = BlobHash::of(b"the real input");
    let refused = directory.client.put_as(claimed, b"a forged input").await;
    assert!(
        matches!(refused, Err(ClientError::HashMismatch(h)) if h == claimed),
        "{refused:?}"
    );
    assert!(matches!(
        directory.client.get(&BlobHash::of(b"a forged input")).await,
        Err(ClientError::NotFound(_))
    ));
    assert_eq!(directory.store.used_bytes(), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn an_oversized_blob_is_refused_whether_or_not_its_length_is_declared() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), 10 * MAX_BLOB).await;
    let big = blob(MAX_BLOB as usize + 1, 2);
    let refused = directory.client.put(&big).await;
    assert!(
        matches!(refused, Err(ClientError::TooLarge { limit: MAX_BLOB })),
        "{refused:?}"
    );

    // A body without a declared length (chunked upload) is cut off while it streams.
    let chunks = big
        .chunks(64 * 1024)
        .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)));
    let refused = directory
        .store
        .put(None, futures::stream::iter(chunks))
        .await;
    assert!(
        matches!(
            refused,
            Err(agora_directory::StoreError::TooLarge { limit: MAX_BLOB })
        ),
        "{refused:?}"
    );
    assert_eq!(directory.store.used_bytes(), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn a_full_directory_refuses_new_blobs_but_serves_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), 1000).await;
    let first = directory.client.put(&blob(600, 3)).await.unwrap();
    assert!(matches!(
        directory.client.put(&blob(600, 4)).await,
        Err(ClientError::Full)
    ));
    assert_eq!(directory.client.get(&first).await.unwrap(), blob(600, 3));
    assert_eq!(directory.store.used_bytes(), 600);
}

#[tokio::test]
async fn malformed_hashes_are_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), MAX_BLOB).await;
    let http = reqwest::Client::new();
    let upper = BlobHash::of(b"x").to_string().to_uppercase();
    for hash in ["abc", "../../etc/passwd", &upper, &"g".repeat(64)] {
        let response = http
            .get(format!("{}/blobs/{hash}", directory.base))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 400 | 404),
            "{hash}: {}",
            response.status()
        );
        let response = http
            .put(format!("{}/blobs/{hash}", directory.base))
            .body("x")
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 400 | 404 | 405),
            "{hash}: {}",
            response.status()
        );
        assert_ne!(response.status(), 201);
    }
    let response = http
        .get(format!("{}/blobs/{upper}", directory.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("bad_hash"));
}

#[tokio::test]
async fn blobs_survive_a_restart_and_an_interrupted_upload_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = blob(5000, 5);
    let hash = {
        let directory = start(dir.path(), 10_000).await;
        directory.client.put(&bytes).await.unwrap()
    };
    // What a crash mid-upload leaves behind.
    std::fs::write(dir.path().join("tmp").join("7"), b"half an upload").unwrap();
    let directory = start(dir.path(), 10_000).await;
    assert_eq!(directory.client.get(&hash).await.unwrap(), bytes);
    assert_eq!(
        directory.store.used_bytes(),
        5000,
        "the restarted store counts what it holds"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn a_directory_that_alters_a_blob_is_caught_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let directory = start(dir.path(), MAX_BLOB).await;
    let hash = directory
        .client
        .put(b"the job's true output")
        .await
        .unwrap();
    std::fs::write(directory.store.path(&hash), b"a different output").unwrap();
    let fetched = directory.client.get(&hash).await;
    assert!(
        matches!(fetched, Err(ClientError::Altered { expected, .. }) if expected == hash),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn a_directory_that_is_down_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let fetched = Client::new(closed, MAX_BLOB).get(&BlobHash::of(b"x")).await;
    assert!(
        matches!(fetched, Err(ClientError::Unavailable(_))),
        "{fetched:?}"
    );
}
