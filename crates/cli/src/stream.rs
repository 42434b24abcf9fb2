//! `agora analyze stream`: the stream market's game tables and eq. 4.3-4.6 for given
//! parameters (defaults: the seed's Table 4.7, in dollars); `agora sim stream`: its
//! experiments on a fresh chain.

use crate::output::Output;
use agora_sim::stream::bus::Network;
use agora_sim::stream::latency::{run_latency, LatencySetup};
use agora_sim::stream::{service::Service, strategies::run_strategies};
use agora_sim::stream_analysis::{analyze, Game, Params, Report};
use anyhow::{ensure, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::{fmt::Write, path::PathBuf, sync::Arc};

#[derive(Args)]
pub struct AnalyzeArgs {
    /// λ: inputs per second.
    #[arg(long, default_value_t = 20.0)]
    lambda: f64,
    /// Δ: allocation length in seconds.
    #[arg(long, default_value_t = 600.0)]
    delta_s: f64,
    /// n: test outputs the customer commits to.
    #[arg(long, default_value_t = 12.0)]
    n: f64,
    /// ρ: penalty rate (deposits π_cd = π_sd = ρ·π_s).
    #[arg(long, default_value_t = 1000.0)]
    rho: f64,
    /// π_s: price of one input.
    #[arg(long, default_value_t = 2.0e-5)]
    pi_s: f64,
    /// b: the customer's benefit per output.
    #[arg(long, default_value_t = 3.5e-5)]
    b: f64,
    /// π_sε: the supplier's electricity per input.
    #[arg(long, default_value_t = 7e-8)]
    pi_se: f64,
    /// π_cg: the customer's cost per test output.
    #[arg(long, default_value_t = 7e-8)]
    pi_cg: f64,
    /// π_cc: the customer's cost of committing (the seed's gas).
    #[arg(long, default_value_t = 1.1257)]
    pi_cc: f64,
    /// π_v: the supplier's cost of posting its output (the seed's gas).
    #[arg(long, default_value_t = 1.0669)]
    pi_v: f64,
    /// π_a: each participant's cost of accepting (the seed's gas).
    #[arg(long, default_value_t = 3.02994)]
    pi_a: f64,
    /// π_A: the allocator's payout.
    #[arg(long, default_value_t = 0.0)]
    pi_allocator: f64,
    /// π_m: the mediator's payout for availability.
    #[arg(long, default_value_t = 3.3e-5)]
    pi_m: f64,
    /// π_vε: the mediator's electricity per re-processed input.
    #[arg(long, default_value_t = 7e-8)]
    pi_ve: f64,
    /// π_mc: the mediator's cost of posting a result.
    #[arg(long, default_value_t = 0.0)]
    pi_mc: f64,
    /// P(b): the success probability the customer wants (eq. 4.3).
    #[arg(long, default_value_t = 0.99)]
    p_b: f64,
    /// p_f: one replica's failure probability over the allocation (eq. 4.3).
    #[arg(long, default_value_t = 0.05)]
    p_f: f64,
    /// Set π_cc, π_v and π_a to 0 (Agora charges no gas).
    #[arg(long)]
    no_gas: bool,
}

impl AnalyzeArgs {
    fn params(&self) -> Result<Params> {
        let p = Params {
            lambda: self.lambda,
            delta_s: self.delta_s,
            n: self.n,
            rho: self.rho,
            pi_s: self.pi_s,
            b: self.b,
            pi_se: self.pi_se,
            pi_cg: self.pi_cg,
            pi_cc: self.pi_cc,
            pi_v: self.pi_v,
            pi_a: self.pi_a,
            pi_allocator: self.pi_allocator,
            pi_m: self.pi_m,
            pi_ve: self.pi_ve,
            pi_mc: self.pi_mc,
            p_b: self.p_b,
            p_f: self.p_f,
        };
        ensure!(
            p.lambda > 0.0 && p.delta_s > 0.0 && p.n >= 1.0,
            "λ, Δ must be positive and n at least 1"
        );
        ensure!(
            p.pi_s > 0.0 && p.pi_se > 0.0,
            "π_s and π_sε must be positive"
        );
        ensure!(
            p.p_b > 0.0 && p.p_b < 1.0 && p.p_f > 0.0 && p.p_f < 1.0,
            "P(b) and p_f must be in (0, 1)"
        );
        Ok(if self.no_gas { p.without_gas() } else { p })
    }
}

fn table(title: &str, g: &Game) -> String {
    let mut s = format!("{title}  (supplier ; customer, * best response)\n");
    let _ = writeln!(s, "{:>8} {:>36} {:>36}", "", g.columns[0], g.columns[1]);
    for (r, row) in g.cells.iter().enumerate() {
        let _ = write!(s, "{:>8}", g.rows[r]);
        for c in row {
            let mark = |best| if best { "*" } else { " " };
            let cell = format!(
                "{:.6e}{} ; {:.6e}{}",
                c.supplier,
                mark(c.supplier_best),
                c.customer,
                mark(c.customer_best)
            );
            let _ = write!(s, " {cell:>36}");
        }
        s.push('\n');
    }
    let nash = if g.pure_nash.is_empty() {
        "none".to_string()
    } else {
        g.pure_nash.join(", ")
    };
    let _ = writeln!(s, "pure Nash equilibria: {nash}");
    s
}

fn text(r: &Report) -> String {
    let mut s = format!(
        "λΔ = {} inputs, deposits π_cd = π_sd = ρ·π_s = {:.6} $\n\n",
        r.inputs, r.deposit
    );
    s += &table("Table 4.2, one input (Theorem 7)", &r.one_input_game);
    s.push('\n');
    s += &table(
        "Table 4.3, with the customer's commitment",
        &r.commitment_game,
    );
    s += "\nTable 4.4 outcomes    customer     supplier    allocator  mediator (printed / A7)\n";
    for o in &r.outcomes {
        let _ = writeln!(
            s,
            "{} {:<14} {:>11.6} {:>11.6} {:>11.6} {:>11.6} / {:.6}",
            o.name,
            o.strategies,
            o.customer,
            o.supplier,
            o.allocator,
            o.mediator_printed,
            o.mediator
        );
    }
    let d = &r.dominance;
    let _ = write!(
        s,
        "\neq. 4.4: n·π_cg = {:.3e} < π_cd = {:.6}: {}; n < ρ: {}\n\
         supplier: λΔ(π_s − π_sε) + π_sd = {:.6} > 0: {}\n",
        d.n_pi_cg,
        d.pi_cd,
        d.customer_commits,
        d.n_below_rho,
        d.supplier_margin,
        d.supplier_processes
    );
    let p = &r.partial;
    let _ = write!(
        s,
        "\neq. 4.5/4.6: e_s = {:.6}; P* = {:.3} at ρ = {}, {:.3} at ρ = λΔ/n = {} (1/e_s), {:.3} at ρ = 0\n\
         least ρ with P* ≥ 1: {:.3}; best response P(s) = {}\n",
        p.e_s, p.p_star, r.params.rho, p.p_star_eq_4_6, p.rho_eq_4_6, p.p_star_no_penalty,
        p.rho_min, p.best_response
    );
    for (x, u) in &p.utility {
        let _ = writeln!(s, "  U[S]({x}) = {u:.6}");
    }
    let _ = writeln!(
        s,
        "  passing n tests at P(s) = 0.99: {:.6} (independent), {:.6} (exact)",
        p.pass_99_independent, p.pass_99_exact
    );
    let b = &r.break_even;
    let _ = write!(
        s,
        "\nbreak-even (Fig. 4.6): P*_c = {:.6} with fixed costs {:.6} $; verifying advantage at P(s) = 1: {:.6} $\n\
         eq. 4.3: printed r = {:.3}, corrected r = {} for P(b) = {}, p_f = {}",
        b.formula, b.fixed_costs, b.verifying_advantage, r.replicas_printed, r.replicas,
        r.params.p_b, r.params.p_f
    );
    s
}

pub fn run(args: &AnalyzeArgs, out: &Output) -> Result<()> {
    let report = analyze(&args.params()?);
    out.print(&report, || text(&report))
}

#[derive(Subcommand)]
pub enum StreamSimCommand {
    /// The strategy experiments (Fig. 4.5, 4.6) on a fresh chain: suppliers and customers in
    /// six groups of five by honesty, then nine markets with every supplier at one P(s) from
    /// 60 % to 100 %; prints each group's final utility and the verifying customer's break-even.
    Strategies(StrategiesArgs),
    /// The end-to-end latency experiment (Fig. 4.7) on a fresh chain, its agents' channels on
    /// the chosen bus: input → output, offer → allocation on the ledger, and the mediator's
    /// read → write, each as {p50, p99} in ms, and the count of bus messages.
    Latency(LatencyArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum BusKind {
    /// The in-process broker.
    Embedded,
    /// A nats-server (JetStream, one account per stakeholder) started for the run.
    Nats,
}

#[derive(Args)]
pub struct LatencyArgs {
    /// Where the agents' channels live.
    #[arg(long, value_enum, default_value_t = BusKind::Embedded)]
    bus: BusKind,
    /// Allocations to play (three per round).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..))]
    allocations: u64,
    /// Inputs per allocation, one message each, over one second of ledger time.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    frames: u64,
    /// Seeds the agents' keys and which allocations the lazy suppliers skip.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The nats-server binary for `--bus nats` (default: `nats-server` on the PATH). The run
    /// starts its own server: the rights authority rewrites and reloads its configuration.
    #[arg(long)]
    nats_server: Option<PathBuf>,
}

#[derive(Args)]
pub struct StrategiesArgs {
    /// Allocations per market (the seed ran 1000).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    allocations: u64,
    /// Seeds which allocations each party plays honestly (and the agents' keys).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write fig4_5.svg, fig4_6.svg and strategies.json there.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run_sim(cmd: StreamSimCommand, out: &Output) -> Result<()> {
    match cmd {
        StreamSimCommand::Strategies(args) => strategies(args, out),
        StreamSimCommand::Latency(args) => latency(args, out),
    }
}

fn latency(args: LatencyArgs, out: &Output) -> Result<()> {
    let service = Arc::new(Service::crc32().context("cannot compile the stream service")?);
    let setup = LatencySetup {
        allocations: args.allocations,
        frames: args.frames,
        seed: args.seed,
    };
    let report = crate::sim::on_devnet(
        args.allocations,
        "allocation",
        async |client, faucet, bar| {
            let network = match args.bus {
                BusKind::Embedded => Network::embedded(),
                BusKind::Nats => Network::nats(args.nats_server.as_deref())
                    .await
                    .context("--bus nats runs its own nats-server")?,
            };
            bar.set_message(format!("stream latency ({} bus)", network.name()));
            Ok(run_latency(client, faucet, &network, &setup, service).await?)
        },
    )?;
    out.print(&report, || report.text())
}

fn strategies(args: StrategiesArgs, out: &Output) -> Result<()> {
    let service = Arc::new(Service::crc32().context("cannot compile the stream service")?);
    let report = crate::sim::on_devnet(
        args.allocations,
        "allocation",
        async |client, faucet, bar| {
            bar.set_message("stream strategies");
            Ok(run_strategies(client, faucet, args.allocations, args.seed, service).await?)
        },
    )?;
    if let Some(dir) = &args.out {
        let mut files = report.figures();
        files.push((
            "strategies.json".into(),
            serde_json::to_string_pretty(&report)?,
        ));
        crate::sim::write_out(dir, &files)?;
    }
    out.print(&report, || report.text())
}
