//! Plays cycles of an allocation market on a real chain: funds the agents, creates the market,
//! starts the director and the solver daemons, and each cycle has the prosumers place their
//! offers and read the finalized record; when the market settles, they take back what is left
//! of their holds and the harness records every balance before and after.

use super::{
    director::run_director,
    prosumer::Prosumer,
    solver::{AllocationSolver, SolverKind},
    summary::FinalizeTiming,
    OfferSpec,
};
use crate::{
    daemon::{self, DaemonConfig, SolverStats, Tally},
    energy::{execute_all, SimError, FUNDING, SOLVER_FUNDING},
};
use agora_allocation::{
    AllocationCall, Assignment, Final, MarketParams, Objective, OfferId, PairRule, Phase,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_types::{Keypair, TxStatus};
use futures::{StreamExt, TryStreamExt};
use rand::rngs::OsRng;
use serde::Serialize;
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// Agents placing offers at once.
const CONCURRENCY: usize = 64;

#[derive(Clone, Debug)]
pub struct AllocationSimConfig {
    pub receive_ms: u64,
    pub solve_ms: u64,
    pub cycles: u64,
    /// Honest solver daemons, of `kinds` in turn.
    pub solvers: usize,
    pub kinds: Vec<SolverKind>,
    /// Solver 0 stops once the market reaches this cycle.
    pub fail_solver_at: Option<u64>,
    /// One more daemon that only lies.
    pub byzantine: bool,
    pub max_quantity: u64,
    pub max_types_per_offer: u32,
    pub solver_time_limit: Duration,
    pub objective: Objective,
    /// Payments with holds (A5): consumers hold their worst case, `Finalize` pays providers.
    pub settle: bool,
}

impl Default for AllocationSimConfig {
    fn default() -> Self {
        Self {
            receive_ms: 2_000,
            solve_ms: 2_000,
            cycles: 1,
            solvers: 1,
            kinds: vec![SolverKind::Lp],
            fail_solver_at: None,
            byzantine: false,
            max_quantity: u64::from(u32::MAX),
            max_types_per_offer: agora_allocation::MAX_ALTERNATIVES,
            solver_time_limit: Duration::from_secs(30),
            objective: Objective::Quantity,
            settle: false,
        }
    }
}

/// An agent's balance around one settled cycle: before it placed its offers, after it took
/// back its holds, and the fees it paid in between.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Balance {
    pub before: u64,
    pub after: u64,
    pub fees: u64,
}

/// One cycle as it happened.
#[derive(Clone, Debug)]
pub struct CycleRun {
    pub cycle: u64,
    /// Per agent: its offers of the cycle with their ids.
    pub offers: Vec<Vec<(OfferId, OfferSpec)>>,
    pub record: Final,
    pub finalized: Vec<Assignment>,
    /// Per agent, when the market settles.
    pub balances: Option<Vec<Balance>>,
}

impl CycleRun {
    /// Per agent and offer: the units assigned.
    pub fn assigned(&self) -> Vec<Vec<u64>> {
        self.offers
            .iter()
            .map(|offers| {
                let ids: Vec<OfferId> = offers.iter().map(|(id, _)| *id).collect();
                super::prosumer::assigned(&ids, &self.finalized)
            })
            .collect()
    }
}

/// Everything a run produced.
pub struct Run {
    pub market: u64,
    pub cycles: Vec<CycleRun>,
    pub timings: Vec<FinalizeTiming>,
    pub tally: Tally,
    /// The daemons' labels, in order (the Byzantine one last).
    pub solvers: Vec<String>,
    /// When settling: the bank's conservation check after the last cycle.
    pub conserved: Option<bool>,
}

async fn finalized(
    client: &Client,
    m: u64,
    cycle: u64,
) -> Result<(Final, Vec<Assignment>), SimError> {
    let value = client
        .query(
            agora_allocation::NAME,
            "finalized",
            serde_json::json!({"market": m, "cycle": cycle}),
        )
        .await?;
    fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, SimError> {
        serde_json::from_value(v.clone()).map_err(|e| SimError::Unexpected(e.to_string()))
    }
    Ok((parse(&value["record"])?, parse(&value["assignments"])?))
}

/// Creates the market as `admin` and returns its id.
async fn create_market(
    client: &Client,
    admin: &Keypair,
    cfg: &AllocationSimConfig,
) -> Result<u64, SimError> {
    let params = MarketParams {
        receive_ms: cfg.receive_ms,
        solve_ms: cfg.solve_ms,
        max_quantity: cfg.max_quantity,
        max_types_per_offer: cfg.max_types_per_offer,
        objective: cfg.objective.clone(),
        default_bound: None,
        price_bounds: Vec::new(),
        pairs: PairRule::Any,
        settle: cfg.settle,
        max_offers_per_cycle: 100_000,
        max_solutions_per_cycle: 1_000,
    };
    let tx = client
        .send(admin, AllocationCall::CreateMarket(params).into_call())
        .await?;
    let receipt = client
        .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
        .await?;
    if receipt.status != TxStatus::Success {
        return Err(SimError::Failed {
            what: "CreateMarket".into(),
            reason: receipt.reason.unwrap_or_default(),
        });
    }
    receipt
        .events
        .iter()
        .find(|e| e.name == "MarketCreated")
        .and_then(|e| e.data["market"].as_u64())
        .ok_or_else(|| SimError::Unexpected("CreateMarket without MarketCreated".into()))
}

/// Plays `cfg.cycles` cycles with `agents` prosumers; `offers(cycle)` gives each agent's
/// offers of a cycle. `faucet` pays for everything.
pub async fn run(
    client: &Client,
    faucet: &Keypair,
    agents: usize,
    cfg: &AllocationSimConfig,
    mut offers: impl FnMut(u64) -> Vec<Vec<OfferSpec>>,
) -> Result<Run, SimError> {
    let director = Keypair::generate(&mut OsRng);
    let prosumers: Vec<Prosumer> = (0..agents)
        .map(|_| Prosumer {
            key: Keypair::generate(&mut OsRng),
        })
        .collect();
    let daemons = cfg.solvers + usize::from(cfg.byzantine);
    let solver_keys: Vec<Keypair> = (0..daemons)
        .map(|_| Keypair::generate(&mut OsRng))
        .collect();
    let transfer = |to, amount| BankCall::Transfer { to, amount }.into_call();
    let funding = std::iter::once(transfer(director.address(), FUNDING))
        .chain(prosumers.iter().map(|p| transfer(p.key.address(), FUNDING)))
        .chain(
            solver_keys
                .iter()
                .map(|k| transfer(k.address(), SOLVER_FUNDING)),
        )
        .collect();
    execute_all(client, faucet, funding, "funding").await?;
    let m = create_market(client, &director, cfg).await?;

    let stats = Arc::new(SolverStats::default());
    let mut labels = Vec::new();
    let mut tasks = Vec::new();
    for (i, key) in solver_keys.into_iter().enumerate() {
        let byzantine = i >= cfg.solvers;
        let kind = cfg.kinds[i % cfg.kinds.len().max(1)];
        let label = match byzantine {
            true => "byzantine".to_string(),
            false => format!("solver {i} ({kind:?})").to_lowercase(),
        };
        labels.push(label.clone());
        let solver = Arc::new(AllocationSolver {
            kind,
            cycles: cfg.cycles,
            time_limit: cfg.solver_time_limit,
            part_items: super::solver::PART_ITEMS,
        });
        let daemon = DaemonConfig {
            period: Duration::from_millis((cfg.solve_ms / 8).clamp(20, 250)),
            fail_at_round: cfg.fail_solver_at.filter(|_| i == 0),
            byzantine,
            label,
        };
        tasks.push(tokio::spawn(daemon::run(
            client.clone(),
            key,
            m,
            solver,
            daemon,
            stats.clone(),
        )));
    }
    let (placed_tx, placed_rx) = watch::channel(0u64);
    let director_task = tokio::spawn(run_director(
        client.clone(),
        director,
        m,
        cfg.cycles,
        placed_rx,
    ));

    let mut cycles = Vec::new();
    for cycle in 0..cfg.cycles {
        loop {
            let mk = super::market(client, m).await?;
            if mk.cycle == cycle && mk.phase == Phase::Receive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wanted = offers(cycle);
        let before = match cfg.settle {
            true => Some(balances(client, &prosumers).await?),
            false => None,
        };
        let placing = prosumers
            .iter()
            .zip(&wanted)
            .map(|(p, o)| p.place(client, m, o));
        let placed: Vec<(Vec<OfferId>, u64)> = futures::stream::iter(placing)
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        placed_tx.send_replace(cycle + 1);
        loop {
            if super::market(client, m).await?.cycle > cycle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (record, finalized) = finalized(client, m, cycle).await?;
        let fees: Vec<u64> = placed.iter().map(|p| p.1).collect();
        let offers: Vec<Vec<(OfferId, OfferSpec)>> = placed
            .into_iter()
            .zip(wanted)
            .map(|((ids, _), specs)| ids.into_iter().zip(specs).collect())
            .collect();
        let balances = match before {
            Some(before) => Some(settle(client, m, &prosumers, &offers, before, fees).await?),
            None => None,
        };
        cycles.push(CycleRun {
            cycle,
            offers,
            record,
            finalized,
            balances,
        });
    }
    let timings = director_task
        .await
        .map_err(|e| SimError::Unexpected(e.to_string()))??;
    for t in tasks {
        t.await.map_err(|e| SimError::Unexpected(e.to_string()))??;
    }
    let tally = stats.take();
    let conserved = match cfg.settle {
        true => {
            let totals = client
                .query("bank", "conservation", serde_json::Value::Null)
                .await?;
            Some(totals["conserved"] == true)
        }
        false => None,
    };
    Ok(Run {
        market: m,
        cycles,
        timings,
        tally,
        solvers: labels,
        conserved,
    })
}

async fn balances(client: &Client, prosumers: &[Prosumer]) -> Result<Vec<u64>, SimError> {
    let reading = prosumers.iter().map(|p| async move {
        let address = p.key.address();
        client.balance(&address).await
    });
    Ok(futures::stream::iter(reading)
        .buffered(CONCURRENCY)
        .try_collect()
        .await?)
}

/// After a settled cycle's `Finalize`: every prosumer takes back what is left of its holds,
/// then its balance is read again.
async fn settle(
    client: &Client,
    m: u64,
    prosumers: &[Prosumer],
    offers: &[Vec<(OfferId, OfferSpec)>],
    before: Vec<u64>,
    placing_fees: Vec<u64>,
) -> Result<Vec<Balance>, SimError> {
    let releasing = prosumers
        .iter()
        .zip(offers)
        .map(|(p, o)| p.release(client, m, o));
    let release_fees: Vec<u64> = futures::stream::iter(releasing)
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let after = balances(client, prosumers).await?;
    Ok((0..prosumers.len())
        .map(|i| Balance {
            before: before[i],
            after: after[i],
            fees: placing_fees[i] + release_fees[i],
        })
        .collect())
}
