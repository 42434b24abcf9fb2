//! The seed's experiments (section 2.9.3), each run on the ledger with the same agents as
//! `agora sim energy`, and each with a table (CSV, JSON) and an SVG figure.
//!
//! 1. **Impact of T_h** (Fig. 2.8): one day per solver horizon T_h, homes that produce with
//!    the prototype's battery; energy traded, solve time and LP size (its memory) per T_h.
//! 2. **Load the DSO serves** (Fig. 2.10, 2.11): one day with batteries; per interval the
//!    substation's net load without the market (homes' consumption less production, negative
//!    when they produce more) and with it (batteries deliver their trades and store unsold
//!    surplus), and the batteries' mean charge.
//! 3. **Prediction error** (Fig. 2.14): homes predict single-interval rows with a normal error
//!    of 0-35% of their largest row; per error level and over many seeded days, the mean and
//!    standard deviation of the daily difference between the residual load the DSO supplies
//!    and the one it anticipated from the final trades, signed (no clipping).

use super::{execute_all, run, BatterySpec, EnergySimConfig, EnergySimSummary, SimError, FUNDING};
use crate::{
    plot::{line_chart, Series},
    profiles::Profile,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_types::Keypair;
use serde::Serialize;
use std::fmt::Write as _;

/// What every experiment shares.
#[derive(Clone, Debug)]
pub struct ExperimentOptions {
    /// The base configuration: limits, interval length, window, solvers.
    pub base: EnergySimConfig,
    /// Experiment 1: the horizons T_h.
    pub horizons: Vec<u32>,
    /// Experiment 3: error levels (% of a home's largest row) and days per level.
    pub errors: Vec<f64>,
    pub days: u32,
}

/// A table and its figures, ready to write.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentReport {
    pub experiment: u8,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<f64>>,
    #[serde(skip)]
    pub figures: Vec<(String, String)>,
}

impl ExperimentReport {
    pub fn csv(&self) -> String {
        let mut csv = self.columns.join(",") + "\n";
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            let _ = writeln!(csv, "{}", cells.join(","));
        }
        csv
    }

    /// The rows as JSON objects keyed by column.
    pub fn json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.to_string(), serde_json::json!(v)))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect();
        serde_json::json!({"experiment": self.experiment, "rows": rows})
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("there is no experiment {0}; the seed has 1, 2 and 3")]
    Unknown(u8),
    #[error("experiment {0} needs at least one {1}")]
    Empty(u8, &'static str),
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Runs experiment `n`; `progress` hears each day's interval next to finalize.
pub async fn run_experiment(
    n: u8,
    client: &Client,
    faucet: &Keypair,
    profiles: &[Profile],
    opts: &ExperimentOptions,
    progress: impl Fn(&str, u32) + Clone,
) -> Result<ExperimentReport, ExperimentError> {
    match n {
        1 => horizons(client, faucet, profiles, opts, progress).await,
        2 => dso_load(client, faucet, profiles, opts, progress).await,
        3 => prediction_error(client, faucet, profiles, opts, progress).await,
        n => Err(ExperimentError::Unknown(n)),
    }
}

fn with_batteries(base: &EnergySimConfig) -> EnergySimConfig {
    EnergySimConfig {
        battery: Some(base.battery.unwrap_or(BatterySpec::PROTOTYPE)),
        ..base.clone()
    }
}

fn series<'a>(name: &'a str, color: &'a str, points: Vec<(f64, f64)>) -> Series<'a> {
    Series {
        name,
        color,
        points,
    }
}

/// Experiment 1: a day per horizon T_h, one after the other so solve times do not compete.
async fn horizons(
    client: &Client,
    faucet: &Keypair,
    profiles: &[Profile],
    opts: &ExperimentOptions,
    progress: impl Fn(&str, u32),
) -> Result<ExperimentReport, ExperimentError> {
    if opts.horizons.is_empty() {
        return Err(ExperimentError::Empty(1, "horizon"));
    }
    let mut rows = Vec::new();
    for &horizon in &opts.horizons {
        let cfg = EnergySimConfig {
            horizon,
            ..with_batteries(&opts.base)
        };
        let label = format!("T_h = {horizon}");
        let s = run(client, faucet, profiles.to_vec(), cfg, |t| {
            progress(&label, t)
        })
        .await?;
        rows.push(vec![
            horizon as f64,
            s.total_traded_kwh,
            s.total_offered_kwh,
            s.solutions.solve_p50_ms,
            s.solutions.solve_max_ms,
            s.solutions.max_variables as f64,
            s.solutions.max_rows as f64,
        ]);
    }
    let column = |i: usize| -> Vec<(f64, f64)> { rows.iter().map(|r| (r[0], r[i])).collect() };
    let figures = vec![
        (
            "experiment1_traded.svg".to_string(),
            line_chart(
                "Experiment 1: energy traded vs solver horizon (Fig. 2.8)",
                "T_h (intervals)",
                "kWh traded in the day",
                &[series("traded", "#264653", column(1))],
            ),
        ),
        (
            "experiment1_cost.svg".to_string(),
            line_chart(
                "Experiment 1: solver cost vs horizon",
                "T_h (intervals)",
                "ms per solve / thousands of LP variables",
                &[
                    series("solve p50 (ms)", "#2a9d8f", column(3)),
                    series("solve max (ms)", "#e76f51", column(4)),
                    series(
                        "LP variables (thousands)",
                        "#264653",
                        rows.iter().map(|r| (r[0], r[5] / 1000.0)).collect(),
                    ),
                ],
            ),
        ),
    ];
    Ok(ExperimentReport {
        experiment: 1,
        columns: vec![
            "horizon",
            "traded_kwh",
            "offered_kwh",
            "solve_p50_ms",
            "solve_max_ms",
            "lp_variables",
            "lp_rows",
        ],
        rows,
        figures,
    })
}

/// Experiment 2: one day with batteries, per interval.
async fn dso_load(
    client: &Client,
    faucet: &Keypair,
    profiles: &[Profile],
    opts: &ExperimentOptions,
    progress: impl Fn(&str, u32),
) -> Result<ExperimentReport, ExperimentError> {
    let cfg = with_batteries(&opts.base);
    let s = run(client, faucet, profiles.to_vec(), cfg, |t| {
        progress("day", t)
    })
    .await?;
    Ok(dso_load_report(&s))
}

fn dso_load_report(s: &EnergySimSummary) -> ExperimentReport {
    let rows: Vec<Vec<f64>> = s
        .intervals
        .iter()
        .map(|i| {
            vec![
                i.interval as f64,
                i.net_load_without_trading_kwh,
                i.net_load_kwh,
                i.battery_charge_kwh,
                i.battery_delivered_kwh,
                i.battery_stored_kwh,
                i.offered_kwh,
                i.traded_kwh,
            ]
        })
        .collect();
    let column = |i: usize| -> Vec<(f64, f64)> { rows.iter().map(|r| (r[0], r[i])).collect() };
    let figures = vec![
        (
            "experiment2_load.svg".to_string(),
            line_chart(
                "Experiment 2: substation net load (Fig. 2.10)",
                "interval (15 min)",
                "kWh (negative: homes produce more)",
                &[
                    series("without trading", "#e76f51", column(1)),
                    series("with trading and batteries", "#264653", column(2)),
                ],
            ),
        ),
        (
            "experiment2_battery.svg".to_string(),
            line_chart(
                &format!(
                    "Experiment 2: mean charge of the {} batteries (Fig. 2.11)",
                    s.batteries
                ),
                "interval (15 min)",
                "kWh",
                &[series("mean charge", "#2a9d8f", column(3))],
            ),
        ),
    ];
    ExperimentReport {
        experiment: 2,
        columns: vec![
            "interval",
            "net_load_without_trading_kwh",
            "net_load_kwh",
            "battery_charge_kwh",
            "battery_delivered_kwh",
            "battery_stored_kwh",
            "offered_kwh",
            "traded_kwh",
        ],
        rows,
        figures,
    }
}

/// Experiment 3: for each day (a seed), every error level at once, as separate markets on
/// the same chain.
async fn prediction_error(
    client: &Client,
    faucet: &Keypair,
    profiles: &[Profile],
    opts: &ExperimentOptions,
    progress: impl Fn(&str, u32) + Clone,
) -> Result<ExperimentReport, ExperimentError> {
    if opts.errors.is_empty() || opts.days == 0 {
        return Err(ExperimentError::Empty(3, "error level and day"));
    }
    // Runs at the same time pay from funders of their own: one key's transactions are
    // ordered by nonce, so they cannot share the faucet.
    let funders: Vec<Keypair> = (0..opts.errors.len())
        .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
        .collect();
    // A home, its meter and perhaps a battery; the DSO; the solvers, funded ten times over.
    let accounts = 3 * profiles.len() as u64 + 1 + 10 * opts.base.solvers as u64;
    let per_funder = FUNDING
        .checked_mul(accounts * opts.days as u64 + 1)
        .ok_or_else(|| SimError::Unexpected("funding overflows".into()))?;
    let transfers = funders
        .iter()
        .map(|f| {
            BankCall::Transfer {
                to: f.address(),
                amount: per_funder,
            }
            .into_call()
        })
        .collect();
    execute_all(client, faucet, transfers, "funders").await?;
    // Per error level: each day's (difference, anticipated supply), kWh.
    let mut days: Vec<Vec<(f64, f64)>> = vec![Vec::new(); opts.errors.len()];
    for day in 1..=opts.days {
        let runs = opts.errors.iter().zip(&funders).map(|(&error, funder)| {
            let cfg = EnergySimConfig {
                prediction_error: error,
                seed: day as u64,
                ..opts.base.clone()
            };
            let label = format!("day {day}");
            let progress = progress.clone();
            async move {
                run(client, funder, profiles.to_vec(), cfg, move |t| {
                    progress(&label, t)
                })
                .await
            }
        });
        for (level, s) in futures::future::try_join_all(runs)
            .await?
            .into_iter()
            .enumerate()
        {
            days[level].push(daily_difference(&s));
        }
    }
    let rows: Vec<Vec<f64>> = opts
        .errors
        .iter()
        .zip(&days)
        .map(|(&error, days)| {
            let (mean, std) = mean_std(days.iter().map(|d| d.0));
            let anticipated = mean_std(days.iter().map(|d| d.1)).0;
            let pct = if anticipated > 0.0 {
                100.0 * std / anticipated
            } else {
                0.0
            };
            vec![error, mean, std, anticipated, pct, days.len() as f64]
        })
        .collect();
    let line =
        |f: fn(&[f64]) -> f64| -> Vec<(f64, f64)> { rows.iter().map(|r| (r[0], f(r))).collect() };
    let figures = vec![(
        "experiment3.svg".to_string(),
        line_chart(
            "Experiment 3: DSO's daily difference, supplied less anticipated (Fig. 2.14)",
            "prediction error (% of a home's largest row)",
            "kWh per day",
            &[
                series("mean", "#264653", line(|r| r[1])),
                series("mean + std", "#e76f51", line(|r| r[1] + r[2])),
                series("mean - std", "#2a9d8f", line(|r| r[1] - r[2])),
            ],
        ),
    )];
    Ok(ExperimentReport {
        experiment: 3,
        columns: vec![
            "error_pct",
            "mean_difference_kwh",
            "std_difference_kwh",
            "anticipated_supply_kwh",
            "std_pct_of_anticipated",
            "days",
        ],
        rows,
        figures,
    })
}

/// A day's difference between what the DSO supplied and what it anticipated, signed and
/// summed over intervals, and the supply it anticipated (its positive intervals), kWh.
fn daily_difference(s: &EnergySimSummary) -> (f64, f64) {
    let difference = s
        .intervals
        .iter()
        .map(|i| i.dso_actual_kwh - i.dso_anticipated_kwh)
        .sum();
    let anticipated = s
        .intervals
        .iter()
        .map(|i| i.dso_anticipated_kwh.max(0.0))
        .sum();
    (difference, anticipated)
}

/// Mean and (population) standard deviation.
fn mean_std(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = xs.clone().count().max(1) as f64;
    let mean = xs.clone().sum::<f64>() / n;
    let var = xs.map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_tables() {
        let (mean, std) = mean_std([1.0, 3.0].into_iter());
        assert_eq!((mean, std), (2.0, 1.0));
        let report = ExperimentReport {
            experiment: 3,
            columns: vec!["a", "b"],
            rows: vec![vec![1.0, -2.5]],
            figures: Vec::new(),
        };
        assert_eq!(report.csv(), "a,b\n1,-2.5\n");
        assert_eq!(report.json()["rows"][0]["b"], -2.5);
    }
}
