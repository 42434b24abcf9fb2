//! `agora devnet`: a local chain of validator processes, and `agora node`'s first start.

use crate::output::Output;
use agora_client::Client;
use agora_node::{
    devnet::{Devnet, DEFAULT_BASE_PORT, DEFAULT_CHAIN_ID},
    genesis::Home,
};
use agora_sim::demo::{DemoContext, Started};
use agora_types::Keypair;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};
use tokio::task::JoinSet;
use tracing::{info, warn};

#[derive(Args)]
pub struct DevnetArgs {
    /// Number of validators of a new chain (a resumed chain keeps its own).
    #[arg(long)]
    validators: Option<usize>,
    /// Directory of the chain; created if new, resumed if it holds one.
    #[arg(long, default_value = ".agora/devnet")]
    home: PathBuf,
    /// RPC port of the first validator of a new chain; validator I uses BASE+2I (RPC) and
    /// BASE+2I+1 (p2p).
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    base_port: u16,
    /// Keep every market busy: set it up (or resume the one an earlier start set up), and run
    /// its solver daemons and demo agents on the shipped data until Ctrl-C.
    #[arg(long)]
    markets: bool,
    /// With --markets: real milliseconds per market interval of a new market (900000 plays
    /// the profiles' quarter hours in step with the UTC day).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..))]
    interval_ms: u64,
    /// With --markets: the repository's data directory.
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

/// Makes `home` a single-validator chain unless it already is a node home.
pub fn ensure_single_node_home(home: &Path, base_port: u16) -> Result<()> {
    if Home(home.to_path_buf()).is_initialized() {
        return Ok(());
    }
    if home.join("genesis.json").exists() {
        bail!(
            "{} holds a chain but no node.key; for a devnet chain run `agora node --home {}/validator-I`",
            home.display(),
            home.display()
        );
    }
    let devnet = Devnet::create(home, 1, base_port, DEFAULT_CHAIN_ID, false)?;
    info!(
        home = %home.display(),
        rpc = %devnet.rpc_urls()[0],
        faucet = %Devnet::faucet_key_path(home).display(),
        "created a new single-validator chain"
    );
    Ok(())
}

/// A base port whose 2N following ports are free now.
pub fn free_base_port(validators: usize) -> Result<u16> {
    for _ in 0..100 {
        // Below Linux's ephemeral range (32768-60999), where outgoing connections could take it.
        let base = 10_000 + (rand::random::<u16>() % 22_000);
        let free = (0..2 * validators as u16)
            .all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return Ok(base);
        }
    }
    bail!("no free port range found")
}

/// Validator processes that are stopped (SIGTERM, then SIGKILL) when this value is dropped.
struct Validators(Vec<Child>);

impl Validators {
    fn spawn(homes: &[Home]) -> Result<Self> {
        let mut children = Validators(Vec::new());
        for home in homes {
            children.0.push(Self::spawn_one(home)?);
        }
        Ok(children)
    }

    fn spawn_one(home: &Home) -> Result<Child> {
        let exe = std::env::current_exe().context("cannot find the agora executable")?;
        let log_path = home.0.join("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        std::process::Command::new(&exe)
            .arg("node")
            .arg("--home")
            .arg(&home.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start a validator process")
    }
}

impl Drop for Validators {
    fn drop(&mut self) {
        for child in &self.0 {
            // SAFETY: kill(2) on a child's pid has no memory-safety preconditions.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Waits until every node answers `status`.
pub async fn wait_ready(urls: &[String], timeout: Duration) -> Result<()> {
    let start = Instant::now();
    for url in urls {
        let client = Client::new(url)?;
        loop {
            if client.status().await.is_ok() {
                break;
            }
            if start.elapsed() > timeout {
                bail!("validator at {url} did not start within {timeout:?} (see its node.log)");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

pub struct RunningDevnet {
    pub devnet: Devnet,
    validators: Validators,
}

impl RunningDevnet {
    /// Creates (or resumes) the chain in `dir` and starts its validators.
    pub async fn start(dir: &Path, validators: Option<usize>, base_port: u16) -> Result<Self> {
        let devnet = match Devnet::open(dir)? {
            Some(devnet) => {
                let existing = devnet.genesis.validators.len();
                if validators.is_some_and(|n| n != existing) {
                    bail!(
                        "{} holds a chain of {existing} validators; remove the directory for a new chain",
                        dir.display()
                    );
                }
                info!(dir = %dir.display(), chain = %devnet.genesis.chain_id, "resuming chain");
                devnet
            }
            None => Devnet::create(
                dir,
                validators.unwrap_or(1).max(1),
                base_port,
                DEFAULT_CHAIN_ID,
                true,
            )?,
        };
        let validators = Validators::spawn(&devnet.homes)?;
        wait_ready(&devnet.rpc_urls(), Duration::from_secs(60)).await?;
        Ok(Self { devnet, validators })
    }

    /// Process ids of the validators, in genesis order.
    pub fn pids(&self) -> Vec<u32> {
        self.validators.0.iter().map(Child::id).collect()
    }

    /// Kills validator `i` with SIGKILL (no chance to flush anything) and waits for it.
    pub fn kill9(&mut self, i: usize) -> Result<()> {
        let child = self
            .validators
            .0
            .get_mut(i)
            .with_context(|| format!("no validator {i}"))?;
        child.kill().context("cannot kill the validator")?;
        child.wait().context("cannot reap the validator")?;
        Ok(())
    }

    /// Starts validator `i` again from its home.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        let home = self
            .devnet
            .homes
            .get(i)
            .with_context(|| format!("no validator {i}"))?;
        self.validators.0[i] = Validators::spawn_one(home)?;
        Ok(())
    }
}

pub fn run(args: DevnetArgs, out: &Output) -> Result<()> {
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let running = RunningDevnet::start(&args.home, args.validators, args.base_port).await?;
        let devnet = &running.devnet;
        let faucet = Devnet::faucet_key_path(&devnet.dir);
        let mut agents = JoinSet::new();
        let markets = if args.markets {
            start_markets(devnet, &faucet, &args, &mut agents).await?
        } else {
            Vec::new()
        };
        let explorer = devnet
            .rpc_urls()
            .first()
            .map(|url| format!("{url}/explorer"));
        out.print(
            &serde_json::json!({
                "chain_id": devnet.genesis.chain_id,
                "home": devnet.dir,
                "faucet_key": faucet,
                "rpc": devnet.rpc_urls(),
                "explorer": explorer,
                "markets": markets,
                "pids": running.pids(),
            }),
            || {
                let mut text = format!(
                    "chain {} in {}\n",
                    devnet.genesis.chain_id,
                    devnet.dir.display()
                );
                for (i, url) in devnet.rpc_urls().iter().enumerate() {
                    text += &format!(
                        "validator {i}: RPC {url}  (log {})\n",
                        devnet.homes[i].0.join("node.log").display()
                    );
                }
                if let Some(url) = devnet.rpc_urls().first() {
                    text += &format!("explorer: {url}/explorer (also /health, /ready, /metrics)\n");
                    for m in &markets {
                        text += &format!(
                            "{} market {}{}: {url}{}\n",
                            m.name,
                            m.market,
                            if m.resumed { " (resumed)" } else { "" },
                            m.explorer
                        );
                    }
                }
                text += &format!("faucet key: {}\nstop with Ctrl-C", faucet.display());
                text
            },
        )?;
        wait_for_stop().await;
        agents.abort_all();
        info!("stopping validators");
        drop(running);
        Ok(())
    })
}

/// Starts every market of [`agora_sim::demo::markets`] on the first validator, keeping what
/// they need to resume in the chain's `markets` directory.
async fn start_markets(
    devnet: &Devnet,
    faucet: &Path,
    args: &DevnetArgs,
    agents: &mut JoinSet<()>,
) -> Result<Vec<Started>> {
    let url = devnet
        .rpc_urls()
        .into_iter()
        .next()
        .context("the chain has no validator")?;
    let ctx = DemoContext {
        client: Client::new(&url)?,
        faucet: Keypair::read(faucet)?,
        dir: devnet.dir.join("markets"),
        data: args.data.clone(),
        interval_ms: args.interval_ms,
    };
    let mut started = Vec::new();
    for market in agora_sim::demo::markets() {
        info!(market = market.name(), "starting market");
        started.push(
            market
                .start(&ctx, agents)
                .await
                .with_context(|| format!("cannot start the {} market", market.name()))?,
        );
    }
    Ok(started)
}

async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            warn!(%e, "cannot listen for SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
