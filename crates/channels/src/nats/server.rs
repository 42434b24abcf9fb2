//! A `nats-server` process run from a generated configuration: started on free loopback ports
//! in a directory of its own, reloaded in place when rights change, killed when dropped.

use super::backend;
use crate::BusError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The server binary (Debian's `nats-server`, installed by `.ci/run`).
pub const NATS_SERVER: &str = "nats-server";

/// How often, and how many times, the monitor is asked whether a start or reload took effect.
const POLL: Duration = Duration::from_millis(20);
const POLLS: usize = 500;

/// A running `nats-server`.
pub struct NatsServer {
    binary: PathBuf,
    child: Child,
    dir: PathBuf,
    port: u16,
    monitor_port: u16,
}

/// Two distinct loopback ports nobody listens on now (both held until both are found).
pub fn free_ports() -> Result<(u16, u16), BusError> {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| backend("port", e));
    let (first, second) = (bind()?, bind()?);
    let port = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port());
    Ok((
        port(&first).map_err(|e| backend("port", e))?,
        port(&second).map_err(|e| backend("port", e))?,
    ))
}

impl NatsServer {
    /// Starts the server `binary` on `config` (already rendered for `port`/`monitor_port`) in `dir`,
    /// and waits until it answers. A missing binary is an error naming the package to install.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        config: &str,
        port: u16,
        monitor_port: u16,
    ) -> Result<Self, BusError> {
        let path = dir.join("nats.conf");
        std::fs::write(&path, config).map_err(|e| backend("writing nats.conf", e))?;
        let log = std::fs::File::create(dir.join("nats.log")).map_err(|e| backend("log", e))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                BusError::Backend(format!(
                    "cannot run `{}` ({e}): install Debian's nats-server \
                     (`apt-get install -y nats-server`, as .ci/run does)",
                    binary.display()
                ))
            })?;
        let mut server = Self {
            binary: binary.to_path_buf(),
            child,
            dir: dir.to_path_buf(),
            port,
            monitor_port,
        };
        for _ in 0..POLLS {
            // The monitor comes up before the client listener: wait for both.
            let clients = TcpStream::connect(("127.0.0.1", port)).await.is_ok();
            if clients && server.varz().await.is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(BusError::Backend(format!(
                    "nats-server exited with {status}: {}",
                    server.log_tail()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
        Err(BusError::Backend(format!(
            "nats-server did not start: {}",
            server.log_tail()
        )))
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("nats.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// The monitor's `/varz` page as JSON.
    pub async fn varz(&self) -> Result<serde_json::Value, BusError> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.monitor_port))
            .await
            .map_err(|e| backend("monitor", e))?;
        stream
            .write_all(b"GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .map_err(|e| backend("monitor", e))?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| backend("monitor", e))?;
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).map_err(|e| backend("monitor /varz", e))
    }

    /// Stops the server (clients see their connection drop).
    pub async fn stop(&mut self) -> Result<(), BusError> {
        self.child
            .kill()
            .await
            .map_err(|e| backend("stopping nats-server", e))
    }

    /// Writes `config` and makes the running server load it, waiting until it did: the
    /// monitor's `config_load_time` changes only on a successful reload.
    pub async fn reload(&mut self, config: &str) -> Result<(), BusError> {
        let before = self.varz().await?["config_load_time"].clone();
        std::fs::write(self.dir.join("nats.conf"), config)
            .map_err(|e| backend("writing nats.conf", e))?;
        let pid = self
            .child
            .id()
            .ok_or_else(|| BusError::Backend("nats-server is not running".into()))?;
        let status = Command::new(&self.binary)
            .arg("--signal")
            .arg(format!("reload={pid}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| backend("signalling nats-server", e))?;
        if !status.success() {
            return Err(BusError::Backend(format!(
                "nats-server --signal reload: {status}"
            )));
        }
        for _ in 0..POLLS {
            if self.varz().await?["config_load_time"] != before {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(BusError::Backend(format!(
            "nats-server did not load the new configuration: {}",
            self.log_tail()
        )))
    }
}
