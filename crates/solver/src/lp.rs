//! The HiGHS runner every solver of this crate uses, and the LP -> MIP -> round-down pipeline
//! that turns a model's optimum into whole units.
//!
//! HiGHS runs on one thread with `random_seed = 0` and `mip_rel_gap = 0`: with the model built in
//! a fixed order, the same instance gives the same answer (spec 4.4).

use highs::{HighsModelStatus, HighsSolutionStatus, RowProblem, Sense};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the integral answer was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrality {
    /// The LP optimum was integral.
    Lp,
    /// The MIP on the same model.
    Mip,
    /// The LP optimum rounded down and repaired.
    Repair,
    /// A maximum flow (the allocation solver's compact model when it is a flow problem):
    /// integral and optimal by construction.
    Flow,
    /// No LP at all: the greedy fill (a baseline and a second, independent solver).
    Greedy,
}

/// A solved model: its column values (decision columns first) and objective.
pub struct Optimum {
    pub columns: Vec<f64>,
    pub objective: f64,
}

/// Maximises `problem` within `time_limit`. A MIP stopped by the time limit counts if it has a
/// feasible point; any other status but optimal (or an empty model, all zero) is an error, and so
/// is a model HiGHS refuses to load or run (e.g. coefficients beyond its infinity, 1e20).
pub fn maximise(problem: RowProblem, time_limit: Duration) -> Result<Optimum, HighsModelStatus> {
    let columns = problem.num_cols();
    let mut m = problem
        .try_optimise(Sense::Maximise)
        .map_err(|_| HighsModelStatus::ModelError)?;
    m.make_quiet();
    m.set_option("threads", 1);
    m.set_option("random_seed", 0);
    m.set_option("mip_rel_gap", 0.0);
    m.set_option("time_limit", time_limit.as_secs_f64());
    let solved = m.try_solve().map_err(|_| HighsModelStatus::SolveError)?;
    match solved.status() {
        HighsModelStatus::ModelEmpty => Ok(Optimum {
            columns: vec![0.0; columns],
            objective: 0.0,
        }),
        HighsModelStatus::Optimal => Ok(Optimum {
            columns: solved.get_solution().columns().to_vec(),
            objective: solved.objective_value(),
        }),
        HighsModelStatus::ReachedTimeLimit
            if solved.primal_solution_status() == HighsSolutionStatus::Feasible =>
        {
            Ok(Optimum {
                columns: solved.get_solution().columns().to_vec(),
                objective: solved.objective_value(),
            })
        }
        other => Err(other),
    }
}

/// A model as a solver builds it: the decision columns come first in `problem`; `meta` maps them
/// back to the market's terms.
pub struct Built<M> {
    pub problem: RowProblem,
    pub decisions: usize,
    pub meta: M,
}

/// An integral point of a model: the LP's if integral, else the MIP's, else the LP's rounded
/// down (the caller repairs it).
pub struct Point<M> {
    /// The decision columns' values.
    pub amounts: Vec<u64>,
    pub meta: M,
    /// The LP relaxation's optimum: an upper bound on any integral point's objective.
    pub lp_objective: f64,
    pub integrality: Integrality,
    pub variables: usize,
    pub rows: usize,
}

fn whole(values: &[f64], round: fn(f64) -> f64) -> Vec<u64> {
    // `as` saturates: a huge or negative value becomes u64::MAX or 0, which exact checks cut.
    values.iter().map(|v| round(*v).max(0.0) as u64).collect()
}

/// Solves the LP of `build(false)`; if its decision columns are not all within 1e-6 of an
/// integer, the MIP of `build(true)` (the same model with integer decisions); if that finds no
/// integral point in time, the LP's values rounded down.
pub fn integral_point<M>(
    build: impl Fn(bool) -> Built<M>,
    time_limit: Duration,
) -> Result<Point<M>, HighsModelStatus> {
    let Built {
        problem,
        decisions,
        meta,
    } = build(false);
    let (variables, rows) = (problem.num_cols(), problem.num_rows());
    let lp = maximise(problem, time_limit)?;
    let xs = &lp.columns[..decisions];
    let integral = xs.iter().all(|v| (v - v.round()).abs() < 1e-6);
    let (amounts, integrality) = if integral {
        (whole(xs, f64::round), Integrality::Lp)
    } else {
        let mip = build(true);
        match maximise(mip.problem, time_limit) {
            Ok(mip) => (
                whole(&mip.columns[..decisions], f64::round),
                Integrality::Mip,
            ),
            Err(_) => (whole(xs, |v| (v + 1e-9).floor()), Integrality::Repair),
        }
    };
    Ok(Point {
        amounts,
        meta,
        lp_objective: lp.objective,
        integrality,
        variables,
        rows,
    })
}
