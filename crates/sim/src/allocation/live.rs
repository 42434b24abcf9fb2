//! The carpool kept busy on a devnet, without end: the 75 commuters of `data/carpool` draw a
//! role, seats and a departure slot each cycle and place their offers, the director closes and
//! finalizes each cycle as its phases fall due, and one LP solver daemon matches drivers'
//! seats to riders.
//!
//! Cycles follow the wall clock: each phase lasts the devnet's interval, and a cycle whose
//! phase fell due while the devnet was down is closed (or finalized) as soon as it is back.
//! The market and every agent's key go to `carpool.json` in the devnet's market directory; a
//! later start that finds the same market on the chain reuses it. The market does not settle:
//! the demo shows matching, not payment.

use super::{
    carpool::{read_commuters, Carpool, CarpoolConfig},
    director::run_director,
    prosumer::Prosumer,
    solver::{AllocationSolver, SolverKind},
};
use crate::{
    daemon::{self, DaemonConfig, SolverStats},
    demo::{
        key_from_json, key_to_json, pay, read_state, supervise, supervise_top_up, write_state,
        DemoContext, DemoError, DemoMarket, Started,
    },
    energy::{SimError, FUNDING, SOLVER_FUNDING},
};
use agora_allocation::{AllocationCall, MarketParams, Objective, PairRule, Phase};
use agora_bank::BankCall;
use agora_client::Client;
use agora_types::{Address, Keypair, TxStatus};
use futures::{future::BoxFuture, StreamExt};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::{path::Path, sync::Arc, time::Duration};
use tokio::{
    sync::{watch, Mutex},
    task::JoinSet,
};
use tracing::{info, warn};

/// The commuters, under the shipped data directory.
pub const COMMUTERS: &str = "carpool/latlng.csv";
/// Commuters placing offers at once.
const CONCURRENCY: usize = 32;

/// The carpool of `agora devnet --markets`.
pub struct CarpoolDemo;

impl DemoMarket for CarpoolDemo {
    fn name(&self) -> &'static str {
        "carpool"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a DemoContext,
        agents: &'a mut JoinSet<()>,
    ) -> BoxFuture<'a, Result<Started, DemoError>> {
        Box::pin(start(ctx, agents))
    }
}

/// What a later start needs to resume: the market and the keys of its agents.
#[derive(Serialize, Deserialize)]
struct State {
    market: u64,
    director: serde_json::Value,
    solver: serde_json::Value,
    /// One key per commuter, in the order of `latlng.csv`.
    commuters: Vec<serde_json::Value>,
}

async fn start(ctx: &DemoContext, agents: &mut JoinSet<()>) -> Result<Started, DemoError> {
    let commuters = read_commuters(&ctx.data.join(COMMUTERS))?;
    let path = ctx.dir.join("carpool.json");
    let stored = match read_state::<State>(&path)? {
        Some(state) if on_chain(&ctx.client, &path, &state).await? => Some(state),
        Some(state) => {
            warn!(
                market = state.market,
                file = %path.display(),
                "the stored carpool market is not on this chain; setting up a new one"
            );
            None
        }
        None => None,
    };
    let resumed = stored.is_some();
    let state = match stored {
        Some(state) => state,
        None => set_up_new(ctx, commuters.len(), &path).await?,
    };
    if state.commuters.len() != commuters.len() {
        return Err(DemoError::State {
            path,
            reason: format!(
                "{} commuter keys for the {} commuters of {COMMUTERS}",
                state.commuters.len(),
                commuters.len()
            ),
        });
    }
    let m = state.market;
    let director = key_from_json(&path, &state.director)?;
    let solver = key_from_json(&path, &state.solver)?;
    let prosumers = state
        .commuters
        .iter()
        .map(|k| {
            Ok(Prosumer {
                key: key_from_json(&path, k)?,
            })
        })
        .collect::<Result<Vec<_>, DemoError>>()?;
    let cycle = super::market(&ctx.client, m).await?.cycle;
    // Draws differ from one start to the next, and are the same for a start at the same cycle.
    let carpool = Carpool::new(
        commuters,
        CarpoolConfig {
            seed: cycle,
            ..CarpoolConfig::default()
        },
    )?;
    info!(
        market = m,
        resumed,
        cycle,
        commuters = prosumers.len(),
        "carpool running"
    );

    let client = ctx.client.clone();
    let accounts: Vec<Address> = [director.address(), solver.address()]
        .into_iter()
        .chain(prosumers.iter().map(|p| p.key.address()))
        .collect();
    // How many cycles' offers are placed: the director closes a cycle only once they are.
    let placed = Arc::new(watch::channel(0u64).0);
    {
        let (client, placed) = (client.clone(), placed.clone());
        supervise(agents, "carpool director".into(), move || {
            let (client, director) = (client.clone(), director.clone());
            let placed = placed.subscribe();
            async move {
                run_director(client, director, m, u64::MAX, placed)
                    .await
                    .map(drop)
            }
        });
    }
    let stats = Arc::new(SolverStats::default());
    {
        let (client, stats) = (client.clone(), stats.clone());
        let phase_ms = ctx.interval_ms.max(100);
        let allocation = Arc::new(AllocationSolver {
            kind: SolverKind::Lp,
            cycles: u64::MAX,
            time_limit: Duration::from_millis(phase_ms.max(1_000)),
            part_items: super::solver::PART_ITEMS,
        });
        supervise(agents, "carpool solver".into(), move || {
            let daemon = DaemonConfig {
                period: Duration::from_millis((phase_ms / 8).clamp(20, 250)),
                fail_at_round: None,
                byzantine: false,
                label: "carpool solver".into(),
            };
            daemon::run(
                client.clone(),
                solver.clone(),
                m,
                allocation.clone(),
                daemon,
                stats.clone(),
            )
        });
    }
    {
        let (client, placed) = (client.clone(), placed.clone());
        let commuters = Arc::new((prosumers, Mutex::new(carpool)));
        supervise(agents, "carpool commuters".into(), move || {
            let (client, placed, commuters) = (client.clone(), placed.clone(), commuters.clone());
            async move {
                let (prosumers, carpool) = &*commuters;
                run_commuters(&client, m, prosumers, &mut *carpool.lock().await, &placed).await
            }
        });
    }
    supervise_top_up(
        agents,
        ctx,
        "carpool",
        accounts,
        FUNDING,
        Some(("carpool solver", stats)),
    );
    Ok(Started {
        name: "carpool",
        market: m,
        explorer: format!("/explorer/allocation/{m}"),
        resumed,
    })
}

/// Whether the chain has the stored market, run by the stored director.
async fn on_chain(client: &Client, path: &Path, state: &State) -> Result<bool, DemoError> {
    let director = key_from_json(path, &state.director)?;
    match super::market(client, state.market).await {
        Ok(found) => Ok(found.admin == director.address()),
        Err(e) => {
            warn!(%e, market = state.market, "cannot read the stored carpool market");
            Ok(false)
        }
    }
}

/// The carpool market: each phase lasts the devnet's interval; the most seats matched wins.
fn params(phase_ms: u64) -> MarketParams {
    MarketParams {
        receive_ms: phase_ms,
        solve_ms: phase_ms,
        max_quantity: u64::from(u32::MAX),
        max_types_per_offer: agora_allocation::MAX_ALTERNATIVES,
        objective: Objective::Quantity,
        default_bound: None,
        price_bounds: Vec::new(),
        pairs: PairRule::Any,
        settle: false,
        max_offers_per_cycle: 1_000,
        max_solutions_per_cycle: 1_000,
    }
}

/// Funds the director, the solver and `commuters` new keys, creates the market and writes the
/// state file.
async fn set_up_new(ctx: &DemoContext, commuters: usize, path: &Path) -> Result<State, DemoError> {
    let director = Keypair::generate(&mut OsRng);
    let solver = Keypair::generate(&mut OsRng);
    let keys: Vec<Keypair> = (0..commuters)
        .map(|_| Keypair::generate(&mut OsRng))
        .collect();
    let transfer = |to, amount| BankCall::Transfer { to, amount }.into_call();
    let funding = [
        transfer(director.address(), FUNDING),
        transfer(solver.address(), SOLVER_FUNDING),
    ]
    .into_iter()
    .chain(keys.iter().map(|k| transfer(k.address(), FUNDING)))
    .collect();
    pay(&ctx.client, &ctx.faucet, funding, "carpool funding").await?;
    let create = AllocationCall::CreateMarket(params(ctx.interval_ms.max(100)));
    let tx = ctx.client.send(&director, create.into_call()).await?;
    let receipt = ctx
        .client
        .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
        .await?;
    let market = receipt
        .events
        .iter()
        .find(|e| e.name == "MarketCreated")
        .and_then(|e| e.data["market"].as_u64())
        .filter(|_| receipt.status == TxStatus::Success)
        .ok_or_else(|| SimError::Failed {
            what: "carpool CreateMarket".into(),
            reason: receipt.reason.clone().unwrap_or_default(),
        })?;
    let state = State {
        market,
        director: key_to_json(&director),
        solver: key_to_json(&solver),
        commuters: keys.iter().map(key_to_json).collect(),
    };
    write_state(path, &state)?;
    Ok(state)
}

/// Each time a cycle opens whose offers are not placed yet: every commuter with a pick-up point
/// in range places its offer of the cycle's draw (one that fails is left out of the cycle),
/// and the last finalized cycle's matched seats are logged.
async fn run_commuters(
    client: &Client,
    m: u64,
    prosumers: &[Prosumer],
    carpool: &mut Carpool,
    placed: &watch::Sender<u64>,
) -> Result<(), SimError> {
    loop {
        let market = super::market(client, m).await?;
        if market.phase != Phase::Receive || *placed.borrow() > market.cycle {
            let phase_ms = market.params.receive_ms.min(market.params.solve_ms);
            tokio::time::sleep(Duration::from_millis((phase_ms / 8).clamp(20, 250))).await;
            continue;
        }
        let cycle = market.cycle;
        let offers = carpool.next_cycle();
        // Collected first: a lazy map's closure would keep the task from being `Send`.
        let placing: Vec<_> = prosumers
            .iter()
            .zip(offers)
            .filter_map(|(p, o)| Some((p, o.offer?)))
            .map(|(p, o)| async move { p.place(client, m, std::slice::from_ref(&o)).await })
            .collect();
        let offered = placing.len();
        let failed: Vec<SimError> = futures::stream::iter(placing)
            .buffer_unordered(CONCURRENCY)
            .filter_map(|r| async { r.err() })
            .collect()
            .await;
        if let Some(e) = failed.first() {
            warn!(cycle, commuters = failed.len(), %e, "commuters could not place offers");
        }
        placed.send_replace(cycle + 1);
        if let Some(previous) = cycle.checked_sub(1) {
            let seats = seats_matched(client, m, previous).await?;
            info!(cycle = previous, seats, "carpool cycle finalized");
        }
        info!(
            cycle,
            offers = offered - failed.len(),
            "carpool offers placed"
        );
    }
}

/// The seats matched in finalized cycle `cycle`: the quantities of its assignments.
pub async fn seats_matched(client: &Client, m: u64, cycle: u64) -> Result<u64, SimError> {
    let value = client
        .query(
            agora_allocation::NAME,
            "finalized",
            serde_json::json!({"market": m, "cycle": cycle}),
        )
        .await?;
    Ok(value["assignments"]
        .as_array()
        .map_or(0, |a| a.iter().filter_map(|a| a["quantity"].as_u64()).sum()))
}
