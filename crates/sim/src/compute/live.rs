//! The compute market (MODiCuM) kept busy on a devnet, without end: a job creator runs the
//! simulation's WebAssembly jobs one after another, at most one per devnet interval, through
//! a resource provider that forges a tenth of its results, a mediator, the directory, the
//! matching solver and the keeper; the job creator verifies half the results it gets.
//!
//! The market, the keys of its six agents and the directory's address go to `compute.json`
//! in the devnet's market directory, and the directory keeps its blobs in `compute-blobs`
//! beside it. A later start that finds the same market on the chain serves the directory at
//! the same address again (the market has no call to move it) and withdraws the offers the
//! last run left open; if the address is taken, it sets up a new market.

use super::{
    directory_client,
    directory_operator::{run_operator, start_at, RunningDirectory},
    harness::{engine, params, set_up, Roles, FUNDING},
    job_creator::JobCreator,
    keeper::run_keeper,
    matching::OpenProblem,
    mediator::MediatorAgent,
    query,
    resource_provider::ResourceProvider,
    rng,
    solver::run_solver,
    summary::TERMS,
    workload::Executor,
    Account, Observed, Stop,
};
use crate::{
    demo::{
        key_from_json, key_to_json, pay, read_state, supervise, supervise_top_up, write_state,
        DemoContext, DemoError, DemoMarket, Started,
    },
    energy::SimError,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_compute::{ComputeCall, Market};
use agora_types::{Address, Keypair};
use futures::future::BoxFuture;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Probability that the resource provider forges a result, and that the job creator checks
/// one: the demo shows mediation as well as plain acceptance.
const CHEAT_RATE: f64 = 0.1;
const VERIFY_RATE: f64 = 0.5;
/// Time from posting a job to its completion deadline.
const COMPLETION_WINDOW_MS: u64 = 30_000;

/// The compute market of `agora devnet --markets`.
pub struct ComputeDemo;

impl DemoMarket for ComputeDemo {
    fn name(&self) -> &'static str {
        "compute"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a DemoContext,
        agents: &'a mut JoinSet<()>,
    ) -> BoxFuture<'a, Result<Started, DemoError>> {
        Box::pin(start(ctx, agents))
    }
}

/// What a later start needs to resume: the market, the agents' keys, the directory's address.
#[derive(Serialize, Deserialize)]
struct State {
    market: u64,
    /// `host:port` the directory registered (as `http://host:port`).
    directory_addr: String,
    jc: serde_json::Value,
    rp: serde_json::Value,
    mediator: serde_json::Value,
    directory: serde_json::Value,
    solver: serde_json::Value,
    keeper: serde_json::Value,
}

impl State {
    fn roles(&self, path: &Path, client: &Client) -> Result<Roles, DemoError> {
        let account = |v| Ok::<_, DemoError>(Account::new(key_from_json(path, v)?, client.clone()));
        Ok(Roles {
            jc: account(&self.jc)?,
            rp: account(&self.rp)?,
            mediator: account(&self.mediator)?,
            directory: account(&self.directory)?,
            solver: account(&self.solver)?,
            keeper: account(&self.keeper)?,
        })
    }
}

async fn start(ctx: &DemoContext, agents: &mut JoinSet<()>) -> Result<Started, DemoError> {
    let path = ctx.dir.join("compute.json");
    let blobs = ctx.dir.join("compute-blobs");
    let resumed = match read_state::<State>(&path)? {
        Some(state) => resume(ctx, &path, &blobs, state).await?,
        None => None,
    };
    let was_resumed = resumed.is_some();
    let (state, directory) = match resumed {
        Some(found) => found,
        None => set_up_new(ctx, &path, &blobs).await?,
    };
    let m = state.market;
    let roles = state.roles(&path, &ctx.client)?;
    info!(
        market = m,
        resumed = was_resumed,
        directory = %directory.endpoint,
        "compute market running"
    );
    spawn_agents(ctx, agents, m, &roles, directory);
    Ok(Started {
        name: "compute",
        market: m,
        explorer: format!("/explorer/compute/{m}"),
        resumed: was_resumed,
    })
}

/// The stored market with its directory serving again, if the chain has the market and the
/// directory's address is free; the offers the last run left open are withdrawn.
async fn resume(
    ctx: &DemoContext,
    path: &Path,
    blobs: &Path,
    state: State,
) -> Result<Option<(State, RunningDirectory)>, DemoError> {
    let roles = state.roles(path, &ctx.client)?;
    let found: Result<Market, _> =
        query(&ctx.client, "market", json!({"market": state.market})).await;
    match found {
        Ok(market) if market.creator == roles.keeper.address() => {}
        _ => {
            warn!(
                market = state.market,
                file = %path.display(),
                "the stored compute market is not on this chain; setting up a new one"
            );
            return Ok(None);
        }
    }
    let directory = match start_at(&roles.directory.key, blobs, &state.directory_addr).await {
        Ok(directory) => directory,
        Err(e) => {
            warn!(%e, addr = state.directory_addr, "cannot serve the compute directory again; setting up a new market");
            return Ok(None);
        }
    };
    withdraw_open_offers(&roles, state.market).await?;
    Ok(Some((state, directory)))
}

/// Cancels the job creator's and the resource provider's open offers: their agents of the last
/// run are gone, and the new ones post their own.
async fn withdraw_open_offers(roles: &Roles, m: u64) -> Result<(), SimError> {
    let problem: OpenProblem =
        query(&roles.keeper.client, "open_problem", json!({"market": m})).await?;
    let jobs = problem
        .job_offers
        .iter()
        .filter(|o| o.owner == roles.jc.address())
        .map(|o| {
            (
                &roles.jc,
                ComputeCall::CancelJobOffer {
                    market: m,
                    offer: o.id,
                },
            )
        });
    let resources = problem
        .resource_offers
        .iter()
        .filter(|o| o.owner == roles.rp.address())
        .map(|o| {
            (
                &roles.rp,
                ComputeCall::CancelResourceOffer {
                    market: m,
                    offer: o.id,
                },
            )
        });
    for (account, call) in jobs.chain(resources) {
        // A lost race (matched meanwhile) is fine: the keeper closes that match.
        if let Some(reason) = account.submit(call).await?.reason {
            warn!(reason, "cannot withdraw an offer of the last run");
        }
    }
    Ok(())
}

/// Funds six new agents, starts the directory on a free port, registers every role on a new
/// market and writes the state file.
async fn set_up_new(
    ctx: &DemoContext,
    path: &Path,
    blobs: &Path,
) -> Result<(State, RunningDirectory), DemoError> {
    let key = || Keypair::generate(&mut OsRng);
    let keys = [key(), key(), key(), key(), key(), key()];
    let funding = keys
        .iter()
        .map(|k| {
            BankCall::Transfer {
                to: k.address(),
                amount: FUNDING,
            }
            .into_call()
        })
        .collect();
    pay(&ctx.client, &ctx.faucet, funding, "compute funding").await?;
    let [jc, rp, mediator, directory, solver, keeper] = keys.map(|k| key_to_json(&k));
    let mut state = State {
        market: 0,
        directory_addr: String::new(),
        jc,
        rp,
        mediator,
        directory,
        solver,
        keeper,
    };
    let roles = state.roles(path, &ctx.client)?;
    let running = start_at(&roles.directory.key, blobs, "127.0.0.1:0").await?;
    state.directory_addr = running.endpoint.trim_start_matches("http://").to_string();
    state.market = set_up(&roles, running.endpoint.clone()).await?;
    write_state(path, &state)?;
    Ok((state, running))
}

/// Spawns the directory server and every agent of market `m`.
fn spawn_agents(
    ctx: &DemoContext,
    agents: &mut JoinSet<()>,
    m: u64,
    roles: &Roles,
    directory: RunningDirectory,
) {
    // Never set: the agents stop when the devnet aborts them.
    let stop = Stop::default();
    let observed = Arc::new(Observed::default());
    let store = directory.store.clone();
    agents.spawn(async move {
        // Served until the devnet aborts this task, which drops it.
        let _directory = directory;
        std::future::pending::<()>().await
    });
    let client = ctx.client.clone();
    {
        let (client, stop) = (client.clone(), stop.clone());
        supervise(agents, "compute directory".into(), move || {
            let (client, store, stop) = (client.clone(), store.clone(), stop.clone());
            async move {
                run_operator(client, m, params(), store, stop)
                    .await
                    .map(drop)
            }
        });
    }
    let (rp, mediator, jc) = (roles.rp.clone(), roles.mediator.clone(), roles.jc.clone());
    let directory = roles.directory.address();
    {
        let (stop, observed) = (stop.clone(), observed.clone());
        supervise(agents, "compute resource provider".into(), move || {
            let (account, stop, observed) = (rp.clone(), stop.clone(), observed.clone());
            async move {
                let dir = directory_client(&account.client, m, &directory).await?;
                let rp = ResourceProvider {
                    account,
                    market: m,
                    dir,
                    exec: Executor::new().map_err(engine)?,
                    rng: rng(rand::random(), 1),
                    cheat_rate: CHEAT_RATE,
                    silent_rate: 0.0,
                    observed,
                };
                rp.run(stop).await
            }
        });
    }
    {
        let (stop, observed) = (stop.clone(), observed.clone());
        supervise(agents, "compute mediator".into(), move || {
            let (account, stop, observed) = (mediator.clone(), stop.clone(), observed.clone());
            async move {
                let dir = directory_client(&account.client, m, &directory).await?;
                let mediator = MediatorAgent {
                    account,
                    market: m,
                    dir,
                    exec: Executor::new().map_err(engine)?,
                    runs: TERMS.verification_count,
                    observed,
                };
                mediator.run(stop).await
            }
        });
    }
    {
        let (solver, stop) = (roles.solver.clone(), stop.clone());
        supervise(agents, "compute solver".into(), move || {
            run_solver(solver.clone(), m, stop.clone())
        });
    }
    {
        let (keeper, stop) = (roles.keeper.clone(), stop.clone());
        supervise(agents, "compute keeper".into(), move || {
            run_keeper(keeper.clone(), m, stop.clone())
        });
    }
    let pace = Duration::from_millis(ctx.interval_ms);
    let next = Arc::new(AtomicUsize::new(0));
    supervise(agents, "compute job creator".into(), move || {
        let (account, observed, next) = (jc.clone(), observed.clone(), next.clone());
        async move {
            let dir = directory_client(&account.client, m, &directory).await?;
            let seed = rand::random();
            let mut jc = JobCreator {
                account,
                market: m,
                directory,
                dir,
                exec: Executor::new().map_err(engine)?,
                rng: rng(seed, 0),
                verify_rate: VERIFY_RATE,
                completion_window_ms: COMPLETION_WINDOW_MS,
                seed,
                observed,
            };
            loop {
                let started = Instant::now();
                let index = next.fetch_add(1, Ordering::Relaxed);
                let record = jc.run_job(index).await?;
                info!(
                    job = index,
                    kernel = record.kernel,
                    outcome = ?record.outcome,
                    verified = record.verified,
                    "compute job closed"
                );
                tokio::time::sleep(pace.saturating_sub(started.elapsed())).await;
            }
        }
    });
    let accounts: Vec<Address> = roles.all().iter().map(|(_, a)| a.address()).collect();
    supervise_top_up(agents, ctx, "compute", accounts, FUNDING, None);
}
