//! The SolidWorx case studies (seed section 6.5, spec section 5) on a real chain: the generic
//! allocation market run by agents that only talk to the chain over RPC. One file per role:
//!
//! - **Prosumers** (`prosumer.rs`): carpool riders and drivers, or energy homes; each cycle
//!   they place their offers (`PlaceOffer`) during Receive, and read their assignments from
//!   the cycle's finalized record.
//! - **Director** (`director.rs`), the seed's directory as operator: calls `Close` once the
//!   offering phase is due and the cycle's offers are in, and `Finalize` once the solving
//!   phase is due, measuring `Finalize` submitted to its receipt and to the `Finalized` event.
//! - **Solver daemons** (`solver.rs`): [`crate::daemon`] with the allocation solver, `lp`
//!   (HiGHS) or `greedy`; one may fail at a cycle, and a Byzantine one submits only solutions
//!   the ledger must refuse (spec 4.5).
//! - **Population**: [`carpool`] builds the carpool case from data, [`energy`] the energy case
//!   from the 102-home profiles.
//!
//! [`harness::run`] plays the cycles; [`summary`] turns what happened into the reports.

pub mod carpool;
mod director;
pub mod energy;
pub mod figures;
pub mod geo;
pub mod harness;
pub mod live;
pub mod objective;
mod prosumer;
mod solver;
pub mod summary;

pub use solver::{created, plan, AllocationSolver, SolverKind, PART_ITEMS};

use agora_allocation::{Alternative, Market, Side};
use serde::Serialize;

/// The market's state as its `market` query gives it.
async fn market(client: &agora_client::Client, m: u64) -> Result<Market, crate::energy::SimError> {
    crate::daemon::query(client, agora_allocation::NAME, "market", m).await
}

/// One offer an agent places: `PlaceOffer`'s arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OfferSpec {
    pub side: Side,
    pub misc: u64,
    /// Sorted by type, distinct.
    pub alternatives: Vec<Alternative>,
}

impl OfferSpec {
    /// What the offer provides or requests at most: its largest alternative.
    pub fn capacity(&self) -> u64 {
        self.alternatives
            .iter()
            .map(|a| a.quantity)
            .max()
            .unwrap_or(0)
    }
}

/// A carpool run: the report, what happened, and the first cycle's figures (file name, SVG).
pub struct CarpoolRun {
    pub summary: summary::CarpoolSummary,
    pub run: harness::Run,
    pub figures: Vec<(String, String)>,
}

/// Runs the carpool case on the chain behind `client`: new draws every cycle (the same ones
/// with `reference`), `cfg.cycles` cycles.
pub async fn run_carpool(
    client: &agora_client::Client,
    faucet: &agora_types::Keypair,
    mut carpool: carpool::Carpool,
    cfg: &harness::AllocationSimConfig,
) -> Result<CarpoolRun, crate::energy::SimError> {
    let mut draws = Vec::new();
    let agents = carpool.commuters.len();
    let run = harness::run(client, faucet, agents, cfg, |_| {
        let cycle = carpool.next_cycle();
        let offers = cycle
            .iter()
            .map(|o| o.offer.iter().cloned().collect())
            .collect();
        draws.push(cycle);
        offers
    })
    .await?;
    let summary = summary::CarpoolSummary::new(&carpool, &cfg.objective, &draws, &run);
    let figures = match (draws.first(), run.cycles.first()) {
        (Some(d), Some(c)) => figures::carpool_figures(&carpool, d, &c.offers, &c.finalized),
        _ => Vec::new(),
    };
    Ok(CarpoolRun {
        summary,
        run,
        figures,
    })
}
