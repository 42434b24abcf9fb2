//! The allocation market's solver daemon: [`crate::daemon`] with the allocation solver (`lp`:
//! HiGHS, spec 4.1-4.3; `greedy`: no LP), its solutions whole or staged ([`plan`]), and the
//! Byzantine daemon's lies (spec 4.5).

use crate::{
    daemon::{Lie, Plan, Solved, SolverMarket, Status},
    energy::SimError,
};
use agora_allocation::{
    AllocationCall, Alternative, Assignment, Market, Offer, OfferId, Phase, Score, Side, TypeId,
    MAX_ASSIGNMENTS_PER_CALL, MAX_PARTS,
};
use agora_client::Client;
use agora_hybrid::{max_items_per_call, split, Split};
use agora_solver::allocation::{
    greedy, solve, AllocationInstance, AllocationSolveOptions, Checker, InstanceOffer,
};
use agora_types::Receipt;
use std::{collections::BTreeMap, time::Duration};

/// Most assignments one call carries: the module's cap, which fits in one transaction (an
/// assignment is 40 bytes encoded).
pub const PART_ITEMS: usize = {
    let fits = max_items_per_call(40);
    if fits < MAX_ASSIGNMENTS_PER_CALL {
        fits
    } else {
        MAX_ASSIGNMENTS_PER_CALL
    }
};

/// The calls that carry `assignments` to market `market`: one `SubmitSolution` when they fit in
/// `part_items`, else `CreateSolution` and then `AddAssignments` parts of at most `part_items`
/// each (larger parts, up to [`PART_ITEMS`], if the module's [`MAX_PARTS`] would not hold them).
pub fn plan(market: u64, assignments: Vec<Assignment>, part_items: usize) -> Result<Plan, String> {
    let needed = assignments.len().div_ceil(MAX_PARTS as usize);
    if needed > PART_ITEMS {
        return Err(format!(
            "{} assignments exceed {MAX_PARTS} parts of {PART_ITEMS}",
            assignments.len()
        ));
    }
    let parts = match split(assignments, part_items.clamp(needed.max(1), PART_ITEMS)) {
        Split::Whole(assignments) => {
            return Ok(Plan::Calls(vec![AllocationCall::SubmitSolution {
                market,
                misc: 0,
                assignments,
            }
            .into_call()]))
        }
        Split::Parts(parts) => parts,
    };
    Ok(Plan::Create {
        create: AllocationCall::CreateSolution { market, misc: 0 }.into_call(),
        id: created,
        parts: Box::new(move |solution| {
            parts
                .into_iter()
                .map(|assignments| {
                    AllocationCall::AddAssignments {
                        market,
                        solution,
                        assignments,
                    }
                    .into_call()
                })
                .collect()
        }),
    })
}

/// The solution a `CreateSolution` receipt created.
pub fn created(receipt: &Receipt) -> Option<u64> {
    receipt
        .events
        .iter()
        .find(|e| e.module == agora_allocation::NAME && e.name == "SolutionCreated")
        .and_then(|e| e.data["solution"].as_u64())
}

/// Which solver a daemon runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SolverKind {
    /// LP, then MIP, then round down and fill (HiGHS).
    Lp,
    /// Triples by weight descending, filled to capacity: no LP.
    Greedy,
}

impl std::str::FromStr for SolverKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lp" => Ok(Self::Lp),
            "greedy" => Ok(Self::Greedy),
            _ => Err(format!("unknown solver kind {s:?} (lp or greedy)")),
        }
    }
}

/// The allocation market for `cycles` cycles, solved by one kind of solver.
pub struct AllocationSolver {
    pub kind: SolverKind,
    pub cycles: u64,
    pub time_limit: Duration,
    /// Most assignments per transaction ([`PART_ITEMS`]; lower to stage smaller solutions).
    pub part_items: usize,
}

impl SolverMarket for AllocationSolver {
    const MODULE: &'static str = agora_allocation::NAME;
    type Market = Market;
    type Instance = AllocationInstance;
    type Solution = Vec<Assignment>;
    type Score = Score;

    /// Rounds are cycles; only the solving phase takes solutions.
    fn status(&self, market: &Market) -> Status<Score> {
        match market.phase {
            _ if market.cycle >= self.cycles => Status::Done,
            Phase::Receive => Status::Wait {
                round: market.cycle,
            },
            Phase::Solve => Status::Solve {
                round: market.cycle,
                candidate: market.candidate.score,
            },
        }
    }

    fn solve(
        &self,
        instance: &AllocationInstance,
    ) -> Result<Solved<Vec<Assignment>, Score>, String> {
        let solution = match self.kind {
            SolverKind::Lp => {
                let options = AllocationSolveOptions {
                    time_limit: self.time_limit,
                    ..AllocationSolveOptions::default()
                };
                solve(instance, &options)
            }
            SolverKind::Greedy => greedy(instance),
        }
        .map_err(|e| e.to_string())?;
        Ok(Solved {
            score: solution.score,
            items: solution.assignments.len(),
            solve_ms: solution.solve_ms,
            variables: solution.variables,
            rows: solution.rows,
            bound: (self.kind == SolverKind::Lp).then_some(solution.lp_objective),
            solution: solution.assignments,
        })
    }

    fn check(
        &self,
        instance: &AllocationInstance,
        assignments: &Vec<Assignment>,
    ) -> Result<f64, String> {
        let checker = Checker::new(instance).map_err(|e| e.to_string())?;
        let start = std::time::Instant::now();
        checker.check(assignments).map_err(|v| v.to_string())?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    }

    fn plan(&self, market: u64, assignments: Vec<Assignment>) -> Result<Plan, String> {
        plan(market, assignments, self.part_items)
    }

    async fn lies(
        &self,
        client: &Client,
        market: u64,
        instance: &AllocationInstance,
    ) -> Result<Vec<Lie>, SimError> {
        let submit = |assignments| {
            vec![AllocationCall::SubmitSolution {
                market,
                misc: 0,
                assignments,
            }
            .into_call()]
        };
        let offers = &instance.offers;
        let mut lies = Vec::new();
        if let Some(a) = over_use(offers) {
            lies.push(Lie {
                what: "over-uses a consumption offer",
                expect: "eq_6_2_consumer_capacity",
                calls: submit(a),
            });
        }
        if let Some((p_, c, t)) = compatible(offers).next() {
            lies.push(Lie {
                what: "prices above a bid",
                expect: "eq_6_4_consumer_price",
                calls: submit(vec![assign(p_, c, t, 1, c.1.value + 1)]),
            });
        }
        if let Some(old) = earlier_provider(client, market, instance.cycle).await? {
            if let Some((_, c, t)) = compatible(offers).next() {
                lies.push(Lie {
                    what: "names an offer of an earlier cycle",
                    expect: "offer_other_cycle",
                    calls: submit(vec![Assignment {
                        provider: old,
                        consumer: c.0,
                        rtype: t,
                        quantity: 1,
                        price: c.1.value,
                    }]),
                });
            }
        }
        if let Some(s) = instance.candidate.solution {
            let value = client
                .query(
                    agora_allocation::NAME,
                    "solution",
                    serde_json::json!({"market": market, "solution": s}),
                )
                .await?;
            let copy: Vec<Assignment> = serde_json::from_value(value["assignments"].clone())
                .map_err(|e| SimError::Unexpected(format!("solution: {e}")))?;
            lies.push(Lie {
                what: "copies the candidate",
                expect: "solution_not_better",
                calls: submit(copy),
            });
        }
        Ok(lies)
    }
}

/// (offer id, its alternative for the type).
type Side1<'a> = (OfferId, &'a Alternative);

/// Every (provider, consumer, type) whose values leave room for a price, in id order.
fn compatible(offers: &[InstanceOffer]) -> impl Iterator<Item = (Side1<'_>, Side1<'_>, TypeId)> {
    let by_side = move |side| offers.iter().filter(move |o| o.side == side);
    by_side(Side::Provide).flat_map(move |p| {
        by_side(Side::Consume).flat_map(move |c| {
            p.alternatives.iter().filter_map(move |pa| {
                let ca = c.alternatives.iter().find(|a| a.rtype == pa.rtype)?;
                (pa.value <= ca.value).then_some(((p.id, pa), (c.id, ca), pa.rtype))
            })
        })
    })
}

fn assign(p: Side1<'_>, c: Side1<'_>, rtype: TypeId, quantity: u64, price: u64) -> Assignment {
    Assignment {
        provider: p.0,
        consumer: c.0,
        rtype,
        quantity,
        price,
    }
}

/// Assignments that fill one consumption offer past its capacity (eq. 6.2) while every
/// provider stays within its own (each gives at most one alternative's quantity once).
fn over_use(offers: &[InstanceOffer]) -> Option<Vec<Assignment>> {
    let scale: BTreeMap<OfferId, u64> = offers
        .iter()
        .filter_map(|o| Some((o.id, o.scale?)))
        .collect();
    let mut by_consumer: BTreeMap<OfferId, Vec<(Side1<'_>, Side1<'_>, TypeId)>> = BTreeMap::new();
    for triple in compatible(offers) {
        by_consumer.entry(triple.1 .0).or_default().push(triple);
    }
    by_consumer.into_iter().find_map(|(c, triples)| {
        let cap = u128::from(*scale.get(&c)?);
        let (mut used, mut providers, mut assignments) = (0u128, Vec::new(), Vec::new());
        for (p, c, t) in triples {
            if providers.contains(&p.0) {
                continue;
            }
            providers.push(p.0);
            let weight = u128::from(cap as u64 / c.1.quantity);
            used += u128::from(p.1.quantity) * weight;
            assignments.push(assign(p, c, t, p.1.quantity, p.1.value));
            if used > cap {
                return Some(assignments);
            }
        }
        None
    })
}

/// A providing offer of the previous cycle, if there was one.
async fn earlier_provider(
    client: &Client,
    market: u64,
    cycle: u64,
) -> Result<Option<OfferId>, SimError> {
    let Some(previous) = cycle.checked_sub(1) else {
        return Ok(None);
    };
    let listed = client
        .query_all(
            agora_allocation::NAME,
            "offers",
            serde_json::json!({"market": market, "cycle": previous}),
            "offers",
        )
        .await?;
    let offers: Vec<Offer> = serde_json::from_value(serde_json::Value::Array(listed))
        .map_err(|e| SimError::Unexpected(format!("offers: {e}")))?;
    Ok(offers
        .into_iter()
        .find(|o| o.side == Side::Provide)
        .map(|o| o.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignments(n: usize) -> Vec<Assignment> {
        (0..n as u64)
            .map(|i| Assignment {
                provider: i,
                consumer: i + 1,
                rtype: 0,
                quantity: 1,
                price: 1,
            })
            .collect()
    }

    /// The parts a plan sends after `CreateSolution` (named solution 9), as sizes.
    fn part_sizes(plan: Plan) -> Vec<usize> {
        let Plan::Create { parts, .. } = plan else {
            panic!("not staged");
        };
        parts(9)
            .into_iter()
            .map(
                |call| match borsh::from_slice::<AllocationCall>(&call.payload).unwrap() {
                    AllocationCall::AddAssignments {
                        market: 7,
                        solution: 9,
                        assignments,
                    } => assignments.len(),
                    other => panic!("{other:?}"),
                },
            )
            .collect()
    }

    #[test]
    fn a_solution_goes_whole_when_it_fits_and_in_parts_otherwise() {
        let Plan::Calls(calls) = plan(7, assignments(3), 3).unwrap() else {
            panic!("staged");
        };
        assert_eq!(calls.len(), 1);
        assert_eq!(part_sizes(plan(7, assignments(5), 2).unwrap()), [2, 2, 1]);
        // 64 parts at most: larger parts than asked rather than a refused 65th.
        let sizes = part_sizes(plan(7, assignments(130), 2).unwrap());
        assert_eq!((sizes.len(), sizes[0]), (44, 3));
        let most = MAX_PARTS as usize * PART_ITEMS;
        assert_eq!(part_sizes(plan(7, assignments(most), 1).unwrap()).len(), 64);
        assert!(plan(7, assignments(most + 1), PART_ITEMS).is_err());
    }
}
