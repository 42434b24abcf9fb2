//! SolidWorx's resource-allocation problem (seed chapter 6, eq. 6.1-6.14; spec sections 4 and
//! 7.4), solved off the ledger.
//!
//! [`solve`] builds the pairwise or the compact model ([`Formulation`]; `Auto` takes the
//! compact one unless a pair rule is set or there are fewer than 50,000 compatible triples),
//! solves the LP, and if its optimum is not integral the MIP of the same model; if the MIP finds
//! no integral point in time, the LP's point rounded down. The answer is then cut to the offers'
//! capacities in exact integers and, if anything was cut or rounded, filled greedily (both keep
//! feasibility: F2). Under objectives 6.10 and 6.12 a second stage maximizes the quantity moved
//! among solutions reaching the primary optimum (the ledger's tie-break, A7). Every answer is
//! checked with the module's own [`agora_allocation::verify`] and carries its score as the
//! ledger computes it; one that fails the check is an error, never returned.
//!
//! Prices are the midpoint of each triple's window [max(V_p, min_t), min(V_c, max_t)], rounded
//! down (spec 4.2). Under eq. 6.5 without pair rules and with equal quantities per offer (the
//! seed's encodings) the compact model is a flow problem, solved as a maximum flow instead of an
//! LP (`allocation/flow.rs`). [`greedy`] is a second solver that uses no LP. Determinism: HiGHS on one
//! thread with a fixed seed, the model built in a fixed order (types ascending, offers by id),
//! so the same instance gives the same assignments.

mod flow;
mod formulation;
mod greedy;
mod instance;
mod repair;

pub use greedy::greedy;
pub use instance::{AllocationInstance, InstanceCandidate, InstanceOffer};

use crate::lp::{self, Integrality};
use agora_allocation::{verify, Assignment, Objective, PairRule, Score, Violation};
use formulation::Stage;
use highs::HighsModelStatus;
use instance::{Indexed, Triple};
use serde::{Deserialize, Serialize};
use std::{
    cell::OnceCell,
    time::{Duration, Instant},
};

/// Below this many compatible triples `Auto` takes the pairwise model (spec 4.1).
pub const AUTO_PAIRWISE_BELOW: usize = 50_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Formulation {
    #[default]
    Auto,
    /// One variable per compatible (provider, consumer, type): the reference, and the only
    /// model for pair rules (eq. 6.14).
    Pairwise,
    /// One variable per offer and type, with price-level rows: for large instances.
    Compact,
}

#[derive(Clone, Debug)]
pub struct AllocationSolveOptions {
    pub formulation: Formulation,
    /// Time limit of each HiGHS run.
    pub time_limit: Duration,
    /// Under 6.10 and 6.12, also maximize the quantity moved among primary optima (A7).
    pub lexicographic: bool,
}

impl Default for AllocationSolveOptions {
    fn default() -> Self {
        Self {
            formulation: Formulation::Auto,
            time_limit: Duration::from_secs(30),
            lexicographic: true,
        }
    }
}

/// A solution the ledger accepts, with how it was found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AllocationSolution {
    pub assignments: Vec<Assignment>,
    /// As [`agora_allocation::verify`] computes it.
    pub score: Score,
    /// The first stage's LP optimum: an upper bound on `score.primary` (NaN, printed as null,
    /// for the greedy solver).
    pub lp_objective: f64,
    pub integrality: Integrality,
    /// The model used (`Pairwise` or `Compact`; `Auto` for the greedy solver).
    pub formulation: Formulation,
    /// Columns and rows of the first stage's model (for a flow: arcs and nodes).
    pub variables: usize,
    pub rows: usize,
    pub solve_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SolverError {
    #[error("invalid instance: {0}")]
    Invalid(String),
    #[error("the compact formulation cannot express a pair rule (eq. 6.14): use pairwise")]
    CompactWithPairRule,
    #[error("HiGHS stopped with status {0:?}")]
    Status(HighsModelStatus),
    #[error("the solution does not verify: {0}")]
    Unverified(#[from] Violation),
}

/// An instance indexed once for the module's own check (as the ledger runs it on a solution).
pub struct Checker(Indexed);

impl Checker {
    pub fn new(instance: &AllocationInstance) -> Result<Self, SolverError> {
        Indexed::new(instance).map(Self)
    }

    /// [`agora_allocation::verify`] of `assignments` against this instance: their score.
    pub fn check(&self, assignments: &[Assignment]) -> Result<Score, Violation> {
        verify(&self.0.context(), assignments)
    }
}

/// The model `options` asks for on this instance.
fn choose(ix: &Indexed, asked: Formulation) -> Result<Formulation, SolverError> {
    let zones = matches!(ix.params.pairs, PairRule::Zones { .. });
    match asked {
        Formulation::Compact if zones => Err(SolverError::CompactWithPairRule),
        Formulation::Auto if zones || ix.pairs() < AUTO_PAIRWISE_BELOW => Ok(Formulation::Pairwise),
        Formulation::Auto => Ok(Formulation::Compact),
        f => Ok(f),
    }
}

/// An integral point of the chosen model at `stage`, as assignments (not yet repaired).
fn stage_point(
    ix: &Indexed,
    triples: &[Triple],
    formulation: Formulation,
    stage: Stage,
    time_limit: Duration,
) -> Result<(lp::Point<()>, Vec<Assignment>), SolverError> {
    // Under eq. 6.5 there is no second stage: the flow answers the primary one.
    if formulation == Formulation::Compact && matches!(stage, Stage::Primary) && flow::applies(ix) {
        let (amounts, value, arcs, nodes) = flow::amounts(ix);
        let assignments = formulation::compact_assignments(ix, &amounts);
        let point = lp::Point {
            amounts,
            meta: (),
            lp_objective: value as f64,
            integrality: Integrality::Flow,
            variables: arcs,
            rows: nodes,
        };
        return Ok((point, assignments));
    }
    let point = lp::integral_point(
        |integer| match formulation {
            Formulation::Compact => formulation::compact(ix, stage, integer),
            _ => formulation::pairwise(ix, triples, stage, integer),
        },
        time_limit,
    )
    .map_err(SolverError::Status)?;
    let assignments = match formulation {
        Formulation::Compact => formulation::compact_assignments(ix, &point.amounts),
        _ => formulation::pairwise_assignments(triples, &point.amounts),
    };
    Ok((point, assignments))
}

/// Cuts `assignments` to capacity and fills if needed; how integrality was reached and the
/// score the module's check gives.
fn finish(
    ix: &Indexed,
    triples: &OnceCell<Vec<Triple>>,
    mut assignments: Vec<Assignment>,
    mut integrality: Integrality,
) -> Result<(Vec<Assignment>, Integrality, Score), SolverError> {
    let (mut room, cut) = repair::clip(ix, &mut assignments);
    if cut || integrality == Integrality::Repair {
        repair::fill(
            triples.get_or_init(|| ix.triples()),
            &mut room,
            &mut assignments,
        );
        integrality = Integrality::Repair;
    }
    let score = verify(&ix.context(), &assignments)?;
    Ok((assignments, integrality, score))
}

/// Solves an instance (see the module docs).
pub fn solve(
    instance: &AllocationInstance,
    options: &AllocationSolveOptions,
) -> Result<AllocationSolution, SolverError> {
    let start = Instant::now();
    let ix = Indexed::new(instance)?;
    let formulation = choose(&ix, options.formulation)?;
    // K, built for the pairwise model, or only if the compact one needs a repair.
    let triples = OnceCell::new();
    let k: &[Triple] = match formulation {
        Formulation::Compact => &[],
        _ => triples.get_or_init(|| ix.triples()),
    };
    let (first, assignments) =
        stage_point(&ix, k, formulation, Stage::Primary, options.time_limit)?;
    let (mut assignments, integrality, mut score) =
        finish(&ix, &triples, assignments, first.integrality)?;
    if options.lexicographic && ix.params.objective != Objective::Quantity {
        let stage = Stage::Quantity {
            primary: score.primary,
        };
        // Kept only if integral without repair and ranked higher (it may fail either way).
        if let Ok((second, better)) = stage_point(&ix, k, formulation, stage, options.time_limit) {
            if second.integrality != Integrality::Repair {
                if let Ok((better, _, s)) = finish(&ix, &triples, better, second.integrality) {
                    if s > score {
                        (assignments, score) = (better, s);
                    }
                }
            }
        }
    }
    Ok(AllocationSolution {
        assignments,
        score,
        lp_objective: first.lp_objective,
        integrality,
        formulation,
        variables: first.variables,
        rows: first.rows,
        solve_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// The pairwise model's MILP optimum of the primary objective, solved directly as a MIP: the
/// reference `solve` is tested against.
pub fn pairwise_optimum(
    instance: &AllocationInstance,
    options: &AllocationSolveOptions,
) -> Result<f64, SolverError> {
    let ix = Indexed::new(instance)?;
    let triples = ix.triples();
    let model = formulation::pairwise(&ix, &triples, Stage::Primary, true);
    lp::maximise(model.problem, options.time_limit)
        .map(|o| o.objective)
        .map_err(SolverError::Status)
}
