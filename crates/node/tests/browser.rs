//! The explorer in a real headless Chromium, driven through W3C WebDriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs): a transfer is found by
//! following links from the front page, a market's plots render with their bars and limits,
//! the search box finds a block, a transaction and an account, and a bad query gets a clear
//! page. The WebDriver protocol is plain JSON over HTTP, spoken here with reqwest.

mod common;

use agora_node::limits::RpcLimits;
use agora_types::{Keypair, TxStatus};
use common::*;
use serde_json::{json, Value};
use std::{
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A chromedriver process in its own process group, killed with the browsers it started
/// when dropped (also when a test fails before closing its session).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// One browser session of a chromedriver.
struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: Driver,
    /// The browser's profile, removed with the test.
    _profile: tempfile::TempDir,
}

/// The `value` of a WebDriver answer, or the driver's error.
async fn value(response: reqwest::Response) -> Result<Value, String> {
    let text = response.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    if answer["value"]["error"].is_null() {
        Ok(answer["value"].clone())
    } else {
        Err(text)
    }
}

/// Runs `step` again when the page reloaded under it (live pages reload every few seconds,
/// which makes the elements found before stale).
async fn retry<T, F: std::future::Future<Output = Result<T, String>>>(
    mut step: impl FnMut() -> F,
) -> T {
    let mut last = String::new();
    for _ in 0..5 {
        match step().await {
            Ok(v) => return v,
            Err(e) if e.contains("stale element") => last = e,
            Err(e) => panic!("webdriver: {e}"),
        }
    }
    panic!("webdriver: {last}")
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver not found: install chromium and chromium-driver (.ci/run does)");
        let driver = Driver(child);
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        wait_until("chromedriver", || async {
            http.get(format!("{base}/status")).send().await.is_ok()
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.path().display()),
            ]}
        }}});
        let session = value(
            http.post(format!("{base}/session"))
                .body(caps.to_string())
                .send()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        Self {
            session: format!("{base}/session/{}", session["sessionId"].as_str().unwrap()),
            http,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        value(
            self.http
                .post(url)
                .body(body.to_string())
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        value(
            self.http
                .get(format!("{}{path}", self.session))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await.unwrap();
    }

    /// The ids of the elements matching a CSS selector.
    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await
            .unwrap();
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e.as_object()
                    .unwrap()
                    .values()
                    .next()
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    async fn find(&self, css: &str) -> String {
        let all = self.find_all(css).await;
        assert!(!all.is_empty(), "no element {css} on {}", self.url().await);
        all[0].clone()
    }

    async fn click(&self, css: &str) {
        retry(|| async {
            let id = self.find(css).await;
            self.post(&format!("/element/{id}/click"), json!({})).await
        })
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let text = retry(|| async {
            let id = self.find(css).await;
            self.get(&format!("/element/{id}/text")).await
        })
        .await;
        text.as_str().unwrap().to_string()
    }

    async fn url(&self) -> String {
        self.get("/url")
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits for the navigation a click started: until the page's URL ends with `path`.
    async fn arrive(&self, path: &str) {
        wait_until(&format!("a page at {path}"), || async {
            self.url().await.ends_with(path)
        })
        .await;
    }

    /// Types `q` into the search box and submits it.
    async fn search(&self, q: &str) {
        retry(|| async {
            let input = self.find("input[name=q]").await;
            self.post(&format!("/element/{input}/value"), json!({ "text": q }))
                .await?;
            let button = self.find("header button").await;
            self.post(&format!("/element/{button}/click"), json!({}))
                .await
        })
        .await;
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut ok: impl FnMut() -> F) {
    for _ in 0..600 {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not come up");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_works_in_a_real_browser() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);
    let (faucet, seller, buyer) = (
        Keypair::from_seed(1),
        Keypair::from_seed(2),
        Keypair::from_seed(3),
    );
    let mut blocks = Blocks::new(&node.state.executor);
    let sent = blocks.run(&faucet, transfer(&faucet, 0, 1234).tx.call);
    assert_eq!(sent.status, TxStatus::Success);
    for key in [&seller, &buyer] {
        let call = agora_bank::BankCall::Transfer {
            to: key.address(),
            amount: 1_000_000,
        };
        blocks.run(&faucet, call.into_call());
    }
    energy_market(&mut blocks, &faucet, &seller, &buyer);
    let bob = Keypair::from_seed(999).address();

    let browser = Browser::start().await;

    // From the front page to the transfer: block 1, then its transaction.
    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.text("h1").await, "Chain");
    browser.click("a[href='/explorer/block/1']").await;
    assert_eq!(browser.text("h1").await, "Block 1");
    browser
        .click(&format!("a[href='/explorer/tx/{}']", sent.tx_hash))
        .await;
    assert!(browser
        .url()
        .await
        .ends_with(&format!("/explorer/tx/{}", sent.tx_hash)));
    assert!(browser.text("main").await.contains("success"));

    // The market's plots: bars, the groups' limits, drawn with a size.
    browser.goto(&format!("{base}/explorer/energy/0")).await;
    assert!(browser.find_all("svg rect.bar").await.len() >= 4);
    assert_eq!(browser.find_all("svg line.limit").await.len(), 4);
    let svg = browser.find("svg").await;
    let rect = browser.get(&format!("/element/{svg}/rect")).await.unwrap();
    assert!(rect["width"].as_f64().unwrap() > 100.0, "{rect}");

    // The search box finds a block (by height and by digest), a transaction and an account.
    let digest = node.state.executor.block(3).unwrap().unwrap().digest;
    for (q, path) in [
        ("2".to_string(), "/explorer/block/2".to_string()),
        (digest, "/explorer/block/3".to_string()),
        (
            sent.tx_hash.to_string(),
            format!("/explorer/tx/{}", sent.tx_hash),
        ),
        (bob.to_string(), format!("/explorer/account/{bob}")),
    ] {
        browser.search(&q).await;
        browser.arrive(&path).await;
    }
    assert!(browser.text("main").await.contains("1234"));

    // A bad query: a clear page, and the browser can go on.
    browser.search("<b>no such thing</b>").await;
    browser
        .arrive("/explorer/search?q=%3Cb%3Eno+such+thing%3C%2Fb%3E")
        .await;
    assert_eq!(browser.text("h1").await, "Bad Request");
    assert!(browser
        .text("main")
        .await
        .contains("neither a block height"));
    assert!(
        browser.find_all("main b").await.is_empty(),
        "the query was rendered as markup"
    );
    browser.click("header a").await;
    browser.arrive("/explorer").await;
    assert_eq!(browser.text("h1").await, "Chain");
    browser.close().await;
}
