//! `agora sim compute` and `agora bench compute`: the MODiCuM market with every role as an
//! agent on a fresh local chain.

use crate::output::Output;
use crate::sim::{on_devnet, write_out};
use agora_sim::compute::{ComputeSimConfig, ComputeSimSummary};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// A probability in [0, 1].
fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("a probability lies in [0, 1], got {p}"));
    }
    Ok(p)
}

#[derive(Args)]
pub struct ComputeSimArgs {
    /// Jobs the job creator runs, one after another.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: u64,
    /// Probability that the resource provider forges a result (1 - p_e): random output of the
    /// allowed size and a plausible fuel count.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    rp_cheat_rate: f64,
    /// Probability that the job creator verifies a result by running the job again (p_v); the
    /// default is eq. 3.4's rate for n = 2, θ = 50.
    #[arg(long, default_value_t = 0.02, value_parser = probability)]
    jc_verify_rate: f64,
    /// Probability that the resource provider never answers a match (its result times out).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    rp_silent_rate: f64,
    /// Seeds the jobs' inputs and the agents' draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Completion deadline of each job, ms after its offer.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    completion_window_ms: u64,
    /// Write summary.json, jobs.csv and the figures (fig_3_6.svg, latency.svg) there.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the market on a fresh one-validator devnet.
fn simulate(cfg: ComputeSimConfig) -> Result<ComputeSimSummary> {
    let jobs = cfg.jobs as u64;
    on_devnet(jobs, "job", async |client, faucet, bar| {
        Ok(
            agora_sim::compute::run(client, faucet, cfg, |done| bar.set_position(done as u64))
                .await?,
        )
    })
}

pub fn run_sim(args: ComputeSimArgs, out: &Output) -> Result<()> {
    let summary = simulate(ComputeSimConfig {
        jobs: args.jobs as usize,
        rp_cheat_rate: args.rp_cheat_rate,
        jc_verify_rate: args.jc_verify_rate,
        rp_silent_rate: args.rp_silent_rate,
        seed: args.seed,
        completion_window_ms: args.completion_window_ms,
    })?;
    if let Some(dir) = &args.out {
        let mut files = vec![
            (
                "summary.json".to_string(),
                serde_json::to_string_pretty(&summary)?,
            ),
            ("jobs.csv".to_string(), summary.jobs_csv()),
        ];
        files.extend(
            summary
                .plots()
                .into_iter()
                .map(|(n, svg)| (n.to_string(), svg)),
        );
        write_out(dir, &files)?;
    }
    out.print(&summary, || {
        let nets: Vec<String> = summary
            .net_change
            .iter()
            .map(|(role, net)| format!("{role} {net}"))
            .collect();
        format!(
            "jobs {}\ncompleted {}\naccepted {}\nmediated {}\nrp_faulted {}\njc_faulted {}\ntimeouts {}\nsupply_conserved {}\nadded_latency_ms p50 {:.1} max {:.1}\nnet_change {}",
            summary.jobs,
            summary.completed,
            summary.accepted,
            summary.mediated,
            summary.rp_faulted,
            summary.jc_faulted,
            summary.timeouts,
            summary.supply_conserved,
            summary.added_latency_ms.p50,
            summary.added_latency_ms.max,
            nets.join(", ")
        )
    })
}

/// What `agora bench compute` reports.
#[derive(Serialize)]
struct ComputeBench {
    jobs: usize,
    /// Time the market adds to a job beyond its runs (ms).
    added_latency_ms: agora_sim::compute::Latency,
    /// Submit to finalized receipt (ms).
    call_latency_ms: agora_sim::compute::Latency,
    /// Metered vs unmetered wasmtime on the shipped kernels.
    metering: Vec<agora_exec::overhead::Overhead>,
    metering_overhead_pct_max: f64,
    /// The agents run as tasks of this process (the validator is another): resident memory
    /// before they start and at its peak, shared out over the six agents.
    rss_before_agents_mb: f64,
    rss_peak_mb: f64,
    agents: usize,
    rss_per_agent_mb: f64,
}

pub fn bench(jobs: usize, reps: usize, out: &Output) -> Result<()> {
    let mb = |field| crate::bench::status_mb(std::process::id(), field).unwrap_or(f64::NAN);
    let before = mb("VmRSS:");
    let summary = simulate(ComputeSimConfig {
        jobs,
        ..ComputeSimConfig::default()
    })?;
    let peak = mb("VmHWM:");
    let metering = agora_exec::overhead::measure(&agora_exec::overhead::inputs(), reps)?;
    let report = ComputeBench {
        jobs,
        added_latency_ms: summary.added_latency_ms,
        call_latency_ms: summary.call_latency_ms,
        metering_overhead_pct_max: metering
            .iter()
            .map(|m| m.overhead_pct)
            .fold(f64::MIN, f64::max),
        metering,
        rss_before_agents_mb: before,
        rss_peak_mb: peak,
        agents: 6,
        rss_per_agent_mb: (peak - before) / 6.0,
    };
    out.print(&report, || {
        let mut text = format!(
            "added latency per job: p50 {:.1} ms, max {:.1} ms ({} jobs)\ncall latency: p50 {:.1} ms, max {:.1} ms\nmemory: {:.1} MB before the agents, peak {:.1} MB: {:.1} MB per agent ({} agents)\nmetering overhead:",
            report.added_latency_ms.p50,
            report.added_latency_ms.max,
            report.jobs,
            report.call_latency_ms.p50,
            report.call_latency_ms.max,
            report.rss_before_agents_mb,
            report.rss_peak_mb,
            report.rss_per_agent_mb,
            report.agents
        );
        for m in &report.metering {
            text.push_str(&format!(
                "\n  {:<8} {:>7.1} ms metered, {:>7.1} ms plain: {:+.1}%",
                m.kernel, m.metered_ms, m.unmetered_ms, m.overhead_pct
            ));
        }
        text
    })
}
