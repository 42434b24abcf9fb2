//! The strategy experiments (seed §4.7, spec 7.2) on the ledger: Fig. 4.5 (suppliers and
//! customers in six groups of five by their honesty, cumulative utility over the allocations)
//! and Fig. 4.6 (nine markets, all suppliers at one P(s) from 60 % to 100 %, the final utility of
//! a customer that verifies and of one that does not), run side by side on one chain.
//!
//! Scale (spec 7.2 allows it): N = λΔ = 240 inputs per allocation instead of 12 000, with
//! n = 12 and ρ = N/n = 20, so eq. 4.6 holds as in the seed and a fine is V/12 as there;
//! λΔ plays in 1 s of ledger time. Money: 1 µ stands for 10^-8 $ of Table 4.7, so π_s = 2 000,
//! b = 3 500, π_sε = π_cg = 7, π_m = 3 300, and the ledger's fees (a few thousand µ per call)
//! stay small beside V. The customer's fixed costs per allocation are π_A + π_m plus its
//! ledger fees, which the closed form takes as measured; π_A is set so that it lands near
//! the seed's 82 % (spec 6.6: not reproducible from the seed's printed parameters, only by
//! construction).

use super::{
    allocator::Timing,
    bus::Network,
    harness::{run_market, MarketResult, MarketSetup, PartyResult},
    ledger::{Inclusions, Party},
    service::Service,
    Economy,
};
use crate::energy::SimError;
use crate::plot::{line_chart, Series};
use agora_client::Client;
use agora_stream::StreamParams;
use agora_types::Keypair;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The honesty of the six groups (P(s) and P(c)).
pub const GROUPS: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// Fig. 4.6's nine P(s) (spec A23: step 5 %).
pub const SWEEP: [f64; 9] = [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0];
const GROUP_SIZE: usize = 5;
/// π_A: with π_m and the customer's two transactions' ledger fees (about 4 700 µ) the fixed
/// cost K of spec 6.6 comes to about 208 700 µ, what the seed's 82 % needs at N = 240
/// (λΔ(0.82·b − π_s) − n·π_cg).
pub const ALLOCATOR_FEE: u64 = 200_700;

pub fn economy() -> Economy {
    Economy {
        instructions: 1,
        price: 2_000,
        rate_milli: 240_000,
        replicas: 1,
        window_ms: 1_000,
        benefit: 3_500.0,
        electricity: 7.0,
        test_cost: 7.0,
    }
}

pub fn params() -> StreamParams {
    StreamParams {
        penalty_rate: 20,
        allocator_fee: ALLOCATOR_FEE,
        mediator_fee: 3_300,
        sign_timeout_ms: 30_000,
        reveal_timeout_ms: 30_000,
        post_timeout_ms: 30_000,
        mediation_timeout_ms: 30_000,
        supplier_timeout_fine_bps: 10_000,
        customer_timeout_fine_bps: 10_000,
        max_replicas: 16,
        max_checks: 1_024,
        max_open_per_allocator: 1_000,
    }
}

/// Messages each allocation's 240 inputs are cut into (24 inputs each).
const BATCHES: u64 = 10;

/// δ_alloc and δ_setup in ledger ms: a round's window opens this long after its offers.
const TIMING: Timing = Timing {
    alloc_ms: 10_000,
    setup_ms: 200,
};

/// A group's mean final utility per member.
#[derive(Clone, Debug, Serialize)]
pub struct GroupUtility {
    pub honesty: f64,
    pub members: usize,
    pub allocations: u64,
    /// µ, balance delta plus off-ledger terms.
    pub utility: f64,
}

/// The supplier honesty at which a verifying customer's utility is zero.
#[derive(Clone, Debug, Serialize)]
pub struct BreakEven {
    /// Zero of the least-squares line through the verifying customers' utility per
    /// allocation at the nine P(s).
    pub measured: f64,
    /// (r·V + π_A + π_m + n·π_cg + fees) / (N·b), fees = the verifying customers' mean
    /// ledger fees per allocation.
    pub formula: f64,
}

/// One market of Fig. 4.6: utility per allocation of the customers that verify (P(c) = 1)
/// and of those that never do (P(c) = 0).
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    pub p_s: f64,
    pub verifying: f64,
    pub not_verifying: f64,
    pub verifying_allocations: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StrategiesReport {
    pub allocations: u64,
    pub seed: u64,
    pub suppliers: Vec<GroupUtility>,
    pub customers: Vec<GroupUtility>,
    pub break_even: BreakEven,
    /// At P(s) = 1: verifying minus not verifying per allocation, measured and F_c − n·π_cg.
    pub verifying_advantage: BreakEven,
    pub sweep: Vec<SweepPoint>,
    /// The verifying customers' ledger fees per allocation (µ), part of the formula's K.
    pub customer_fees_per_allocation: f64,
    pub outcomes: BTreeMap<String, u64>,
    pub conserved: bool,
    pub economy: Economy,
    pub params: StreamParams,
    pub markets: Vec<MarketResult>,
}

fn groups(parties: &[PartyResult], honesty: &[f64]) -> Vec<GroupUtility> {
    honesty
        .iter()
        .enumerate()
        .map(|(g, p)| {
            let members: Vec<&PartyResult> = parties.iter().filter(|x| x.group == g).collect();
            let n = members.len().max(1) as f64;
            GroupUtility {
                honesty: *p,
                members: members.len(),
                allocations: members.iter().map(|x| x.allocations).sum(),
                utility: members.iter().map(|x| x.utility).sum::<f64>() / n,
            }
        })
        .collect()
}

/// Utility per allocation of the customers of group `g`, their allocations and fees.
fn per_allocation(parties: &[PartyResult], g: usize) -> (f64, u64, u64) {
    let members = parties.iter().filter(|x| x.group == g);
    let (u, k, f) = members.fold((0.0, 0, 0), |(u, k, f), x| {
        (u + x.utility, k + x.allocations, f + x.fees)
    });
    (u / k.max(1) as f64, k, f)
}

/// Zero of the least-squares line through `points` (NaN if flat).
pub fn zero_of_fit(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let slope = sxy / sxx;
    mx - my / slope
}

/// Runs the ten markets side by side, `allocations` allocations each.
pub async fn run_strategies(
    client: &Client,
    faucet: &Keypair,
    allocations: u64,
    seed: u64,
    service: Arc<Service>,
) -> Result<StrategiesReport, SimError> {
    let setup = |label: String, suppliers: Vec<f64>| MarketSetup {
        label,
        supplier_groups: suppliers,
        customer_groups: GROUPS.to_vec(),
        group_size: GROUP_SIZE,
        allocations,
        seed,
        economy: economy(),
        params: params(),
        timing: TIMING,
        speculative: false,
        batches: BATCHES,
    };
    let mut setups = vec![setup("fig4.5".into(), GROUPS.to_vec())];
    setups.extend(
        SWEEP
            .iter()
            .map(|p| setup(format!("fig4.6/p{:.0}", p * 100.0), vec![*p; GROUPS.len()])),
    );
    let inclusions = Inclusions::start(client).await?;
    let faucet = Party::new(client.clone(), inclusions, faucet.clone());
    let network = Network::embedded();
    let runs = setups
        .iter()
        .map(|s| run_market(client, &faucet, &network, s, service.clone()));
    let markets = futures::future::try_join_all(runs).await?;
    Ok(report(allocations, seed, markets))
}

fn report(allocations: u64, seed: u64, markets: Vec<MarketResult>) -> StrategiesReport {
    let (e, p) = (economy(), params());
    let fig45 = &markets[0];
    let (verifying, honest) = (GROUPS.len() - 1, 0);
    let mut sweep = Vec::new();
    let (mut fees, mut fee_allocations) = (0u64, 0u64);
    for (m, p_s) in markets[1..].iter().zip(SWEEP) {
        let (v, k, f) = per_allocation(&m.customers, verifying);
        let (nv, _, _) = per_allocation(&m.customers, honest);
        fees += f;
        fee_allocations += k;
        sweep.push(SweepPoint {
            p_s,
            verifying: v,
            not_verifying: nv,
            verifying_allocations: k,
        });
    }
    let fees_per_allocation = fees as f64 / fee_allocations.max(1) as f64;
    let inputs = (e.rate_milli * e.window_ms / 1_000_000) as f64;
    let checks = (inputs / p.penalty_rate as f64).ceil();
    let pi_s = (e.instructions * e.price) as f64;
    let r = f64::from(e.replicas);
    let cost = r * inputs * pi_s
        + (p.allocator_fee + p.mediator_fee) as f64
        + checks * e.test_cost
        + fees_per_allocation;
    let points: Vec<(f64, f64)> = sweep.iter().map(|s| (s.p_s, s.verifying)).collect();
    let last = sweep.last();
    let mut outcomes = BTreeMap::new();
    for m in &markets {
        for (k, v) in &m.outcomes {
            *outcomes.entry(k.clone()).or_insert(0) += v;
        }
    }
    StrategiesReport {
        allocations,
        seed,
        suppliers: groups(&fig45.suppliers, &GROUPS),
        customers: groups(&fig45.customers, &GROUPS),
        break_even: BreakEven {
            measured: zero_of_fit(&points),
            formula: cost / (inputs * e.benefit),
        },
        verifying_advantage: BreakEven {
            measured: last.map_or(0.0, |s| s.verifying - s.not_verifying),
            formula: r * p.penalty_rate as f64 * pi_s - checks * e.test_cost,
        },
        sweep,
        customer_fees_per_allocation: fees_per_allocation,
        outcomes,
        conserved: markets.iter().all(|m| m.conservation.conserved),
        economy: e,
        params: p,
        markets,
    }
}

const COLORS: [&str; 6] = [
    "#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#1f77b4", "#9467bd",
];

impl StrategiesReport {
    /// Fig. 4.5 and Fig. 4.6 as SVG files (name, text).
    pub fn figures(&self) -> Vec<(String, String)> {
        let fig45 = &self.markets[0];
        let names: Vec<String> = GROUPS
            .iter()
            .map(|p| format!("P(s) = {:.0} %", p * 100.0))
            .collect();
        let series: Vec<Series<'_>> = GROUPS
            .iter()
            .enumerate()
            .map(|(g, _)| Series {
                name: &names[g],
                color: COLORS[g],
                points: std::iter::once((0.0, 0.0))
                    .chain(
                        fig45
                            .series
                            .iter()
                            .map(|s| (s.allocations as f64, s.suppliers[g])),
                    )
                    .collect(),
            })
            .collect();
        let fig45_svg = line_chart(
            "Fig. 4.5: supplier utility by honesty P(s)",
            "allocations completed",
            "mean cumulative utility per supplier (µ)",
            &series,
        );
        let point = |f: fn(&SweepPoint) -> f64| -> Vec<(f64, f64)> {
            self.sweep.iter().map(|s| (s.p_s * 100.0, f(s))).collect()
        };
        let fig46_svg = line_chart(
            &format!(
                "Fig. 4.6: customer utility per allocation (break-even {:.1} %, formula {:.1} %)",
                self.break_even.measured * 100.0,
                self.break_even.formula * 100.0
            ),
            "supplier honesty P(s) (%)",
            "utility per allocation (µ)",
            &[
                Series {
                    name: "submits its n outputs",
                    color: COLORS[4],
                    points: point(|s| s.verifying),
                },
                Series {
                    name: "does not",
                    color: COLORS[0],
                    points: point(|s| s.not_verifying),
                },
            ],
        );
        vec![
            ("fig4_5.svg".into(), fig45_svg),
            ("fig4_6.svg".into(), fig46_svg),
        ]
    }

    /// The text `agora sim stream strategies` prints.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} allocations per market, seed {}; mean final utility per member (µ)\n",
            self.allocations, self.seed
        );
        for (title, groups) in [
            ("suppliers", &self.suppliers),
            ("customers", &self.customers),
        ] {
            s += &format!("{title}:\n");
            for g in groups {
                s += &format!(
                    "  P = {:>3.0} %  {:>14.1}  ({} allocations)\n",
                    g.honesty * 100.0,
                    g.utility,
                    g.allocations
                );
            }
        }
        s += "Fig. 4.6, utility per allocation (µ):\n";
        for p in &self.sweep {
            s += &format!(
                "  P(s) = {:>5.1} %  verifying {:>10.1}  not verifying {:>10.1}\n",
                p.p_s * 100.0,
                p.verifying,
                p.not_verifying
            );
        }
        s += &format!(
            "break_even: measured {:.4}, formula {:.4} (customer fees {:.0} µ per allocation)\n\
             verifying advantage at P(s) = 100 %: measured {:.1}, formula {:.1}\n\
             outcomes {:?}; tokens conserved: {}",
            self.break_even.measured,
            self.break_even.formula,
            self.customer_fees_per_allocation,
            self.verifying_advantage.measured,
            self.verifying_advantage.formula,
            self.outcomes,
            self.conserved
        );
        s
    }
}
