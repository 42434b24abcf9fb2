//! `agora exec run`: one metered run of a job, exactly as the RP, the JC's verification and the mediator do it.

use crate::output::Output;
use agora_exec::{Limits, Runner, DEFAULT_OUTPUT_BYTES};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ExecCommand {
    /// Run a job module on an input with a fuel limit; prints status, fuel_used and output_sha256.
    /// Every way the job ends (completed, out_of_fuel, trap, memory_exceeded, output_exceeded) exits 0;
    /// a module that is not a valid job, or an unreadable file, is an error.
    Run {
        /// The job: WebAssembly text (`.wat`) or binary (`.wasm`).
        #[arg(long)]
        module: PathBuf,
        /// The job's input bytes.
        #[arg(long)]
        input: PathBuf,
        /// Fuel limit: the instructions the job may use.
        #[arg(long)]
        fuel: u64,
        /// Linear memory cap in MiB.
        #[arg(long, default_value_t = 64)]
        memory_mb: u64,
        /// Output cap in bytes.
        #[arg(long, default_value_t = DEFAULT_OUTPUT_BYTES)]
        max_output: u64,
        /// Write the job's output bytes to this file.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Measure what fuel metering costs on the shipped kernels (metered vs unmetered wasmtime, median of
    /// interleaved runs).
    Bench {
        /// Runs of each kernel on each engine.
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
}

#[derive(Serialize)]
struct Report {
    status: &'static str,
    fuel_used: u64,
    output_sha256: String,
    output_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    trap: Option<String>,
    runtime_id: String,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

pub fn run(cmd: ExecCommand, out: &Output) -> Result<()> {
    match cmd {
        ExecCommand::Run {
            module,
            input,
            fuel,
            memory_mb,
            max_output,
            output,
        } => run_job(
            &module,
            &input,
            fuel,
            memory_mb,
            max_output,
            output.as_deref(),
            out,
        ),
        ExecCommand::Bench { reps } => bench(reps, out),
    }
}

fn bench(reps: usize, out: &Output) -> Result<()> {
    let results = agora_exec::overhead::measure(&agora_exec::overhead::inputs(), reps)?;
    out.print(&results, || {
        let mut text = format!(
            "{:<8} {:>12} {:>14} {:>12} {:>14} {:>9}",
            "kernel", "input", "fuel", "metered_ms", "unmetered_ms", "overhead"
        );
        for r in &results {
            text.push_str(&format!(
                "\n{:<8} {:>12} {:>14} {:>12.1} {:>14.1} {:>8.1}%",
                r.kernel, r.input_bytes, r.fuel_used, r.metered_ms, r.unmetered_ms, r.overhead_pct
            ));
        }
        text
    })
}

fn run_job(
    module: &Path,
    input: &Path,
    fuel: u64,
    memory_mb: u64,
    max_output: u64,
    output: Option<&Path>,
    out: &Output,
) -> Result<()> {
    let memory_bytes = memory_mb
        .checked_mul(1 << 20)
        .context("--memory-mb is too large")?;
    let runner = Runner::new().context("cannot build the execution engine")?;
    let job = runner
        .compile(&read(module, "module")?)
        .with_context(|| format!("{} is not a valid job", module.display()))?;
    let input = read(input, "input")?;
    let outcome = runner
        .run(
            &job,
            &input,
            Limits {
                fuel,
                memory_bytes,
                output_bytes: max_output,
            },
        )
        .context("the job cannot run")?;
    if let Some(path) = output {
        std::fs::write(path, &outcome.output)
            .with_context(|| format!("cannot write the output to {}", path.display()))?;
    }
    let report = Report {
        status: outcome.status.as_str(),
        fuel_used: outcome.fuel_used,
        output_sha256: hex::encode(outcome.output_sha256),
        output_bytes: outcome.output.len(),
        trap: outcome.trap,
        runtime_id: hex::encode(agora_exec::runtime_id()),
    };
    out.print(&report, || {
        let mut text = format!(
            "status {}\nfuel_used {}\noutput_sha256 {}\noutput_bytes {}",
            report.status, report.fuel_used, report.output_sha256, report.output_bytes
        );
        if let Some(trap) = &report.trap {
            text.push_str(&format!("\ntrap {trap}"));
        }
        text
    })
}
