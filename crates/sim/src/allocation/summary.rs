//! What the case studies report, and their charts: the carpool summary (spec 7.6), the energy
//! summary (spec 5.2), and the Fig. 6.9-style chart of whose solution was on top.

use super::{
    carpool::{Carpool, CarpoolOffer},
    harness::{Balance, CycleRun, Run},
};
use crate::{
    daemon::{SolutionRecord, Tally},
    plot::{line_chart, stacked_bars, Bar, Series},
};
use agora_allocation::{Assignment, Objective, OfferId, Score, Side};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// `Finalize` of one cycle: submitted to its receipt, and to the `Finalized` event at a
/// subscribed agent (ms; none if the event did not come within 30 s).
#[derive(Clone, Debug, Serialize)]
pub struct FinalizeTiming {
    pub cycle: u64,
    pub submit_to_receipt_ms: f64,
    pub submit_to_event_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SolverCounts {
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
}

/// A lie of the Byzantine solver and the ledger's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct LieOutcome {
    pub cycle: u64,
    pub lie: String,
    pub expected: String,
    /// The ledger's reason code (none: accepted).
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SolutionCounts {
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub by_solver: BTreeMap<String, SolverCounts>,
    /// Lies refused with the reason code they had to get.
    pub lies_refused_as_expected: usize,
    pub lies: Vec<LieOutcome>,
}

impl SolutionCounts {
    fn new(tally: &Tally) -> Self {
        let mut by_solver: BTreeMap<String, SolverCounts> = BTreeMap::new();
        for r in &tally.log {
            let c = by_solver.entry(r.solver.clone()).or_default();
            c.submitted += 1;
            if r.accepted {
                c.accepted += 1;
            } else {
                c.rejected += 1;
            }
        }
        let lies: Vec<LieOutcome> = tally
            .log
            .iter()
            .filter_map(|r| {
                Some(LieOutcome {
                    cycle: r.round,
                    lie: r.lie.clone()?,
                    expected: r.expected.clone()?,
                    reason: (!r.accepted).then(|| r.reason.clone().unwrap_or_default()),
                })
            })
            .collect();
        Self {
            submitted: tally.submitted,
            accepted: tally.accepted,
            rejected: tally.rejected,
            by_solver,
            lies_refused_as_expected: lies
                .iter()
                .filter(|l| l.reason.as_ref() == Some(&l.expected))
                .count(),
            lies,
        }
    }
}

fn quantity(r: &SolutionRecord) -> f64 {
    r.score["quantity"].as_f64().unwrap_or(0.0)
}

/// The accepted solutions of `cycle`, in the order the ledger took them.
fn accepted(tally: &Tally, cycle: u64) -> Vec<&SolutionRecord> {
    let mut records: Vec<&SolutionRecord> = tally
        .log
        .iter()
        .filter(|r| r.round == cycle && r.accepted && r.lie.is_none())
        .collect();
    records.sort_by(|a, b| {
        a.height
            .cmp(&b.height)
            .then(quantity(a).total_cmp(&quantity(b)))
    });
    records
}

/// The solution that was the candidate at `Finalize`: the last one the ledger accepted.
fn finalized_record(tally: &Tally, cycle: u64) -> Option<&SolutionRecord> {
    accepted(tally, cycle).pop()
}

/// Timing and provenance of the finalized solutions, shared by both case studies.
#[derive(Clone, Debug, Serialize)]
pub struct Finals {
    /// The finalized solutions' LP bounds, summed over cycles (none if any came without one).
    pub lp_objective: Option<f64>,
    /// The slowest solve of a finalized solution (ms).
    pub solve_ms: f64,
    /// `Finalize` submitted to receipt and to the event: the slowest cycle (ms).
    pub finalize_ms: f64,
    pub finalize_submit_to_receipt_ms: f64,
    pub finalize_submit_to_event_ms: Option<f64>,
    /// Per cycle: who found the finalized solution (none: the empty allocation).
    pub finalized_by: Vec<Option<String>>,
    pub timings: Vec<FinalizeTiming>,
}

impl Finals {
    fn new(run: &Run) -> Self {
        let records: Vec<Option<&SolutionRecord>> = run
            .cycles
            .iter()
            .map(|c| finalized_record(&run.tally, c.cycle).filter(|_| c.record.solution.is_some()))
            .collect();
        let lp_objective = records
            .iter()
            .map(|r| r.map_or(Some(0.0), |r| r.bound))
            .sum::<Option<f64>>();
        let receipt = run
            .timings
            .iter()
            .map(|t| t.submit_to_receipt_ms)
            .fold(0.0, f64::max);
        let event = run
            .timings
            .iter()
            .map(|t| t.submit_to_event_ms)
            .try_fold(0.0, |m: f64, t| t.map(|t| m.max(t)));
        Self {
            lp_objective,
            solve_ms: records
                .iter()
                .flatten()
                .map(|r| r.solve_ms)
                .fold(0.0, f64::max),
            finalize_ms: receipt,
            finalize_submit_to_receipt_ms: receipt,
            finalize_submit_to_event_ms: event,
            finalized_by: records
                .iter()
                .map(|r| r.map(|r| r.solver.clone()))
                .collect(),
            timings: run.timings.clone(),
        }
    }
}

const COLORS: [&str; 8] = [
    "#2a9d8f", "#e9c46a", "#264653", "#f4a261", "#8ab17d", "#6a4c93", "#1982c4", "#e76f51",
];

/// Fig. 6.9: per cycle, the accepted solutions stacked in arrival order (each segment its
/// improvement over the one before), coloured by solver, so the colour on top is the
/// finalized solution's solver; a red line at the cycle where solver 0 failed.
pub fn failover_svg(
    run: &Run,
    x_of: impl Fn(u64) -> f64,
    fail_at: Option<f64>,
    unit: &str,
) -> String {
    let color = |solver: &str| {
        let i = run.solvers.iter().position(|s| s == solver).unwrap_or(0);
        COLORS[i % COLORS.len()]
    };
    let bars: Vec<Bar<'_>> = run
        .cycles
        .iter()
        .map(|c| {
            let mut below = 0.0;
            let segments = accepted(&run.tally, c.cycle)
                .into_iter()
                .map(|r| {
                    let q = quantity(r);
                    let segment = (q - below, color(&r.solver));
                    below = q;
                    segment
                })
                .collect();
            Bar {
                x: x_of(c.cycle),
                segments,
            }
        })
        .collect();
    let legend: Vec<(&str, &str)> = run.solvers.iter().map(|s| (s.as_str(), color(s))).collect();
    stacked_bars(
        "Accepted solutions per cycle, coloured by solver (the top one was finalized)",
        "cycle",
        unit,
        &bars,
        &legend,
        fail_at,
    )
}

/// The seed's carpool figures (section 6.5.1), printed beside ours.
#[derive(Clone, Debug, Serialize)]
pub struct Dissertation {
    pub solve_ms: u64,
    pub finalize_s: u64,
    pub matched_offers: [u64; 2],
}

/// What one cycle of the carpool posted and matched (or the sum over cycles).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CarpoolCounts {
    pub drivers: usize,
    pub riders: usize,
    pub offers_posted: usize,
    pub offers_without_pickup: usize,
    pub alternatives: usize,
    pub types: usize,
    pub seats_offered: u64,
    pub seats_requested: u64,
    /// Seats of the riders whose offers were posted.
    pub seats_requested_posted: u64,
    pub score: Score,
    pub seats_matched: u64,
    /// Finalized assignments (one per driver offer, rider offer and type).
    pub assignments: usize,
    pub driver_offers_matched: usize,
    pub rider_offers_matched: usize,
    /// Commuters per garage id (drawn with `--random-garage`).
    pub commuters_per_garage: Vec<usize>,
}

impl CarpoolCounts {
    fn add(&mut self, c: &CarpoolCounts) {
        self.drivers += c.drivers;
        self.riders += c.riders;
        self.offers_posted += c.offers_posted;
        self.offers_without_pickup += c.offers_without_pickup;
        self.alternatives += c.alternatives;
        self.types += c.types;
        self.seats_offered += c.seats_offered;
        self.seats_requested += c.seats_requested;
        self.seats_requested_posted += c.seats_requested_posted;
        self.score.primary += c.score.primary;
        self.score.quantity += c.score.quantity;
        self.seats_matched += c.seats_matched;
        self.assignments += c.assignments;
        self.driver_offers_matched += c.driver_offers_matched;
        self.rider_offers_matched += c.rider_offers_matched;
        let garages = &mut self.commuters_per_garage;
        garages.resize(garages.len().max(c.commuters_per_garage.len()), 0);
        for (total, n) in garages.iter_mut().zip(&c.commuters_per_garage) {
            *total += n;
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CarpoolCycle {
    pub cycle: u64,
    #[serde(flatten)]
    pub counts: CarpoolCounts,
}

/// A commuter's balance around a settled cycle, and its offers.
#[derive(Clone, Debug, Serialize)]
pub struct SettledCommuter {
    pub commuter: u32,
    pub offers: Vec<OfferId>,
    #[serde(flatten)]
    pub balance: Balance,
}

/// One settled cycle: what the finalized solution says (assignments with prices) beside how
/// every balance moved.
#[derive(Clone, Debug, Serialize)]
pub struct SettledCycle {
    pub cycle: u64,
    /// Σ a_Q·a_V.
    pub paid: u64,
    pub assignments: Vec<Assignment>,
    pub commuters: Vec<SettledCommuter>,
}

/// `--settle`: payments between commuters.
#[derive(Clone, Debug, Serialize)]
pub struct Settlement {
    /// The bank's conservation check (balances plus holds equal the supply) after the run.
    pub conserved: bool,
    pub paid: u64,
    pub cycles: Vec<SettledCycle>,
}

impl Settlement {
    fn new(ids: &[u32], run: &Run) -> Option<Self> {
        let cycles: Vec<SettledCycle> = run
            .cycles
            .iter()
            .map(|c| {
                let balances = c.balances.as_ref()?;
                let commuters = ids
                    .iter()
                    .zip(balances)
                    .zip(&c.offers)
                    .map(|((id, balance), offers)| SettledCommuter {
                        commuter: *id,
                        offers: offers.iter().map(|o| o.0).collect(),
                        balance: *balance,
                    })
                    .collect();
                Some(SettledCycle {
                    cycle: c.cycle,
                    paid: c
                        .finalized
                        .iter()
                        .map(|a| a.quantity.saturating_mul(a.price))
                        .sum(),
                    assignments: c.finalized.clone(),
                    commuters,
                })
            })
            .collect::<Option<_>>()?;
        Some(Self {
            conserved: run.conserved?,
            paid: cycles.iter().map(|c| c.paid).sum(),
            cycles,
        })
    }
}

/// The objective's name as `--objective` takes it.
pub fn objective_name(objective: &Objective) -> &'static str {
    match objective {
        Objective::Quantity => "quantity",
        Objective::TypeUtility { .. } => "utility",
        Objective::Welfare => "welfare",
    }
}

/// `agora sim carpool`'s report; counts are summed over cycles (one cycle: that cycle's).
#[derive(Clone, Debug, Serialize)]
pub struct CarpoolSummary {
    pub seed: u64,
    pub reference: bool,
    /// Eq. 6.5, 6.10 or 6.12: what `score.primary` measures.
    pub objective: &'static str,
    pub price_spread: u64,
    pub market: u64,
    pub commuters: usize,
    pub pickups: usize,
    pub cycles: u64,
    #[serde(flatten)]
    pub totals: CarpoolCounts,
    #[serde(flatten)]
    pub finals: Finals,
    pub solutions: SolutionCounts,
    pub per_cycle: Vec<CarpoolCycle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Settlement>,
    pub dissertation: Dissertation,
}

fn carpool_cycle(garages: usize, draws: &[CarpoolOffer], run: &CycleRun) -> CarpoolCycle {
    let assigned = run.assigned();
    let posted: Vec<_> = run.offers.iter().flatten().map(|(_, o)| o).collect();
    let seats = |driver: bool, posted_only: bool| -> u64 {
        draws
            .iter()
            .filter(|d| d.draw.driver == driver && (!posted_only || d.offer.is_some()))
            .map(|d| d.draw.seats)
            .sum()
    };
    let matched = |side: Side| {
        run.offers
            .iter()
            .zip(&assigned)
            .flat_map(|(offers, units)| offers.iter().zip(units))
            .filter(|((_, o), units)| o.side == side && **units > 0)
            .count()
    };
    let drivers = draws.iter().filter(|d| d.draw.driver).count();
    let mut commuters_per_garage = vec![0; garages];
    for d in draws {
        if let Some(n) = commuters_per_garage.get_mut(d.draw.garage as usize) {
            *n += 1;
        }
    }
    let counts = CarpoolCounts {
        drivers,
        riders: draws.len() - drivers,
        offers_posted: posted.len(),
        offers_without_pickup: draws.iter().filter(|d| d.offer.is_none()).count(),
        alternatives: posted.iter().map(|o| o.alternatives.len()).sum(),
        types: posted
            .iter()
            .flat_map(|o| o.alternatives.iter().map(|a| a.rtype))
            .collect::<BTreeSet<_>>()
            .len(),
        seats_offered: seats(true, false),
        seats_requested: seats(false, false),
        seats_requested_posted: seats(false, true),
        score: run.record.score,
        seats_matched: run.finalized.iter().map(|a| a.quantity).sum(),
        assignments: run.finalized.len(),
        driver_offers_matched: matched(Side::Provide),
        rider_offers_matched: matched(Side::Consume),
        commuters_per_garage,
    };
    CarpoolCycle {
        cycle: run.cycle,
        counts,
    }
}

impl CarpoolSummary {
    /// `draws[c]`: every commuter's draw and offer of cycle c.
    pub fn new(
        carpool: &Carpool,
        objective: &Objective,
        draws: &[Vec<CarpoolOffer>],
        run: &Run,
    ) -> Self {
        let per_cycle: Vec<CarpoolCycle> = draws
            .iter()
            .zip(&run.cycles)
            .map(|(d, c)| carpool_cycle(carpool.garages.len(), d, c))
            .collect();
        let ids: Vec<u32> = carpool.commuters.iter().map(|c| c.id).collect();
        let mut totals = CarpoolCounts::default();
        for c in &per_cycle {
            totals.add(&c.counts);
        }
        Self {
            seed: carpool.cfg.seed,
            reference: carpool.cfg.reference,
            objective: objective_name(objective),
            price_spread: carpool.cfg.price_spread,
            market: run.market,
            commuters: draws.first().map_or(0, Vec::len),
            pickups: carpool.pickups.len(),
            cycles: run.cycles.len() as u64,
            totals,
            finals: Finals::new(run),
            solutions: SolutionCounts::new(&run.tally),
            per_cycle,
            settlement: Settlement::new(&ids, run),
            dissertation: Dissertation {
                solve_ms: 23,
                finalize_s: 29,
                matched_offers: [4, 4],
            },
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IntervalTrade {
    pub interval: u64,
    pub offered_wh: u64,
    pub requested_wh: u64,
    pub traded_wh: u64,
}

/// `agora sim allocation-energy`'s report.
#[derive(Clone, Debug, Serialize)]
pub struct AllocationEnergySummary {
    pub market: u64,
    pub homes: usize,
    pub offers_posted: usize,
    /// Each offer counted once, at its largest alternative (a battery row names several
    /// intervals but delivers once).
    pub offered_wh: u64,
    pub requested_wh: u64,
    /// Finalized, over every cycle.
    pub traded_wh: u64,
    pub cycles: u64,
    pub per_interval_cycles: bool,
    /// Per-interval cycles with offers on both sides whose finalized allocation was empty.
    pub intervals_without_solution: usize,
    pub intervals: Vec<IntervalTrade>,
    #[serde(flatten)]
    pub finals: Finals,
    pub solutions: SolutionCounts,
}

impl AllocationEnergySummary {
    pub fn new(homes: usize, per_interval_cycles: bool, run: &Run) -> Self {
        let mut intervals: BTreeMap<u64, IntervalTrade> = BTreeMap::new();
        let (mut offered, mut requested, mut posted) = (0, 0, 0);
        let mut without_solution = 0;
        for c in &run.cycles {
            let specs: Vec<_> = c.offers.iter().flatten().map(|(_, o)| o).collect();
            posted += specs.len();
            for o in &specs {
                let capacity = o.capacity();
                match o.side {
                    Side::Provide => offered += capacity,
                    Side::Consume => requested += capacity,
                }
                for a in &o.alternatives {
                    let i = intervals.entry(a.rtype).or_default();
                    i.interval = a.rtype;
                    match o.side {
                        Side::Provide => i.offered_wh += a.quantity,
                        Side::Consume => i.requested_wh += a.quantity,
                    }
                }
            }
            for a in &c.finalized {
                intervals.entry(a.rtype).or_default().traded_wh += a.quantity;
            }
            let both = [Side::Provide, Side::Consume]
                .iter()
                .all(|s| specs.iter().any(|o| o.side == *s));
            if both && c.finalized.is_empty() {
                without_solution += 1;
            }
        }
        Self {
            market: run.market,
            homes,
            offers_posted: posted,
            offered_wh: offered,
            requested_wh: requested,
            traded_wh: intervals.values().map(|i| i.traded_wh).sum(),
            cycles: run.cycles.len() as u64,
            per_interval_cycles,
            intervals_without_solution: without_solution,
            intervals: intervals.into_values().collect(),
            finals: Finals::new(run),
            solutions: SolutionCounts::new(&run.tally),
        }
    }

    /// Fig. 6.8: per interval, production capacity, demand and energy traded (kWh).
    pub fn energy_svg(&self) -> String {
        let series = |name, color, f: fn(&IntervalTrade) -> u64| Series {
            name,
            color,
            points: self
                .intervals
                .iter()
                .map(|i| (i.interval as f64, f(i) as f64 / 1000.0))
                .collect(),
        };
        line_chart(
            "Capacity, demand and energy traded (Fig. 6.8)",
            "interval (15 min)",
            "kWh",
            &[
                series("capacity", "#2a9d8f", |i| i.offered_wh),
                series("demand", "#e76f51", |i| i.requested_wh),
                series("traded", "#264653", |i| i.traded_wh),
            ],
        )
    }
}
