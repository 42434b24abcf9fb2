//! The run: funds and registers every role on a fresh market, starts the agents, plays the
//! jobs one after another, then reads the ledger for the summary.

use super::directory_operator::{self, run_operator};
use super::job_creator::JobCreator;
use super::keeper::run_keeper;
use super::mediator::MediatorAgent;
use super::resource_provider::ResourceProvider;
use super::solver::run_solver;
use super::summary::{ComputeSimSummary, Latency, RoleNet, TERMS};
use super::workload::Executor;
use super::{directory_client, rng, Account, ComputeSimConfig, Observed, Stop};
use crate::energy::{execute_all, SimError};
use agora_bank::BankCall;
use agora_client::Client;
use agora_compute::{ComputeCall, MarketParams, TrustKind};
use agora_types::{Address, Keypair};
use rand::rngs::OsRng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Funds of each agent: the RP's deposits are the largest sums (see
/// `resource_provider::DEPOSIT`).
pub(super) const FUNDING: u64 = 100_000_000_000;
/// The RP's declared speed, used by the deadline check: far below what wasmtime does, so
/// every job of the simulation passes it.
const INSTRUCTIONS_PER_SEC: u64 = 10_000_000;

pub(super) fn engine(e: agora_exec::ExecError) -> SimError {
    SimError::Unexpected(format!("execution engine: {e}"))
}

/// The market's parameters in a simulation.
pub(super) fn params() -> MarketParams {
    MarketParams {
        penalty_rate: TERMS.penalty_rate,
        verification_count: TERMS.verification_count,
        reaction_window_ms: TERMS.reaction_window_ms,
        mediation_window_ms: TERMS.mediation_window_ms,
        min_match_incentive: TERMS.min_match_incentive,
    }
}

/// The accounts of every role, in the summary's order.
pub(super) struct Roles {
    pub jc: Account,
    pub rp: Account,
    pub mediator: Account,
    pub directory: Account,
    pub solver: Account,
    pub keeper: Account,
}

impl Roles {
    pub fn all(&self) -> [(&'static str, &Account); 6] {
        [
            ("job_creator", &self.jc),
            ("resource_provider", &self.rp),
            ("mediator", &self.mediator),
            ("directory", &self.directory),
            ("solver", &self.solver),
            ("keeper", &self.keeper),
        ]
    }
}

/// Every role's balance and the sink's.
async fn balances(client: &Client, roles: &Roles) -> Result<BTreeMap<&'static str, u64>, SimError> {
    let mut out = BTreeMap::new();
    for (name, account) in roles.all() {
        out.insert(name, client.balance(&account.address()).await?);
    }
    out.insert("sink", client.balance(&agora_compute::sink()).await?);
    Ok(out)
}

/// Registers every role and its trust lists and runtimes on a new market; returns its id.
pub(super) async fn set_up(roles: &Roles, endpoint: String) -> Result<u64, SimError> {
    let receipt = roles
        .keeper
        .execute("create market", ComputeCall::CreateMarket(params()))
        .await?;
    let market = super::event(&receipt, "MarketCreated")?["market"]
        .as_u64()
        .ok_or_else(|| SimError::Unexpected("MarketCreated without an id".into()))?;
    let (m, d, runtime) = (
        roles.mediator.address(),
        roles.directory.address(),
        agora_exec::runtime_id(),
    );
    let trust = |kind, target: Address| ComputeCall::SetTrust {
        market,
        kind,
        target,
        trusted: true,
    };
    let steps: [(&Account, ComputeCall); 11] = [
        (
            &roles.directory,
            ComputeCall::RegisterDirectory {
                market,
                availability_fee: TERMS.directory_fee,
                endpoint,
            },
        ),
        (
            &roles.mediator,
            ComputeCall::RegisterMediator {
                market,
                prices: TERMS.mediator_prices,
                availability_fee: TERMS.mediator_fee,
            },
        ),
        (
            &roles.mediator,
            ComputeCall::SetRuntime {
                market,
                runtime,
                supported: true,
            },
        ),
        (&roles.mediator, trust(TrustKind::Directory, d)),
        (
            &roles.rp,
            ComputeCall::RegisterResourceProvider {
                market,
                instructions_per_sec: INSTRUCTIONS_PER_SEC,
            },
        ),
        (
            &roles.rp,
            ComputeCall::SetRuntime {
                market,
                runtime,
                supported: true,
            },
        ),
        (&roles.rp, trust(TrustKind::Mediator, m)),
        (&roles.rp, trust(TrustKind::Directory, d)),
        (&roles.jc, ComputeCall::RegisterJobCreator { market }),
        (&roles.jc, trust(TrustKind::Mediator, m)),
        (&roles.jc, trust(TrustKind::Directory, d)),
    ];
    for (account, call) in steps {
        account.execute("set-up", call).await?;
    }
    Ok(market)
}

/// Plays `cfg.jobs` jobs on the chain behind `client`, `faucet` funding every agent;
/// `progress` gets the number of jobs closed so far.
pub async fn run(
    client: &Client,
    faucet: &Keypair,
    cfg: ComputeSimConfig,
    progress: impl Fn(usize),
) -> Result<ComputeSimSummary, SimError> {
    let account = |_| Account::new(Keypair::generate(&mut OsRng), client.clone());
    let roles = Roles {
        jc: account(0),
        rp: account(1),
        mediator: account(2),
        directory: account(3),
        solver: account(4),
        keeper: account(5),
    };
    let funding = roles
        .all()
        .iter()
        .map(|(_, a)| {
            BankCall::Transfer {
                to: a.address(),
                amount: FUNDING,
            }
            .into_call()
        })
        .collect();
    execute_all(client, faucet, funding, "agent funding").await?;
    let directory = directory_operator::start(&roles.directory.key).await?;
    let market = set_up(&roles, directory.endpoint.clone()).await?;
    // Nets count from here: set-up fees are not the market's.
    for (_, a) in roles.all() {
        *a.stats.lock().unwrap_or_else(|e| e.into_inner()) = Default::default();
    }
    let before = balances(client, &roles).await?;
    let started = Instant::now();

    let stop = Stop::default();
    let observed = Arc::new(Observed::default());
    // Every agent reaches the directory at the endpoint registered on the chain.
    let dir = directory_client(client, market, &roles.directory.address()).await?;
    let rp = ResourceProvider {
        account: roles.rp.clone(),
        market,
        dir: dir.clone(),
        exec: Executor::new().map_err(engine)?,
        rng: rng(cfg.seed, 1),
        cheat_rate: cfg.rp_cheat_rate,
        silent_rate: cfg.rp_silent_rate,
        observed: observed.clone(),
    };
    let mediator = MediatorAgent {
        account: roles.mediator.clone(),
        market,
        dir: dir.clone(),
        exec: Executor::new().map_err(engine)?,
        runs: TERMS.verification_count,
        observed: observed.clone(),
    };
    let mut jc = JobCreator {
        account: roles.jc.clone(),
        market,
        directory: roles.directory.address(),
        dir,
        exec: Executor::new().map_err(engine)?,
        rng: rng(cfg.seed, 0),
        verify_rate: cfg.jc_verify_rate,
        completion_window_ms: cfg.completion_window_ms,
        seed: cfg.seed,
        observed: observed.clone(),
    };
    let rp_task = tokio::spawn(rp.run(stop.clone()));
    let mediator_task = tokio::spawn(mediator.run(stop.clone()));
    let solver_task = tokio::spawn(run_solver(roles.solver.clone(), market, stop.clone()));
    let keeper_task = tokio::spawn(run_keeper(roles.keeper.clone(), market, stop.clone()));
    let operator_task = tokio::spawn(run_operator(
        client.clone(),
        market,
        params(),
        directory.store.clone(),
        stop.clone(),
    ));

    let mut records = Vec::with_capacity(cfg.jobs);
    let mut failure = None;
    for i in 0..cfg.jobs {
        match jc.run_job(i).await {
            Ok(record) => records.push(record),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        progress(i + 1);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let join = |e: tokio::task::JoinError| SimError::Unexpected(e.to_string());
    rp_task.await.map_err(join)??;
    mediator_task.await.map_err(join)??;
    solver_task.await.map_err(join)??;
    keeper_task.await.map_err(join)??;
    let blobs_swept = operator_task.await.map_err(join)??;
    if let Some(e) = failure {
        return Err(e);
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;

    let after = balances(client, &roles).await?;
    let totals = client
        .operator_query("bank", "conservation", serde_json::Value::Null)
        .await?;
    let mut role_nets = BTreeMap::new();
    let mut all_calls = Vec::new();
    for (name, a) in roles.all() {
        let stats = a.stats();
        all_calls.extend(stats.latencies_ms.iter().copied());
        role_nets.insert(
            name.to_string(),
            RoleNet {
                net_change: after[name] as i64 - before[name] as i64,
                fees: stats.fees,
                transactions: stats.sent,
                failed_transactions: stats.failed,
            },
        );
    }
    role_nets.insert(
        "sink".into(),
        RoleNet {
            net_change: after["sink"] as i64 - before["sink"] as i64,
            ..RoleNet::default()
        },
    );
    let timed: Vec<&super::JobRecord> = records
        .iter()
        .filter(|r| {
            !matches!(
                r.outcome,
                Some(
                    agora_compute::Outcome::ResultTimedOut
                        | agora_compute::Outcome::MediationTimedOut
                ) | None
            )
        })
        .collect();
    let mut summary = ComputeSimSummary {
        market,
        jobs: cfg.jobs,
        completed: 0,
        accepted: 0,
        mediated: 0,
        rp_faulted: 0,
        jc_faulted: 0,
        directory_faulted: 0,
        timeouts: 0,
        forged: 0,
        verified: 0,
        supply_conserved: totals["conserved"].as_bool() == Some(true),
        supply: totals["supply"].as_u64().unwrap_or(0),
        added_latency_ms: Latency::of(
            &timed.iter().map(|r| r.added_latency_ms).collect::<Vec<_>>(),
        ),
        call_latency_ms: Latency::of(&all_calls),
        rp_exec_ms: Latency::of(&timed.iter().map(|r| r.rp_exec_ms).collect::<Vec<_>>()),
        net_change: role_nets
            .iter()
            .map(|(k, v)| (k.clone(), v.net_change))
            .collect(),
        roles: role_nets,
        blobs_swept,
        elapsed_ms,
        terms: TERMS,
        job_records: records,
    };
    summary.count();
    drop(directory);
    Ok(summary)
}
