//! The LP-free solver (spec 4.5, 7.4): compatible triples by gain descending, then provider,
//! consumer and type, each filled to what both offers still take. A different solution stream
//! for the failover runs and a baseline for benchmarks; feasible by construction.

use super::{
    instance::{AllocationInstance, Indexed},
    repair::{fill, Room},
    AllocationSolution, Formulation, SolverError,
};
use crate::lp::Integrality;
use agora_allocation::verify;
use std::time::Instant;

/// The greedy allocation, checked with the module's verify.
pub fn greedy(instance: &AllocationInstance) -> Result<AllocationSolution, SolverError> {
    let start = Instant::now();
    let ix = Indexed::new(instance)?;
    let triples = ix.triples();
    let mut assignments = Vec::new();
    fill(&triples, &mut Room::new(&ix), &mut assignments);
    let score = verify(&ix.context(), &assignments)?;
    Ok(AllocationSolution {
        assignments,
        score,
        lp_objective: f64::NAN,
        integrality: Integrality::Greedy,
        formulation: Formulation::Auto,
        variables: triples.len(),
        rows: 0,
        solve_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}
