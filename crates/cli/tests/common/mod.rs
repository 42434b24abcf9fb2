//! Running the real `agora` binary the way a user does.
#![allow(dead_code)]

use agora_client::Client;
use agora_types::{Keypair, TxHash};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub fn agora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_agora"))
}

/// Runs `agora ARGS --json` and parses its JSON output; panics with stderr if it failed.
pub fn agora_json(args: &[&str]) -> serde_json::Value {
    json_of(agora(), args)
}

/// [`agora_json`] run in the repository's root, where the default data paths point.
pub fn agora_json_in_root(args: &[&str]) -> serde_json::Value {
    let mut cmd = agora();
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    json_of(cmd, args)
}

fn json_of(mut cmd: Command, args: &[&str]) -> serde_json::Value {
    let out = cmd.args(args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "agora {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "agora {args:?} printed non-JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub fn agora_output(args: &[&str]) -> Output {
    agora().args(args).output().unwrap()
}

/// A base port with `n` free ports after it (tests run in parallel processes).
pub fn free_base_port(n: u16) -> u16 {
    loop {
        // Below Linux's ephemeral range (32768-60999), where outgoing connections could take it.
        let base = 10_000 + (rand::random::<u16>() % 22_000);
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        self.0.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn spawn_node(home: &Path, base_port: u16) -> Proc {
    spawn_node_with(home, base_port, &[])
}

/// `agora node --home HOME --base-port PORT ARGS`, logging to HOME.log.
pub fn spawn_node_with(home: &Path, base_port: u16, args: &[&str]) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.with_extension("log"))
        .unwrap();
    Proc(
        agora()
            .args(["node", "--home"])
            .arg(home)
            .args(["--base-port", &base_port.to_string()])
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

pub async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_height(client: &Client, height: u64, timeout: Duration) {
    wait_until(
        &format!("height {height} at {}", client.url()),
        timeout,
        || async {
            client
                .status()
                .await
                .map(|s| s.height >= height)
                .unwrap_or(false)
        },
    )
    .await;
}

pub fn faucet(home: &Path) -> Keypair {
    Keypair::read(&home.join("faucet.key")).unwrap()
}

/// A new single-validator chain in a temporary directory, running and past its first block.
pub struct SingleNode {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub port: u16,
    pub node: Proc,
    pub client: Client,
}

pub async fn single_node() -> SingleNode {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("chain");
    let port = free_base_port(2);
    let node = spawn_node(&home, port);
    let client = Client::new(&url(port)).unwrap();
    wait_height(&client, 1, Duration::from_secs(60)).await;
    SingleNode {
        dir,
        home,
        port,
        node,
        client,
    }
}

pub async fn receipt_exists(client: &Client, hash: &TxHash) -> bool {
    matches!(client.receipt(hash).await, Ok(Some(_)))
}
