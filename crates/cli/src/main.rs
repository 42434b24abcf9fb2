//! `agora`: run nodes and local chains, manage keys, send transactions, query state, benchmark.

mod allocation;
mod allocation_sim;
mod bench;
mod compute;
mod compute_sim;
mod devnet;
mod discovery;
mod exec;
mod fuzz;
mod grouping;
mod output;
mod reliability;
mod sim;
mod stream;

use agora_bank::BankCall;
use agora_client::Client;
use agora_node::{
    config::{LogFormat, NodeConfig},
    genesis::Home,
};
use agora_types::{Address, Keypair};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use output::Output;
use std::{path::PathBuf, time::Duration};

#[derive(Parser)]
#[command(
    name = "agora",
    version,
    about = "Markets that no single party controls, on a BFT ledger."
)]
struct Cli {
    /// The node to talk to.
    #[arg(
        long,
        global = true,
        env = "AGORA_RPC",
        default_value = "http://127.0.0.1:8545"
    )]
    rpc: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and inspect keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run one validator from its home directory (an empty directory becomes a new
    /// single-validator chain, with its faucet key in DIR/faucet.key). Its RPC port also
    /// serves /health, /ready and /metrics.
    Node {
        #[arg(long, required_unless_present = "print_config")]
        home: Option<PathBuf>,
        /// RPC port of a new chain (p2p uses the next port) [default: the configuration's
        /// base_port, 8545].
        #[arg(long)]
        base_port: Option<u16>,
        /// The node's configuration (TOML); `--print-config` prints every field.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the configuration (the defaults, or FILE of `--config` with its defaults
        /// filled in) as a documented TOML file and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Run a local chain of N validators as separate processes (resumes the chain in DIR).
    Devnet(devnet::DevnetArgs),
    /// Show the node's chain status.
    Status,
    /// Send a transaction.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Read module state.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Measure the platform.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run a market with its agents on a fresh local chain.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Analyses that need no chain.
    #[command(subcommand)]
    Analyze(AnalyzeCommand),
    /// Run a market's solver on one instance.
    #[command(subcommand)]
    Solve(sim::SolveCommand),
    /// The compute market's game calculator.
    #[command(subcommand)]
    Compute(compute::ComputeCommand),
    /// The discovery daemon of this host (no subcommand), or a command against it.
    Discovery(discovery::DiscoveryArgs),
    /// Run compute-market jobs (WebAssembly, metered).
    #[command(subcommand)]
    Exec(exec::ExecCommand),
}

#[derive(Subcommand)]
enum AnalyzeCommand {
    /// Safety (eq. 2.17, 2.19), cost (eq. 2.18) and anonymity (Example 2) of grouping feeders.
    Grouping {
        /// JSON: {"feeders": [{id, c_int, c_ext, prosumers: [{l_prod, l_cons}]}],
        /// "groups": [{feeders, c_int, c_ext, sell, buy}]}, Wh per interval.
        #[arg(long)]
        input: PathBuf,
    },
    /// The stream market's games (Tables 4.2-4.4), eq. 4.3-4.6 and the customer's break-even.
    Stream(stream::AnalyzeArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new key to FILE (never overwrites) and print its address.
    New {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the address of the key in FILE.
    Show { file: PathBuf },
}

#[derive(Subcommand)]
enum TxCommand {
    /// Transfer tokens.
    Transfer {
        /// Key file of the sender.
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        to: Address,
        #[arg(long)]
        amount: u64,
        /// Wait until the transfer is finalized and print its receipt.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand)]
enum QueryCommand {
    /// The balance of an account.
    Balance { address: Address },
    /// Any module query: `agora query module bank supply '{}'`.
    Module {
        module: String,
        path: String,
        #[arg(default_value = "{}")]
        params: String,
    },
}

fn init_logs(default: &str) {
    init_logs_as(default, LogFormat::Text);
}

/// Logs to stderr as `format`, filtered by RUST_LOG or else `default`.
fn init_logs_as(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn main() {
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    if let Err(e) = run(cli, &out) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli, out: &Output) -> Result<()> {
    match cli.command {
        Command::Keys(KeysCommand::New { out: path }) => {
            let key = Keypair::generate(&mut rand::rngs::OsRng);
            key.write_new(&path)?;
            out.print(
                &serde_json::json!({"address": key.address(), "file": path}),
                || format!("{}", key.address()),
            )
        }
        Command::Keys(KeysCommand::Show { file }) => {
            let key = Keypair::read(&file)?;
            out.print(&serde_json::json!({"address": key.address()}), || {
                key.address().to_string()
            })
        }
        Command::Node {
            home,
            base_port,
            config,
            print_config,
        } => {
            let config = match &config {
                Some(path) => NodeConfig::read(path)?,
                None => NodeConfig::default(),
            };
            if print_config {
                print!("{}", config.to_commented_toml()?);
                return Ok(());
            }
            let home = home.context("--home is required")?;
            init_logs_as(&config.log.filter, config.log.format);
            devnet::ensure_single_node_home(&home, base_port.unwrap_or(config.base_port))?;
            agora_node::node::run(&Home(home), &config)?;
            Ok(())
        }
        Command::Devnet(args) => {
            init_logs("info");
            devnet::run(args, out)
        }
        Command::Status => {
            let client = Client::new(&cli.rpc)?;
            let status = runtime()?.block_on(client.status())?;
            out.print(&status, || {
                let caught_up = if status.caught_up {
                    "caught up: yes".to_string()
                } else {
                    format!(
                        "caught up: no ({} finalized blocks to execute)",
                        status.finalized_height.saturating_sub(status.height)
                    )
                };
                format!(
                    "chain {}\nheight {} (finalized {})\n{caught_up}\nstate root {}\nvalidators {}\nmempool {}",
                    status.chain_id,
                    status.height,
                    status.finalized_height,
                    status.state_root,
                    status.validators.len(),
                    status.mempool
                )
            })
        }
        Command::Tx(TxCommand::Transfer {
            key,
            to,
            amount,
            wait,
        }) => {
            let key = Keypair::read(&key)?;
            let client = Client::new(&cli.rpc)?;
            runtime()?.block_on(async {
                let tx = client
                    .send(&key, BankCall::Transfer { to, amount }.into_call())
                    .await?;
                if !wait {
                    return out.print(&serde_json::json!({"tx_hash": tx.hash()}), || {
                        tx.hash().to_string()
                    });
                }
                let receipt = client
                    .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
                    .await?;
                out.print(&receipt, || {
                    format!(
                        "{} {:?} at height {}{}",
                        receipt.tx_hash,
                        receipt.status,
                        receipt.height,
                        receipt
                            .message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    )
                })?;
                if receipt.status != agora_types::TxStatus::Success {
                    bail!("transaction failed: {}", receipt.reason.unwrap_or_default());
                }
                Ok(())
            })
        }
        Command::Query(QueryCommand::Balance { address }) => {
            let client = Client::new(&cli.rpc)?;
            let balance = runtime()?.block_on(client.balance(&address))?;
            out.print(
                &serde_json::json!({"address": address, "balance": balance}),
                || balance.to_string(),
            )
        }
        Command::Query(QueryCommand::Module {
            module,
            path,
            params,
        }) => {
            let params: serde_json::Value =
                serde_json::from_str(&params).context("query parameters must be JSON")?;
            let client = Client::new(&cli.rpc)?;
            let answer = runtime()?.block_on(client.query(&module, &path, params))?;
            out.print(&answer, || {
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            })
        }
        Command::Bench(cmd) => {
            init_logs("warn");
            bench::run(cmd, out)
        }
        Command::Sim(cmd) => {
            init_logs("warn");
            sim::run_sim(cmd, out)
        }
        Command::Solve(cmd) => sim::run_solve(cmd, out),
        Command::Discovery(args) => {
            init_logs("info,libp2p=warn");
            discovery::run(args, out)
        }
        Command::Analyze(AnalyzeCommand::Grouping { input }) => grouping::run(&input, out),
        Command::Analyze(AnalyzeCommand::Stream(args)) => stream::run(&args, out),
        Command::Compute(cmd) => compute::run(cmd, out),
        Command::Exec(cmd) => exec::run(cmd, out),
    }
}
