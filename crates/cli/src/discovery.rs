//! `agora discovery`: the per-host discovery daemon, and the commands components' operators
//! use against it (register, subscribe, list).

use crate::output::Output;
use agora_discovery::{Client, Daemon, DaemonConfig, Event, Kind, Service};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

#[derive(Args)]
pub struct DiscoveryArgs {
    /// Unix socket of the local daemon (the daemon listens on it; commands connect to it).
    #[arg(
        long,
        global = true,
        env = "AGORA_DISCOVERY_SOCKET",
        default_value = "/tmp/agora-discovery.sock"
    )]
    socket: PathBuf,
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(subcommand)]
    command: Option<DiscoveryCommand>,
}

/// How the daemon runs (used when no subcommand is given).
#[derive(Args)]
struct DaemonArgs {
    /// Directory of the host's key (`host.key`, created if missing).
    #[arg(long, default_value = "agora-discovery")]
    home: PathBuf,
    /// The DHT's TCP address.
    #[arg(long, default_value = "0.0.0.0:9939")]
    listen: SocketAddr,
    /// UDP port of beacons and record pushes, the same on every host.
    #[arg(long, default_value_t = 9940)]
    beacon_port: u16,
    #[arg(long, default_value_t = 1000)]
    beacon_ms: u64,
    /// How often records are renewed and subscriptions looked up again.
    #[arg(long, default_value_t = 5000)]
    refresh_ms: u64,
    /// How long a record lasts unless renewed.
    #[arg(long, default_value_t = 30_000)]
    ttl_ms: u64,
    /// DHT address (ip:port) of a host on another subnet; repeatable.
    #[arg(long)]
    gateway: Vec<SocketAddr>,
}

#[derive(Subcommand)]
enum DiscoveryCommand {
    /// What the local daemon knows: its services, what it found for its subscriptions, hosts.
    Services,
    /// Register a service and keep it registered until this command is stopped.
    Register {
        #[arg(long)]
        app: String,
        #[arg(long)]
        msg: String,
        /// pub, sub, req, rep, clt or srv.
        #[arg(long)]
        kind: Kind,
        #[arg(long)]
        address: String,
    },
    /// Print (one line each) the services of KIND's counterpart as they appear and go away.
    Subscribe {
        #[arg(long)]
        app: String,
        #[arg(long)]
        msg: String,
        #[arg(long)]
        kind: Kind,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
}

fn host_key(home: &Path) -> Result<agora_discovery::identity::Keypair> {
    let path = home.join("host.key");
    match std::fs::read(&path) {
        Ok(bytes) => agora_discovery::identity::Keypair::from_protobuf_encoding(&bytes)
            .with_context(|| format!("{} is not a host key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(home)
                .with_context(|| format!("cannot create {}", home.display()))?;
            let key = agora_discovery::identity::Keypair::generate_ed25519();
            std::fs::write(&path, key.to_protobuf_encoding()?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn run(args: DiscoveryArgs, out: &Output) -> Result<()> {
    // One thread is plenty for a daemon whose work is a few messages per event, and keeps its
    // memory small on devices.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let socket = args.socket;
    match args.command {
        None => {
            let d = args.daemon;
            let cfg = DaemonConfig {
                key: host_key(&d.home)?,
                listen: d.listen,
                beacon_port: d.beacon_port,
                beacon_period: Duration::from_millis(d.beacon_ms.max(10)),
                refresh_period: Duration::from_millis(d.refresh_ms.max(10)),
                record_ttl: Duration::from_millis(d.ttl_ms.max(d.refresh_ms * 2)),
                gateways: d.gateway,
                socket,
            };
            rt.block_on(async {
                let daemon = Daemon::start(cfg).await.context("cannot start the discovery daemon")?;
                daemon.run().await.context("the discovery daemon stopped")
            })
        }
        Some(DiscoveryCommand::Services) => {
            let snapshot = rt.block_on(agora_discovery::services(&socket))?;
            out.print(&snapshot, || {
                let mut text = format!("host {}\n", snapshot.host);
                for (s, pid) in &snapshot.local {
                    text += &format!("local  {} {} {:?} {} (pid {pid})\n", s.app, s.msg, s.kind, s.address);
                }
                for f in &snapshot.remote {
                    let s = &f.service;
                    text += &format!("remote {} {} {:?} {} (host {})\n", s.app, s.msg, s.kind, s.address, f.host);
                }
                for h in &snapshot.hosts {
                    text += &format!("peer   {} {}\n", h.host, h.ip);
                }
                text.trim_end().to_string()
            })
        }
        Some(DiscoveryCommand::Register { app, msg, kind, address }) => rt.block_on(async {
            let client = Client::connect(&socket, Duration::from_millis(200));
            client.register(Service { app, msg, kind, address })?;
            out.print(&serde_json::json!({"registered": true, "pid": std::process::id()}), || {
                format!("registered while this process (pid {}) runs; Ctrl-C to withdraw", std::process::id())
            })?;
            tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
            Ok(())
        }),
        Some(DiscoveryCommand::Subscribe { app, msg, kind, count }) => rt.block_on(async {
            let client = Client::connect(&socket, Duration::from_millis(200));
            let mut events = client.subscribe(&app, &msg, kind);
            let mut seen = 0;
            while count.is_none_or(|c| seen < c) {
                let Some(event) = events.recv().await else { break };
                seen += 1;
                let (what, found) = match &event {
                    Event::Appeared(f) => ("appeared", f),
                    Event::Gone(f) => ("gone", f),
                };
                out.print(&serde_json::json!({"event": what, "service": found.service, "host": found.host}), || {
                    format!("{what} {} {} {:?} {} (host {})", found.service.app, found.service.msg, found.service.kind, found.service.address, found.host)
                })?;
            }
            Ok(())
        }),
    }
}
