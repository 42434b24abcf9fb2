//! `agora devnet --markets` as a user runs it: the chain, the explorer, the energy market
//! trading on the shipped homes, the carpool matching the shipped commuters, the compute
//! market running jobs and the stream market serving allocations; stopped with Ctrl-C and
//! started again, it resumes the same markets with the same agents.

mod common;

use agora_client::Client;
use common::*;
use serde_json::{json, Value};
use std::{
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// The devnet process; stopped with SIGTERM when dropped, so that it stops its validators.
struct Devnet(Child);

impl Devnet {
    fn spawn(home: &Path, port: u16) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.with_extension("log"))
            .unwrap();
        Self(
            agora()
                .args(["devnet", "--home"])
                .arg(home)
                .args(["--base-port", &port.to_string(), "--markets"])
                .args(["--interval-ms", "1000", "--data", DATA])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, signal);
        }
    }

    /// Waits for the process to end after a signal; None if it does not within `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        if self.wait(Duration::from_secs(20)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

async fn energy_market(client: &Client, m: u64) -> Option<Value> {
    client
        .query("energy", "market", json!({"market": m}))
        .await
        .ok()
}

/// The first interval from `from` on that became final with trades.
async fn first_traded(client: &Client, from: u32) -> Option<u32> {
    let next_final = energy_market(client, 0).await?["next_final"].as_u64()? as u32;
    for t in from..next_final {
        let trades = client
            .query("energy", "finalized", json!({"market": 0, "interval": t}))
            .await
            .ok()?;
        if trades.as_array().is_some_and(|a| !a.is_empty()) {
            return Some(t);
        }
    }
    None
}

async fn allocation_market(client: &Client, m: u64) -> Option<Value> {
    client
        .query("allocation", "market", json!({"market": m}))
        .await
        .ok()
}

/// The first carpool cycle from `from` on that was finalized with seats matched.
async fn first_matched(client: &Client, from: u64) -> Option<u64> {
    let cycle = allocation_market(client, 0).await?["cycle"].as_u64()?;
    for c in from..cycle {
        let seats = agora_sim::allocation::live::seats_matched(client, 0, c)
            .await
            .ok()?;
        if seats > 0 {
            return Some(c);
        }
    }
    None
}

async fn compute_query(client: &Client, path: &str, params: Value) -> Option<Value> {
    client.query("compute", path, params).await.ok()
}

/// The first compute match from `from` on that closed with its result accepted.
async fn first_accepted(client: &Client, from: u64) -> Option<u64> {
    let market = compute_query(client, "market", json!({"market": 0})).await?;
    for id in from..market["next_match"].as_u64()? {
        let m = compute_query(client, "match", json!({"market": 0, "match": id})).await?;
        let outcome = &m["state"]["closed"];
        if outcome == "accepted" || outcome == "accepted_by_deadline" {
            return Some(id);
        }
    }
    None
}

async fn stream_query(client: &Client, path: &str, params: Value) -> Option<Value> {
    client.query("stream", path, params).await.ok()
}

/// The first stream allocation from `from` on that closed (served, or mediated).
async fn first_closed(client: &Client, from: u64) -> Option<u64> {
    let market = stream_query(client, "market", json!({"market": 0})).await?;
    for id in from..market["next_allocation"].as_u64()? {
        let a = stream_query(client, "allocation", json!({"market": 0, "allocation": id})).await?;
        let outcome = &a["allocation"]["outcome"];
        if outcome == "completed" || outcome == "mediated" {
            return Some(id);
        }
    }
    None
}

/// Waits up to 300 s for `found` to give something: what `what` is waiting for.
async fn wait_some<T, F, Fut>(what: &str, found: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(t) = found().await {
            return t;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn devnet_markets_keeps_every_market_busy_serves_the_explorer_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    let port = free_base_port(2);
    let base = url(port);
    let client = Client::new(&base).unwrap();
    let mut devnet = Devnet::spawn(&home, port);

    let traded = wait_some("energy trade", || first_traded(&client, 0)).await;
    let matched = wait_some("carpool seats", || first_matched(&client, 0)).await;
    let accepted = wait_some("accepted job", || first_accepted(&client, 0)).await;
    let served = wait_some("served allocation", || first_closed(&client, 0)).await;
    assert_eq!(get(&format!("{base}/health")).await, (200, "ok".into()));
    wait_until("/ready", Duration::from_secs(60), || async {
        get(&format!("{base}/ready")).await.0 == 200
    })
    .await;
    let (code, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 200);
    assert!(metrics.contains("agora_finalized_height "), "{metrics}");
    assert!(
        !metrics.contains("agora_energy_intervals_finalized_total 0\n"),
        "{metrics}"
    );
    for path in ["/", "/explorer"] {
        let (code, html) = get(&format!("{base}{path}")).await;
        assert_eq!(code, 200);
        for market in [
            "/explorer/energy/0",
            "/explorer/allocation/0",
            "/explorer/compute/0",
            "/explorer/stream/0",
        ] {
            assert!(html.contains(market), "{html}");
        }
    }
    let (code, page) = get(&format!("{base}/explorer/energy/0?format=json")).await;
    assert_eq!(code, 200, "{page}");
    let page: Value = serde_json::from_str(&page).unwrap();
    assert!(page["finalized"][traded.to_string()].as_u64().unwrap() > 0);
    let state = home.join("markets/energy.json");
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(stored["homes"].as_array().unwrap().len(), 102);
    let (code, page) = get(&format!("{base}/explorer/allocation/0?format=json")).await;
    assert_eq!(code, 200, "{page}");
    let page: Value = serde_json::from_str(&page).unwrap();
    let record = page["finalized"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cycle"] == matched)
        .unwrap_or_else(|| panic!("cycle {matched} not on the page: {page}"));
    assert!(record["record"]["assignments"].as_u64().unwrap() > 0);
    let carpool_state = home.join("markets/carpool.json");
    let carpool: Value =
        serde_json::from_str(&std::fs::read_to_string(&carpool_state).unwrap()).unwrap();
    assert_eq!(carpool["commuters"].as_array().unwrap().len(), 75);
    let (code, page) = get(&format!("{base}/explorer/compute/0?format=json")).await;
    assert_eq!(code, 200, "{page}");
    let page: Value = serde_json::from_str(&page).unwrap();
    let shown = page["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == accepted)
        .unwrap_or_else(|| panic!("match {accepted} not on the page: {page}"));
    assert!(shown["state"]["closed"]
        .as_str()
        .is_some_and(|o| o.starts_with("accepted")));
    let (code, page) = get(&format!("{base}/explorer/stream/0?format=json")).await;
    assert_eq!(code, 200, "{page}");
    let page: Value = serde_json::from_str(&page).unwrap();
    let shown = page["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["allocation"]["id"] == served)
        .unwrap_or_else(|| panic!("allocation {served} not on the page: {page}"));
    assert!(!shown["allocation"]["outcome"].is_null());
    let compute_state = home.join("markets/compute.json");
    let compute: Value =
        serde_json::from_str(&std::fs::read_to_string(&compute_state).unwrap()).unwrap();

    // Ctrl-C stops it cleanly, validators included.
    let height = client.status().await.unwrap().height;
    let next_final = energy_market(&client, 0).await.unwrap()["next_final"]
        .as_u64()
        .unwrap() as u32;
    let cycle = allocation_market(&client, 0).await.unwrap()["cycle"]
        .as_u64()
        .unwrap();
    let next_match = compute_query(&client, "market", json!({"market": 0}))
        .await
        .unwrap()["next_match"]
        .as_u64()
        .unwrap();
    let next_allocation = stream_query(&client, "market", json!({"market": 0}))
        .await
        .unwrap()["next_allocation"]
        .as_u64()
        .unwrap();
    devnet.signal(libc::SIGINT);
    let status = devnet
        .wait(Duration::from_secs(60))
        .expect("devnet ignored Ctrl-C");
    assert!(status.success(), "{status}");
    assert!(
        client.status().await.is_err(),
        "a validator outlived the devnet"
    );

    let _devnet = Devnet::spawn(&home, port);
    wait_height(&client, height + 1, Duration::from_secs(120)).await;
    // The same markets keep trading with the same agents; no second market was created.
    wait_some("energy trade after the restart", || {
        first_traded(&client, next_final)
    })
    .await;
    wait_some("carpool seats after the restart", || {
        first_matched(&client, cycle)
    })
    .await;
    // The directory serves again where the chain says it is, so new jobs run.
    wait_some("accepted job after the restart", || {
        first_accepted(&client, next_match)
    })
    .await;
    wait_some("served allocation after the restart", || {
        first_closed(&client, next_allocation)
    })
    .await;
    assert!(energy_market(&client, 1).await.is_none());
    assert!(allocation_market(&client, 1).await.is_none());
    assert!(compute_query(&client, "market", json!({"market": 1}))
        .await
        .is_none());
    assert!(stream_query(&client, "market", json!({"market": 1}))
        .await
        .is_none());
    let restored: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(restored, stored);
    let restored: Value =
        serde_json::from_str(&std::fs::read_to_string(&carpool_state).unwrap()).unwrap();
    assert_eq!(restored, carpool);
    let restored: Value =
        serde_json::from_str(&std::fs::read_to_string(&compute_state).unwrap()).unwrap();
    assert_eq!(restored, compute);
}
