//! The energy market's solver daemon: [`crate::daemon`] with TRANSAX's problem (solve with
//! horizon T_h, post better solutions whole or staged).

use super::{offline::verify_timed, EnergySimConfig};
use crate::daemon::{Plan, Solved, SolverMarket, Status};
use agora_energy::{
    solution::{solution_calls, MAX_STAGED_PARTS},
    Market, Score, Trade,
};
use agora_solver::energy::{solve, EnergyInstance, SolveOptions};
use std::time::Duration;

/// The energy market of a day of `day` intervals, solved with the configured horizon.
pub(super) struct EnergyMarket {
    pub(super) horizon: u32,
    pub(super) time_limit: Duration,
    pub(super) day: u32,
}

impl EnergyMarket {
    pub(super) fn new(cfg: &EnergySimConfig, day: u32) -> Self {
        Self {
            horizon: cfg.horizon,
            time_limit: Duration::from_millis(cfg.interval_ms.max(1000)),
            day,
        }
    }
}

impl SolverMarket for EnergyMarket {
    const MODULE: &'static str = agora_energy::NAME;
    type Market = Market;
    type Instance = EnergyInstance;
    type Solution = Vec<Trade>;
    type Score = Score;

    /// Rounds are the next interval to finalize; the open problem is always solvable.
    fn status(&self, market: &Market) -> Status<Score> {
        if market.next_final >= self.day {
            Status::Done
        } else {
            Status::Solve {
                round: market.next_final.into(),
                candidate: market.candidate,
            }
        }
    }

    fn solve(&self, instance: &EnergyInstance) -> Result<Solved<Vec<Trade>, Score>, String> {
        let options = SolveOptions {
            horizon: Some(self.horizon),
            time_limit: self.time_limit,
        };
        let solution = solve(instance, &options).map_err(|e| e.to_string())?;
        Ok(Solved {
            score: solution.score(),
            items: solution.trades.len(),
            solve_ms: solution.solve_ms,
            variables: solution.variables,
            rows: solution.rows,
            bound: Some(solution.lp_objective),
            solution: solution.trades,
        })
    }

    fn check(&self, instance: &EnergyInstance, trades: &Vec<Trade>) -> Result<f64, String> {
        verify_timed(instance, trades)
            .map(|(_, ms)| ms)
            .map_err(|v| v.to_string())
    }

    /// Parts name their slot (the sender's): no creation step.
    fn plan(&self, market: u64, trades: Vec<Trade>) -> Result<Plan, String> {
        let calls = solution_calls(market, trades);
        // A staged solution is its parts and the post.
        if calls.len() > MAX_STAGED_PARTS as usize + 1 {
            return Err(format!(
                "{} parts exceed the {MAX_STAGED_PARTS} a staged solution may have",
                calls.len() - 1
            ));
        }
        Ok(Plan::Calls(
            calls.into_iter().map(|c| c.into_call()).collect(),
        ))
    }
}
