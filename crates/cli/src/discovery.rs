//! `agora discovery`: the per-host discovery daemon, and the commands components' operators
//! use against it (register, subscribe, list).

use crate::output::Output;
use agora_discovery::{cli::DaemonArgs, socket::default_socket, Client, Event, Kind, Service};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::{path::PathBuf, time::Duration};

#[derive(Args)]
pub struct DiscoveryArgs {
    /// Unix socket of the local daemon (the daemon listens on it; commands connect to it). Its
    /// directory must be private: owned by this user, writable by no one else.
    #[arg(
        long,
        global = true,
        env = "AGORA_DISCOVERY_SOCKET",
        default_value_os_t = default_socket()
    )]
    socket: PathBuf,
    /// How the daemon runs (when no subcommand is given).
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(subcommand)]
    command: Option<DiscoveryCommand>,
}

#[derive(Subcommand)]
enum DiscoveryCommand {
    /// This host's id (its key in HOME, created if missing), for the publishers list and for
    /// other hosts' `--gateway ID@IP:PORT`.
    Id,
    /// What the local daemon knows: its services, what it found for its subscriptions, hosts.
    Services,
    /// Register a service and keep it registered until this command is stopped.
    Register {
        #[command(flatten)]
        topic: TopicArgs,
        #[arg(long)]
        address: String,
    },
    /// Print (one line each) the services of KIND's counterpart as they appear and go away.
    Subscribe {
        #[command(flatten)]
        topic: TopicArgs,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
}

/// The application, message type and kind a command is about.
#[derive(Args)]
struct TopicArgs {
    #[arg(long)]
    app: String,
    #[arg(long)]
    msg: String,
    /// pub, sub, req, rep, clt or srv.
    #[arg(long)]
    kind: Kind,
}

pub fn run(args: DiscoveryArgs, out: &Output) -> Result<()> {
    // The commands hold one conversation with the local daemon: one thread is plenty.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let socket = args.socket;
    match args.command {
        None => run_daemon(&args.daemon, socket),
        Some(DiscoveryCommand::Id) => {
            let home = &args.daemon.home;
            let id = agora_discovery::cli::host_key(home)
                .with_context(|| format!("cannot read or create the host key in {}", home.display()))?
                .public()
                .to_peer_id()
                .to_string();
            out.print(&serde_json::json!({ "host": id }), || id.clone())
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
        Some(DiscoveryCommand::Register {
            topic: TopicArgs { app, msg, kind },
            address,
        }) => rt.block_on(async {
            let client = Client::connect(&socket, Duration::from_millis(200));
            client.register(Service { app, msg, kind, address })?;
            out.print(&serde_json::json!({"registered": true, "pid": std::process::id()}), || {
                format!("registered while this process (pid {}) runs; Ctrl-C to withdraw", std::process::id())
            })?;
            tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
            Ok(())
        }),
        Some(DiscoveryCommand::Subscribe {
            topic: TopicArgs { app, msg, kind },
            count,
        }) => rt.block_on(async {
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

/// Hands the daemon to the lean `agora-discoveryd` next to this binary when there is one (the
/// same process, so its pid and signals stay the caller's), else runs it here. The lean binary
/// carries only the daemon's code: a third of this one's resident memory.
fn run_daemon(daemon: &DaemonArgs, socket: PathBuf) -> Result<()> {
    let lean = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("agora-discoveryd")))
        .filter(|p| p.is_file());
    if let Some(lean) = lean {
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(&lean)
            .arg("--socket")
            .arg(&socket)
            .args(daemon.to_args())
            .exec();
        tracing::warn!(error = %err, binary = %lean.display(), "cannot start the lean daemon; running it here");
    }
    agora_discovery::cli::run_daemon(daemon, socket).context("the discovery daemon stopped")
}
