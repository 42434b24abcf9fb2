//! The daemon's command line, shared by `agora discovery` and the lean `agora-discoveryd`
//! binary it hands the daemon to.

use crate::{hosts::Gateway, policy::Publishers, DaemonConfig, DiscoveryError};
use clap::Args;
use std::{
    net::SocketAddr,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

/// How the daemon runs.
#[derive(Args, Clone, Debug)]
pub struct DaemonArgs {
    /// Directory of the host's key (`host.key`, created if missing) and sequence counter.
    #[arg(long, global = true, default_value = "agora-discovery")]
    pub home: PathBuf,
    /// The deployment's publishers list: the host ids heard, and the applications each may
    /// publish (default: HOME/publishers).
    #[arg(long)]
    pub publishers: Option<PathBuf>,
    /// The DHT's TCP address.
    #[arg(long, default_value = "0.0.0.0:9939")]
    pub listen: SocketAddr,
    /// UDP port of beacons and record pushes, the same on every host.
    #[arg(long, default_value_t = 9940)]
    pub beacon_port: u16,
    #[arg(long, default_value_t = 1000)]
    pub beacon_ms: u64,
    /// How often records are renewed and subscriptions looked up again.
    #[arg(long, default_value_t = 5000)]
    pub refresh_ms: u64,
    /// How long a record lasts unless renewed (at least two refresh periods).
    #[arg(long, default_value_t = 30_000)]
    pub ttl_ms: u64,
    /// A host on another subnet, as PEER_ID@IP:PORT (its id and DHT address); repeatable.
    #[arg(long)]
    pub gateway: Vec<Gateway>,
}

impl DaemonArgs {
    /// These arguments as a command line (to start the daemon in another program).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--home".to_string(),
            self.home.display().to_string(),
            "--listen".into(),
            self.listen.to_string(),
            "--beacon-port".into(),
            self.beacon_port.to_string(),
            "--beacon-ms".into(),
            self.beacon_ms.to_string(),
            "--refresh-ms".into(),
            self.refresh_ms.to_string(),
            "--ttl-ms".into(),
            self.ttl_ms.to_string(),
        ];
        if let Some(p) = &self.publishers {
            args.extend(["--publishers".to_string(), p.display().to_string()]);
        }
        for g in &self.gateway {
            args.extend(["--gateway".to_string(), g.to_string()]);
        }
        args
    }

    /// The daemon's configuration; creates the host key on first use.
    pub fn config(&self, socket: PathBuf) -> Result<DaemonConfig, DiscoveryError> {
        let publishers = self
            .publishers
            .clone()
            .unwrap_or_else(|| self.home.join("publishers"));
        let refresh = self.refresh_ms.max(10);
        Ok(DaemonConfig {
            key: host_key(&self.home)?,
            listen: self.listen,
            beacon_port: self.beacon_port,
            beacon_period: Duration::from_millis(self.beacon_ms.max(10)),
            refresh_period: Duration::from_millis(refresh),
            record_ttl: Duration::from_millis(self.ttl_ms.max(refresh * 2)),
            gateways: self.gateway.clone(),
            socket,
            publishers: Publishers::load(&publishers)?,
            seq_file: self.home.join("seq"),
        })
    }
}

/// The host key in `home` (`host.key`), created on first use (readable by its owner only).
pub fn host_key(home: &Path) -> Result<libp2p::identity::Keypair, DiscoveryError> {
    let path = home.join("host.key");
    let bad = |what: String| DiscoveryError::HostKey {
        path: path.display().to_string(),
        reason: what,
    };
    match std::fs::read(&path) {
        Ok(bytes) => libp2p::identity::Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| bad(format!("not a host key: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(home)
                .map_err(|e| bad(e.to_string()))?;
            let key = libp2p::identity::Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| bad(e.to_string()))?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| bad(e.to_string()))?;
            std::io::Write::write_all(&mut file, &bytes).map_err(|e| bad(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Runs the daemon until the process ends, on one thread: its work is a few messages per
/// event, and one thread keeps it small on devices.
pub fn run_daemon(args: &DaemonArgs, socket: PathBuf) -> Result<(), DiscoveryError> {
    let cfg = args.config(socket)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async { crate::Daemon::start(cfg).await?.run().await })
}
