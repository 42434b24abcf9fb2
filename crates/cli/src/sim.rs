//! `agora sim` and `agora solve`: markets run by their agents on a fresh local chain, and the
//! solvers on their own.

use crate::{devnet::RunningDevnet, output::Output};
use agora_client::Client;
use agora_node::devnet::Devnet;
use agora_sim::energy::{
    experiments::{run_experiment, ExperimentOptions},
    BatterySpec, EnergySimConfig,
};
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
    /// The SolidWorx carpool case (seed 6.5.1) on the allocation market.
    Carpool(crate::allocation_sim::CarpoolArgs),
    /// The SolidWorx energy case (seed 6.5.2) on the allocation market.
    AllocationEnergy(crate::allocation_sim::AllocationEnergyArgs),
    /// The MODiCuM compute market: a job creator's jobs one after another, with a resource
    /// provider, a mediator, a directory, a solver and a keeper as agents.
    Compute(crate::compute_sim::ComputeSimArgs),
    /// The stream market's experiments (seed section 4.7).
    #[command(subcommand)]
    Stream(crate::stream::StreamSimCommand),
}

#[derive(Args)]
pub struct EnergyArgs {
    #[command(subcommand)]
    command: Option<EnergyCommand>,
    /// Directory of prosumer_<id>.csv profiles (a home's feeder is id/100); the default is the
    /// 102-home microgrid shipped in the repository.
    #[arg(long, global = true, default_value = "data/microgrid-102/noBattery")]
    profiles: PathBuf,
    /// The homes this many times: copy k of home h is home h + 2000k, on its own copy of h's
    /// feeder.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    replicate: u32,
    /// Only intervals A..B of the day (1-based, inclusive, as in the profiles).
    #[arg(long, global = true, value_parser = parse_intervals)]
    intervals: Option<(u32, u32)>,
    /// Every home that produces has the prototype's battery (14 kWh, 7.5 kW).
    #[arg(long, global = true)]
    battery: bool,
    /// Solver horizon T_h in intervals beyond the next to finalize.
    #[arg(long, default_value_t = 30)]
    horizon: u32,
    /// Intervals ahead of the next finalization at which prosumers post their offers.
    #[arg(long, global = true, default_value_t = 4)]
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
    #[arg(long, global = true, default_value_t = 1000)]
    interval_ms: u64,
    /// Write summary.json, bills.csv and the charts (energy.svg, dso_load.svg) there.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum EnergyCommand {
    /// One of the seed's experiments (section 2.9.3) on the ledger: 1, solver horizon T_h
    /// (Fig. 2.8); 2, the DSO's net load with and without trading and the batteries' charge
    /// (Fig. 2.10, 2.11); 3, prediction error (Fig. 2.14). Writes experiment<N>.csv, .json and
    /// its SVG figures into --out.
    Experiment(ExperimentArgs),
}

#[derive(Args)]
pub struct ExperimentArgs {
    #[arg(value_parser = clap::value_parser!(u8).range(1..=3))]
    number: u8,
    /// Experiment 1: the solver horizons T_h.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 2, 4, 8, 16, 30, 45])]
    horizons: Vec<u32>,
    /// Experiment 3: prediction errors, standard deviation in % of a home's largest row.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0])]
    errors: Vec<f64>,
    /// Experiment 3: simulated days (seeds) per error level.
    #[arg(long, default_value_t = 2)]
    days: u32,
    /// Write the table and figures there.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `A..B` with 1 <= A <= B.
pub(crate) fn parse_intervals(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("expected A..B, got {s:?}"))?;
    let a: u32 = a.trim().parse().map_err(|e| format!("A: {e}"))?;
    let b: u32 = b.trim().parse().map_err(|e| format!("B: {e}"))?;
    if a == 0 || a > b {
        return Err(format!("need 1 <= A <= B, got {a}..{b}"));
    }
    Ok((a, b))
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
    /// Solve one allocation instance (the market's `open_problem` JSON, docs/allocation.md).
    Allocation(crate::allocation::SolveArgs),
}

fn wh(kwh: f64) -> u64 {
    (kwh * 1000.0).round().max(0.0) as u64
}

fn config(args: &EnergyArgs) -> EnergySimConfig {
    EnergySimConfig {
        horizon: args.horizon,
        prediction_window: args.prediction_window,
        c_int: wh(args.c_int),
        c_ext: wh(args.c_ext),
        solvers: args.solvers,
        fail_solver_at: args.fail_solver_at,
        interval_ms: args.interval_ms.max(100),
        t_clear: 1,
        prediction_error: args.prediction_error.max(0.0),
        seed: 0,
        battery: args.battery.then_some(BatterySpec::PROTOTYPE),
        intervals: args.intervals,
        privacy_group_size: args.privacy_group_size,
        mix: args.mix,
        public_remainder: args.public_remainder,
    }
}

/// Runs `body` against a fresh one-node devnet, with a progress bar over `len` `unit`s.
pub(crate) fn on_devnet<T>(
    len: u64,
    unit: &str,
    body: impl AsyncFnOnce(&Client, &Keypair, &ProgressBar) -> Result<T>,
) -> Result<T> {
    crate::runtime()?.block_on(async {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let running =
            RunningDevnet::start(dir.path(), Some(1), crate::devnet::free_base_port(1)?).await?;
        let client = Client::new(&running.devnet.rpc_urls()[0])?;
        let faucet = Keypair::read(&Devnet::faucet_key_path(dir.path()))?;
        let bar = ProgressBar::new(len).with_style(
            ProgressStyle::with_template(&format!(
                "{{msg}} {{bar:40}} {unit} {{pos}}/{{len}} {{elapsed}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let result = body(&client, &faucet, &bar).await;
        bar.finish_and_clear();
        drop(running);
        result
    })
}

pub(crate) fn write_out(dir: &std::path::Path, files: &[(String, String)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text).with_context(|| format!("cannot write {name}"))?;
    }
    Ok(())
}

pub fn run_sim(cmd: SimCommand, out: &Output) -> Result<()> {
    let args = match cmd {
        SimCommand::Energy(args) => args,
        SimCommand::Carpool(args) => return crate::allocation_sim::run_carpool(args, out),
        SimCommand::AllocationEnergy(args) => {
            return crate::allocation_sim::run_allocation_energy(args, out)
        }
        SimCommand::Compute(args) => return crate::compute_sim::run_sim(args, out),
        SimCommand::Stream(cmd) => return crate::stream::run_sim(cmd, out),
    };
    let mut profiles = agora_sim::profiles::read_profiles(&args.profiles)?;
    if let Some((a, b)) = args.intervals {
        profiles = agora_sim::profiles::window(&profiles, a, b)?;
    }
    let profiles = agora_sim::profiles::replicate(&profiles, args.replicate)?;
    let cfg = config(&args);
    let day = cfg
        .intervals
        .map_or_else(|| agora_sim::energy::day_length(&profiles), |(_, b)| b + 1);
    if let Some(EnergyCommand::Experiment(exp)) = &args.command {
        return run_experiment_command(exp, cfg, &profiles, day, out);
    }
    let summary = on_devnet(day as u64, "interval", async |client, faucet, bar| {
        let summary = agora_sim::energy::run(client, faucet, profiles, cfg, |t| {
            bar.set_position(t as u64)
        })
        .await?;
        Ok(summary)
    })?;
    if let Some(dir) = &args.out {
        let mut files = vec![(
            "summary.json".to_string(),
            serde_json::to_string_pretty(&summary)?,
        )];
        files.push((
            "bills.csv".to_string(),
            agora_sim::meter::bills_csv(&summary.bills),
        ));
        files.extend(
            summary
                .plots()
                .into_iter()
                .map(|(n, svg)| (n.to_string(), svg)),
        );
        write_out(dir, &files)?;
    }
    out.print(&summary, || {
        let mut text = format!(
            "{} homes ({} batteries) on {} feeders in {} trading groups: offered {:.1} kWh, requested {:.1} kWh, traded {:.1} kWh; solutions {} submitted, {} accepted, {} rejected; largest {} trades in {} bytes, solve p50 {:.1} ms (max {:.1}), verify max {:.2} ms",
            summary.homes,
            summary.batteries,
            summary.feeders,
            summary.trading_groups.len(),
            summary.total_offered_kwh,
            summary.total_requested_kwh,
            summary.total_traded_kwh,
            summary.solutions.submitted,
            summary.solutions.accepted,
            summary.solutions.rejected,
            summary.solutions.largest_trades,
            summary.solutions.largest_bytes,
            summary.solutions.solve_p50_ms,
            summary.solutions.solve_max_ms,
            summary.solutions.verify_max_ms
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

fn run_experiment_command(
    exp: &ExperimentArgs,
    base: EnergySimConfig,
    profiles: &[agora_sim::profiles::Profile],
    day: u32,
    out: &Output,
) -> Result<()> {
    let opts = ExperimentOptions {
        base,
        horizons: exp.horizons.clone(),
        errors: exp.errors.clone(),
        days: exp.days,
    };
    let report = on_devnet(day as u64, "interval", async |client, faucet, bar| {
        let progress = |label: &str, t: u32| {
            bar.set_message(label.to_string());
            bar.set_position(t as u64);
        };
        Ok(run_experiment(exp.number, client, faucet, profiles, &opts, progress).await?)
    })?;
    let json = report.json();
    if let Some(dir) = &exp.out {
        let name = format!("experiment{}", exp.number);
        let mut files = vec![
            (format!("{name}.csv"), report.csv()),
            (format!("{name}.json"), serde_json::to_string_pretty(&json)?),
        ];
        files.extend(report.figures.iter().cloned());
        write_out(dir, &files)?;
    }
    out.print(&json, || report.csv())
}

pub fn run_solve(cmd: SolveCommand, out: &Output) -> Result<()> {
    let (input, horizon) = match cmd {
        SolveCommand::Energy { input, horizon } => (input, horizon),
        SolveCommand::Allocation(args) => return crate::allocation::solve(args, out),
    };
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
