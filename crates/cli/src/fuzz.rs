//! `agora bench fuzz`: every fuzz target of `agora-fuzzing` for a fixed time budget each.

use crate::output::Output;
use agora_fuzzing::{run, targets, Budget, Report};
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
struct FuzzReport {
    seconds_per_target: u64,
    seed: u64,
    targets: Vec<Report>,
    crashes: usize,
}

/// Runs each target (or only `only`) for `seconds`, mutating from `seed`.
pub fn fuzz(seconds: u64, seed: u64, only: Option<String>, out: &Output) -> Result<()> {
    let chosen: Vec<_> = targets()
        .into_iter()
        .filter(|t| only.as_deref().is_none_or(|name| t.name == name))
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = targets().iter().map(|t| t.name).collect();
        bail!(
            "no fuzz target {:?}; the targets are {}",
            only.unwrap_or_default(),
            names.join(", ")
        );
    }
    let bar = ProgressBar::new(chosen.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} targets")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    for target in &chosen {
        bar.set_message(target.name);
        reports.push(run(
            target,
            Budget::Time(Duration::from_secs(seconds)),
            seed,
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = FuzzReport {
        seconds_per_target: seconds,
        seed,
        crashes: reports.iter().map(|r| r.crashes.len()).sum(),
        targets: reports,
    };
    out.print(&report, || {
        let mut text = String::new();
        for r in &report.targets {
            text += &format!(
                "{:<12} {:>10} inputs  {} crashes\n",
                r.target,
                r.inputs,
                r.crashes.len()
            );
            for c in &r.crashes {
                text += &format!("  crash: {}\n    input: {}\n", c.message, c.input_hex);
            }
        }
        text + &format!("crashes found: {}", report.crashes)
    })?;
    if report.crashes > 0 {
        bail!("{} inputs broke a fuzz property", report.crashes);
    }
    Ok(())
}
