//! The solver daemon of every hybrid market (spec 7.3, "solver-daemon loop"): it polls the
//! market, solves the open problem off the ledger on a blocking thread, checks the answer with
//! the module's own verify, submits it only if it beats the candidate, and waits for the
//! ledger's verdict. Any number run, each with its own key, and the ledger keeps the best
//! (requirement R3); one may be told to stop at a round (R2, `fail_at_round`) or to lie
//! (`byzantine`): a liar submits only solutions the ledger must refuse, and records whether it
//! refused each with the expected reason.
//!
//! A market plugs in with [`SolverMarket`]: how to read its status, solve and check its
//! instance, and turn a solution into calls. Everything else (pacing, stats, failure and lie
//! injection) is here once.

use crate::energy::SimError;
use agora_client::Client;
use agora_types::{Call, Keypair, TxStatus};
use serde::{de::DeserializeOwned, Serialize};
use std::{
    collections::BTreeSet,
    fmt::Debug,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// What a market's `market` query says a solver should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<S> {
    /// Nothing more to solve: the daemon exits.
    Done,
    /// Not solvable now (e.g. offers still arriving); `round` counts for `fail_at_round`.
    Wait { round: u64 },
    /// Solve round `round`; a solution must beat `candidate` to be worth submitting.
    Solve { round: u64, candidate: S },
}

/// A solver's answer with what it cost.
pub struct Solved<Sol, S> {
    pub solution: Sol,
    /// The score the ledger will compute.
    pub score: S,
    /// Items (trades, assignments) in the solution.
    pub items: usize,
    pub solve_ms: f64,
    /// The LP's size (memory grows with it).
    pub variables: usize,
    pub rows: usize,
    /// The LP relaxation's optimum, an upper bound on the score (none without an LP).
    pub bound: Option<f64>,
}

/// A solution the ledger must refuse, and the reason code it must give.
pub struct Lie {
    /// Which lie: a daemon tells each at most once per round.
    pub what: &'static str,
    pub expect: &'static str,
    pub calls: Vec<Call>,
}

/// A market's side of the solver daemon.
pub trait SolverMarket: Send + Sync + 'static {
    /// The ledger module the market lives in.
    const MODULE: &'static str;
    /// The answer of the module's `market` query.
    type Market: DeserializeOwned + Send;
    /// The answer of its `open_problem` query: the solver's input.
    type Instance: DeserializeOwned + Send + 'static;
    type Solution: Send + 'static;
    type Score: Ord + Copy + Debug + Serialize + Send + 'static;

    fn status(&self, market: &Self::Market) -> Status<Self::Score>;
    /// Solves `instance` (on a blocking thread).
    fn solve(
        &self,
        instance: &Self::Instance,
    ) -> Result<Solved<Self::Solution, Self::Score>, String>;
    /// Runs the module's own verify on `solution` as a validator would: its time (ms).
    fn check(&self, instance: &Self::Instance, solution: &Self::Solution) -> Result<f64, String>;
    /// The calls that carry `solution` (one, or a staged solution's parts in order).
    fn calls(&self, market: u64, solution: Self::Solution) -> Vec<Call>;
    /// The lies a Byzantine daemon can tell now; none by default.
    fn lies(
        &self,
        _client: &Client,
        _market: u64,
        _instance: &Self::Instance,
    ) -> impl Future<Output = Result<Vec<Lie>, SimError>> + Send {
        async { Ok(Vec::new()) }
    }
}

#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Pause between polls.
    pub period: Duration,
    /// The daemon stops once the market reaches this round.
    pub fail_at_round: Option<u64>,
    /// Submit only lies (see [`SolverMarket::lies`]).
    pub byzantine: bool,
    /// Names the daemon in the records.
    pub label: String,
}

/// One solution the ledger judged.
#[derive(Clone, Debug, Serialize)]
pub struct SolutionRecord {
    pub round: u64,
    pub solver: String,
    /// The score as the solver computed it (null for a lie).
    pub score: serde_json::Value,
    /// For a lie: which one.
    pub lie: Option<String>,
    /// The solver's LP bound and solve time (ms); none and 0 for a lie.
    pub bound: Option<f64>,
    pub solve_ms: f64,
    /// Block that executed it (0 if no receipt came).
    pub height: u64,
    pub accepted: bool,
    /// The ledger's reason code when refused.
    pub reason: Option<String>,
    /// For a lie: the reason code the ledger had to give.
    pub expected: Option<String>,
}

/// What the daemons did, shared by all of them.
#[derive(Default)]
pub struct SolverStats(Mutex<Tally>);

#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Read the problem, solve, submit, until the ledger's receipt: per accepted solution (ms).
    pub rounds_ms: Vec<f64>,
    /// Every solve (ms), and the module's verify of every posted solution (largest, ms).
    pub solves_ms: Vec<f64>,
    pub verify_max_ms: f64,
    /// The largest LP: its variables and rows.
    pub max_variables: usize,
    pub max_rows: usize,
    /// The largest solution posted: items, signed bytes (all parts), transactions.
    pub largest_items: usize,
    pub largest_bytes: usize,
    pub largest_parts: usize,
    /// Solutions the node would not take (e.g. beyond the transaction size limit).
    pub unsendable: u64,
    /// Every solution the ledger judged, in the order the verdicts came.
    pub log: Vec<SolutionRecord>,
}

impl SolverStats {
    fn update(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn take(&self) -> Tally {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A market's query `path` with `{"market": market}`, parsed.
pub(crate) async fn query<T: DeserializeOwned>(
    client: &Client,
    module: &str,
    path: &str,
    market: u64,
) -> Result<T, SimError> {
    let value = client
        .query(module, path, serde_json::json!({"market": market}))
        .await?;
    serde_json::from_value(value).map_err(|e| SimError::Unexpected(format!("{path}: {e}")))
}

/// Runs one daemon until the market is done (or the daemon fails as configured), then waits
/// for the verdicts on what it submitted.
pub async fn run<H: SolverMarket>(
    client: Client,
    key: Keypair,
    market: u64,
    h: Arc<H>,
    cfg: DaemonConfig,
    stats: Arc<SolverStats>,
) -> Result<(), SimError> {
    let mut verdicts = Vec::new();
    let result = solve_rounds(&client, &key, market, &h, &cfg, &stats, &mut verdicts).await;
    for v in verdicts {
        v.await.map_err(|e| SimError::Unexpected(e.to_string()))?;
    }
    result
}

async fn solve_rounds<H: SolverMarket>(
    client: &Client,
    key: &Keypair,
    market: u64,
    h: &Arc<H>,
    cfg: &DaemonConfig,
    stats: &Arc<SolverStats>,
    verdicts: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<(), SimError> {
    // Lies told, per round.
    let mut told: BTreeSet<(u64, &'static str)> = BTreeSet::new();
    loop {
        let started = Instant::now();
        let status = h.status(&query::<H::Market>(client, H::MODULE, "market", market).await?);
        let (round, candidate) = match status {
            Status::Done => return Ok(()),
            Status::Wait { round } => (round, None),
            Status::Solve { round, candidate } => (round, Some(candidate)),
        };
        if cfg.fail_at_round.is_some_and(|at| round >= at) {
            warn!(round, solver = %cfg.label, "solver fails as configured");
            return Ok(());
        }
        let Some(candidate) = candidate else {
            tokio::time::sleep(cfg.period).await;
            continue;
        };
        let instance: H::Instance = query(client, H::MODULE, "open_problem", market).await?;
        if cfg.byzantine {
            for lie in h.lies(client, market, &instance).await? {
                if told.insert((round, lie.what)) {
                    tell(client, key, round, lie, &cfg.label, stats).await?;
                }
            }
            tokio::time::sleep(cfg.period).await;
            continue;
        }
        let solver = h.clone();
        let solved = tokio::task::spawn_blocking(move || {
            let solved = solver.solve(&instance)?;
            let verify =
                (solved.score > candidate).then(|| solver.check(&instance, &solved.solution));
            Ok::<_, String>((solved, verify))
        })
        .await
        .map_err(|e| SimError::Unexpected(e.to_string()))?;
        let (solved, verify) = match solved {
            Ok(s) => s,
            Err(e) => {
                warn!(%e, solver = %cfg.label, "solver failed this round");
                tokio::time::sleep(cfg.period).await;
                continue;
            }
        };
        stats.update(|s| {
            s.solves_ms.push(solved.solve_ms);
            s.max_variables = s.max_variables.max(solved.variables);
            s.max_rows = s.max_rows.max(solved.rows);
        });
        let Some(verify) = verify else {
            tokio::time::sleep(cfg.period).await;
            continue;
        };
        // The ledger has the last word; a disagreement is logged, not fatal.
        let verify_ms = verify.unwrap_or_else(|v| {
            warn!(%v, solver = %cfg.label, "the module's verify refuses this solution");
            0.0
        });
        let (items, score, bound, solve_ms) =
            (solved.items, solved.score, solved.bound, solved.solve_ms);
        let mut sent = Vec::new();
        for call in h.calls(market, solved.solution) {
            match client.send(key, call).await {
                Ok(tx) => sent.push(tx),
                Err(e) => {
                    warn!(%e, items, "the node did not take the solution");
                    sent.clear();
                    break;
                }
            }
        }
        let Some(tx) = sent.last().cloned() else {
            stats.update(|s| {
                s.unsendable += 1;
                s.largest_items = s.largest_items.max(items);
            });
            tokio::time::sleep(cfg.period).await;
            continue;
        };
        let bytes: usize = sent.iter().map(|tx| tx.size()).sum();
        stats.update(|s| {
            s.submitted += 1;
            s.verify_max_ms = s.verify_max_ms.max(verify_ms);
            s.largest_parts = s.largest_parts.max(sent.len());
            if bytes > s.largest_bytes {
                s.largest_bytes = bytes;
                s.largest_items = items;
            }
        });
        let (client2, stats2, label) = (client.clone(), stats.clone(), cfg.label.clone());
        verdicts.push(tokio::spawn(async move {
            let receipt = client2
                .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
                .await;
            let mut record = SolutionRecord {
                round,
                solver: label,
                score: serde_json::to_value(score).unwrap_or_default(),
                lie: None,
                bound,
                solve_ms,
                height: 0,
                accepted: false,
                reason: None,
                expected: None,
            };
            stats2.update(|s| {
                match receipt {
                    Ok(r) if r.status == TxStatus::Success => {
                        s.rounds_ms.push(started.elapsed().as_secs_f64() * 1e3);
                        s.accepted += 1;
                        record.accepted = true;
                        record.height = r.height;
                    }
                    Ok(r) => {
                        debug!(reason = ?r.reason, "solution refused");
                        s.rejected += 1;
                        record.height = r.height;
                        record.reason = r.reason;
                    }
                    Err(_) => s.rejected += 1,
                }
                s.log.push(record);
            });
        }));
        tokio::time::sleep(cfg.period).await;
    }
}

/// Submits one lie and records the ledger's verdict.
async fn tell(
    client: &Client,
    key: &Keypair,
    round: u64,
    lie: Lie,
    label: &str,
    stats: &SolverStats,
) -> Result<(), SimError> {
    let mut last = None;
    for call in lie.calls {
        last = Some(client.send(key, call).await?);
    }
    let Some(tx) = last else {
        return Ok(());
    };
    stats.update(|s| s.submitted += 1);
    let receipt = client
        .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
        .await?;
    let accepted = receipt.status == TxStatus::Success;
    if accepted {
        warn!(what = lie.what, "the ledger accepted a lie");
    }
    stats.update(|s| {
        if accepted {
            s.accepted += 1;
        } else {
            s.rejected += 1;
        }
        s.log.push(SolutionRecord {
            round,
            solver: label.to_string(),
            score: serde_json::Value::Null,
            lie: Some(lie.what.to_string()),
            bound: None,
            solve_ms: 0.0,
            height: receipt.height,
            accepted,
            reason: receipt.reason,
            expected: Some(lie.expect.to_string()),
        });
    });
    Ok(())
}
