//! What `agora sim compute` reports.

use agora_compute::{ExecReport, Outcome, Prices, RejectReason, Resources};
use serde::Serialize;
use std::collections::BTreeMap;

/// The market and the agents' prices in a simulation: the seed's θ = 50 and n = 2, windows long
/// enough that only a silent party times out, and unit prices that keep every amount exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MarketTerms {
    pub penalty_rate: u64,
    pub verification_count: u32,
    pub reaction_window_ms: u64,
    pub mediation_window_ms: u64,
    pub min_match_incentive: u64,
    /// The JC's bid P_I, P_B.
    pub jc_max_prices: Prices,
    /// The RP's ask p_I, p_B.
    pub rp_prices: Prices,
    /// The mediator's q_I, q_B and f_M.
    pub mediator_prices: Prices,
    pub mediator_fee: u64,
    /// f_D.
    pub directory_fee: u64,
    /// i_J and i_R.
    pub jc_incentive: u64,
    pub rp_incentive: u64,
}

pub const TERMS: MarketTerms = MarketTerms {
    penalty_rate: 50,
    verification_count: 2,
    reaction_window_ms: 60_000,
    mediation_window_ms: 60_000,
    min_match_incentive: 10,
    jc_max_prices: Prices {
        instruction: 2,
        bandwidth: 2,
    },
    rp_prices: Prices {
        instruction: 1,
        bandwidth: 1,
    },
    mediator_prices: Prices {
        instruction: 1,
        bandwidth: 2,
    },
    mediator_fee: 30,
    directory_fee: 20,
    jc_incentive: 10,
    rp_incentive: 10,
};

/// p50 and max of a set of durations (ms), and their mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub fn of(samples: &[f64]) -> Self {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        if s.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: s[s.len() / 2],
            max: s[s.len() - 1],
            mean: s.iter().sum::<f64>() / s.len() as f64,
        }
    }
}

/// One job's path through the market.
#[derive(Clone, Debug, Serialize)]
pub struct JobRecord {
    pub index: usize,
    pub kernel: String,
    pub job_offer: u64,
    pub match_id: Option<u64>,
    pub limits: Resources,
    /// E = L_I·P_I + L_B·P_B.
    pub estimate: u64,
    /// What the RP posted.
    pub result: Option<ExecReport>,
    pub forged: bool,
    /// The RP never answered.
    pub silent: bool,
    pub verified: bool,
    pub rejected: Option<RejectReason>,
    pub outcome: Option<Outcome>,
    /// From posting the offer to seeing the match closed, less the runs below.
    pub added_latency_ms: f64,
    pub rp_exec_ms: f64,
    pub verify_ms: f64,
    pub mediation_ms: f64,
}

/// One role's account over the run (after set-up).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RoleNet {
    /// Balance change: market payments less the fees the role paid.
    pub net_change: i64,
    /// Transaction fees paid (burned).
    pub fees: u64,
    pub transactions: u64,
    pub failed_transactions: u64,
}

/// The run's counts and measurements.
#[derive(Clone, Debug, Serialize)]
pub struct ComputeSimSummary {
    pub market: u64,
    pub jobs: usize,
    /// Jobs whose match closed, whatever the outcome.
    pub completed: usize,
    pub accepted: usize,
    pub mediated: usize,
    pub rp_faulted: usize,
    pub jc_faulted: usize,
    pub directory_faulted: usize,
    /// Result and mediation timeouts.
    pub timeouts: usize,
    /// Jobs the RP forged and the JC verified.
    pub forged: usize,
    pub verified: usize,
    /// Balances plus holds equal the supply, recomputed from the whole ledger at the end.
    pub supply_conserved: bool,
    pub supply: u64,
    /// Time the market added to a job beyond its runs (nominal and mediated jobs).
    pub added_latency_ms: Latency,
    /// Submit to finalized receipt, every agent's transactions.
    pub call_latency_ms: Latency,
    /// The RP's run of each job.
    pub rp_exec_ms: Latency,
    /// Per role: job_creator, resource_provider, mediator, directory, solver, keeper, sink.
    pub net_change: BTreeMap<String, i64>,
    pub roles: BTreeMap<String, RoleNet>,
    /// Blobs the directory deleted once their matches closed plus the grace period.
    pub blobs_swept: usize,
    pub elapsed_ms: f64,
    pub terms: MarketTerms,
    pub job_records: Vec<JobRecord>,
}

impl ComputeSimSummary {
    /// Counts the outcomes of `records`.
    pub(super) fn count(&mut self) {
        let outcomes: Vec<Outcome> = self.job_records.iter().filter_map(|r| r.outcome).collect();
        let n = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        self.completed = outcomes.len();
        self.accepted = n(|o| matches!(o, Outcome::Accepted | Outcome::AcceptedByDeadline));
        self.rp_faulted = n(|o| matches!(o, Outcome::RpFault(_)));
        self.jc_faulted = n(|o| matches!(o, Outcome::JcFault(_)));
        self.directory_faulted = n(|o| *o == Outcome::DirectoryFault);
        self.mediated = self.rp_faulted + self.jc_faulted + self.directory_faulted;
        self.timeouts = n(|o| matches!(o, Outcome::ResultTimedOut | Outcome::MediationTimedOut));
        self.forged = self.job_records.iter().filter(|r| r.forged).count();
        self.verified = self.job_records.iter().filter(|r| r.verified).count();
    }
}

/// Fig. 3.6: dU^JC/dp_a against p_a for n = 1..4 and θ = 0 in the setting of the figure
/// (`Game::figure_3_6`, p_e = 1, p_v = 1: p_v scales the curve, not its zero). Each curve
/// crosses zero at Theorem 3's optimal honesty (0.5 for n = 1, 0.943 for n = 4).
pub fn figure_3_6() -> String {
    use crate::compute_game::Game;
    use crate::plot::{line_chart, Series};
    const COLORS: [&str; 4] = ["#264653", "#2a9d8f", "#e9c46a", "#e76f51"];
    const NAMES: [&str; 4] = ["n = 1", "n = 2", "n = 3", "n = 4"];
    let h = 1e-4;
    let series: Vec<Series<'_>> = (1..=4u32)
        .map(|n| {
            let game = Game::figure_3_6(n, 0.0);
            Series {
                name: NAMES[n as usize - 1],
                color: COLORS[n as usize - 1],
                points: (1..200)
                    .map(|i| {
                        let p = f64::from(i) / 200.0;
                        (p, (game.jc_ev(p + h) - game.jc_ev(p - h)) / (2.0 * h))
                    })
                    .collect(),
            }
        })
        .collect();
    line_chart(
        "Fig. 3.6: the JC's marginal utility of honesty (θ = 0, p_e = 1)",
        "p_a",
        "dU_JC / dp_a",
        &series,
    )
}

impl ComputeSimSummary {
    /// The figures `--out` writes: Fig. 3.6 and the added latency of each job.
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        use crate::plot::{line_chart, Series};
        let per_job = |name, color, f: fn(&JobRecord) -> f64| Series {
            name,
            color,
            points: self
                .job_records
                .iter()
                .map(|r| (r.index as f64 + 1.0, f(r)))
                .collect(),
        };
        vec![
            ("fig_3_6.svg", figure_3_6()),
            (
                "latency.svg",
                line_chart(
                    "Time per job: added by the market, and the runs",
                    "job",
                    "ms",
                    &[
                        per_job("added by the market", "#e76f51", |r| r.added_latency_ms),
                        per_job("RP's run", "#2a9d8f", |r| r.rp_exec_ms),
                        per_job("JC's verification", "#264653", |r| r.verify_ms),
                        per_job("mediator's runs", "#e9c46a", |r| r.mediation_ms),
                    ],
                ),
            ),
        ]
    }

    /// One line per job: index, kernel, outcome and times.
    pub fn jobs_csv(&self) -> String {
        let mut csv = String::from(
            "job,kernel,match,instructions_limit,bandwidth_limit,estimate,forged,verified,rejected,outcome,added_latency_ms,rp_exec_ms,verify_ms,mediation_ms\n",
        );
        let name = |v: serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s,
            other => other.to_string().replace(',', ";"),
        };
        for r in &self.job_records {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.3}\n",
                r.index,
                r.kernel,
                r.match_id.map(|m| m.to_string()).unwrap_or_default(),
                r.limits.instructions,
                r.limits.bandwidth,
                r.estimate,
                r.forged,
                r.verified,
                name(serde_json::to_value(r.rejected).unwrap_or_default()),
                name(serde_json::to_value(r.outcome).unwrap_or_default()),
                r.added_latency_ms,
                r.rp_exec_ms,
                r.verify_ms,
                r.mediation_ms
            ));
        }
        csv
    }
}
