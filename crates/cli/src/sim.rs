//! `agora sim` and `agora solve`: markets run by their agents on a fresh local chain, and the
//! solvers on their own.

use crate::{devnet::RunningDevnet, output::Output};
use agora_client::Client;
use agora_node::devnet::Devnet;
use agora_sim::energy::{day_length, EnergySimConfig};
use agora_solver::energy::{solve, EnergyInstance, SolveOptions};
use agora_types::Keypair;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::{path::PathBuf, time::Duration};

#[derive(Subcommand)]
pub enum SimCommand {
    /// A day of the TRANSAX energy market on the homes of a profile directory.
    Energy(EnergyArgs),
}

#[derive(Args)]
pub struct EnergyArgs {
    /// Directory of prosumer_<id>.csv profiles (a home's feeder is id/100); the default is the
    /// 102-home microgrid shipped in the repository.
    #[arg(long, default_value = "data/microgrid-102/noBattery")]
    profiles: PathBuf,
    /// Solver horizon T_h in intervals beyond the next to finalize.
    #[arg(long, default_value_t = 30)]
    horizon: u32,
    /// Intervals ahead of the next finalization at which prosumers post their offers.
    #[arg(long, default_value_t = 4)]
    prediction_window: u32,
    /// Every feeder's internal limit, kWh per interval.
    #[arg(long, default_value_t = 2500.0)]
    c_int: f64,
    /// Every feeder's external limit, kWh per interval.
    #[arg(long, default_value_t = 2000.0)]
    c_ext: f64,
    /// Solver daemons.
    #[arg(long, default_value_t = 1)]
    solvers: usize,
    /// Solver 0 stops once this interval is next to finalize.
    #[arg(long)]
    fail_solver_at: Option<u32>,
    /// Prediction error of the homes' single-interval rows: standard deviation in percent of
    /// each home's largest row (experiment 3).
    #[arg(long, default_value_t = 0.0)]
    prediction_error: f64,
    /// Feeders per privacy group: consecutive feeders trade as one group with the safe limits of
    /// eq. 2.17/2.19. 1: every feeder is its own group.
    #[arg(long, default_value_t = 1)]
    privacy_group_size: u32,
    /// Offers come from anonymous accounts: the homes of each group first mix their assets
    /// with CoinShuffle, split into standard denominations.
    #[arg(long)]
    mix: bool,
    /// With --mix, homes offer what no other home's denominations could mix from their public
    /// accounts, linked to them; by default they keep it private and do not offer it.
    #[arg(long, requires = "mix")]
    public_remainder: bool,
    /// Real milliseconds per simulated 15-minute interval.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Write summary.json and the charts (energy.svg, dso_load.svg) there.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum SolveCommand {
    /// Solve one energy trading instance (JSON: next_final, offers, groups, assets).
    Energy {
        #[arg(long)]
        input: PathBuf,
        /// Solver horizon T_h (default: every interval).
        #[arg(long)]
        horizon: Option<u32>,
    },
}

fn wh(kwh: f64) -> u64 {
    (kwh * 1000.0).round().max(0.0) as u64
}

pub fn run_sim(cmd: SimCommand, out: &Output) -> Result<()> {
    let SimCommand::Energy(args) = cmd;
    let profiles = agora_sim::profiles::read_profiles(&args.profiles)?;
    let cfg = EnergySimConfig {
        horizon: args.horizon,
        prediction_window: args.prediction_window,
        c_int: wh(args.c_int),
        c_ext: wh(args.c_ext),
        solvers: args.solvers,
        fail_solver_at: args.fail_solver_at,
        interval_ms: args.interval_ms.max(100),
        t_clear: 1,
        prediction_error: args.prediction_error.max(0.0),
        privacy_group_size: args.privacy_group_size,
        mix: args.mix,
        public_remainder: args.public_remainder,
    };
    let summary = crate::runtime()?.block_on(async {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let running =
            RunningDevnet::start(dir.path(), Some(1), crate::devnet::free_base_port(1)?).await?;
        let client = Client::new(&running.devnet.rpc_urls()[0])?;
        let faucet = Keypair::read(&Devnet::faucet_key_path(dir.path()))?;
        let bar = ProgressBar::new(day_length(&profiles) as u64).with_style(
            ProgressStyle::with_template("{bar:40} interval {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let summary = agora_sim::energy::run(&client, &faucet, profiles, cfg, |t| {
            bar.set_position(t as u64)
        })
        .await;
        bar.finish_and_clear();
        drop(running);
        anyhow::Ok(summary?)
    })?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(
            dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?,
        )?;
        for (name, svg) in summary.plots() {
            std::fs::write(dir.join(name), svg).with_context(|| format!("cannot write {name}"))?;
        }
    }
    out.print(&summary, || {
        let mut text = format!(
            "{} homes on {} feeders in {} trading groups: offered {:.1} kWh, requested {:.1} kWh, traded {:.1} kWh; solutions {} submitted, {} accepted, {} rejected",
            summary.homes,
            summary.feeders,
            summary.trading_groups.len(),
            summary.total_offered_kwh,
            summary.total_requested_kwh,
            summary.total_traded_kwh,
            summary.solutions.submitted,
            summary.solutions.accepted,
            summary.solutions.rejected
        );
        if let Some(mix) = &summary.mix {
            text += &format!(
                "\nmixing: {} sessions, p50 {:.0} ms; anonymity sets of {:.1} outputs on average (smallest {}); {:.1} kWh per interval in anonymous accounts, {:.1} kWh left public; offered {:.1} kWh anonymously, {:.1} kWh publicly, {:.1} kWh not offered",
                mix.sessions,
                mix.session_p50_ms,
                mix.mean_anonymity_set,
                mix.min_anonymity_set,
                mix.mixed_kwh_per_interval,
                mix.unmixed_kwh_per_interval,
                mix.anonymous_offered_kwh,
                mix.public_offered_kwh,
                mix.unoffered_kwh
            );
        }
        text
    })
}

pub fn run_solve(cmd: SolveCommand, out: &Output) -> Result<()> {
    let SolveCommand::Energy { input, horizon } = cmd;
    let text = std::fs::read_to_string(&input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let instance: EnergyInstance = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an energy instance", input.display()))?;
    let solution = solve(
        &instance,
        &SolveOptions {
            horizon,
            time_limit: Duration::from_secs(60),
        },
    )?;
    out.print(&solution, || {
        format!(
            "{} trades, {} Wh (LP bound {:.1} Wh, integral by {:?}) in {:.1} ms",
            solution.trades.len(),
            solution.objective,
            solution.lp_objective,
            solution.integrality,
            solution.solve_ms
        )
    })
}
