//! `agora-discoveryd`: the discovery daemon alone, for devices (`agora discovery` starts it
//! when it is installed next to `agora`; the options are the same).

use agora_discovery::{
    cli::{run_daemon, DaemonArgs},
    socket::default_socket,
};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "agora-discoveryd",
    version,
    about = "Agora's discovery daemon for this host."
)]
struct Args {
    /// Unix socket components reach the daemon on (in a private directory).
    #[arg(long, env = "AGORA_DISCOVERY_SOCKET", default_value_os_t = default_socket())]
    socket: PathBuf,
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run_daemon(&args.daemon, args.socket) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
