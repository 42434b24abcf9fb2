//! The solver daemon of every hybrid market (spec 7.3, "solver-daemon loop"): it polls the
//! market, solves the open problem off the ledger on a blocking thread, checks the answer with
//! the module's own verify, submits it only if it beats the candidate, and waits for the
//! ledger's verdict. Any number run, each with its own key, and the ledger keeps the best
//! (requirement R3); one may be told to stop at a round (R2, `fail_at_round`) or to lie
//! (`byzantine`): a liar submits only solutions the ledger must refuse, and records whether it
//! refused each with the expected reason.
//!
//! A market plugs in with [`SolverMarket`]: how to read its status, solve and check its
//! instance, and turn a solution into its calls ([`Plan`]: whole, or staged in parts). Everything
//! else (pacing, sending parts pipelined, stats, failure and lie injection) is here once. A
//! staged solution is sent alone: only once the verdicts on what the daemon has in flight are
//! in, and only if it still beats the candidate, so it is never interleaved with another nor
//! sent twice; whole solutions go as soon as they are solved (a tight energy interval needs
//! them to).

mod pipeline;

pub use pipeline::{send, InFlight, Parts, Plan, Refusal, Verdict, IN_FLIGHT, NOT_CANDIDATE};

use crate::energy::SimError;
use agora_client::Client;
use agora_types::{Call, Keypair};
use serde::{de::DeserializeOwned, Serialize};
use std::{
    collections::BTreeSet,
    fmt::Debug,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tracing::warn;

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
    /// The calls that carry `solution`: one, or a staged solution's parts in order; an error
    /// if it cannot be carried (e.g. more parts than the market takes).
    fn plan(&self, market: u64, solution: Self::Solution) -> Result<Plan, String>;
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
    /// Block that executed its last call (0 if no receipt came).
    pub height: u64,
    /// Transactions it took (1: whole; more: staged in parts).
    pub transactions: usize,
    pub accepted: bool,
    /// The ledger's reason code when refused.
    pub reason: Option<String>,
    /// For a staged solution refused part-way: the first call refused (0: the first).
    pub refused_at: Option<usize>,
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

    /// What the daemons did so far.
    pub fn snapshot(&self) -> Tally {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts the ledger's verdict on one solution and logs it as `record` completed.
    fn judged(&self, module: &str, verdict: &Verdict, mut record: SolutionRecord, round_ms: f64) {
        record.accepted = verdict.accepted(module);
        record.reason = verdict.reason(module);
        record.refused_at = verdict
            .refused
            .as_ref()
            .filter(|_| verdict.sent > 1)
            .map(|r| r.index);
        record.height = verdict.height();
        record.transactions = verdict.sent;
        self.update(|s| {
            s.submitted += 1;
            s.largest_parts = s.largest_parts.max(verdict.sent);
            if record.accepted {
                s.accepted += 1;
                if record.lie.is_none() {
                    s.rounds_ms.push(round_ms);
                }
            } else {
                s.rejected += 1;
            }
            s.log.push(record);
        });
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
/// for the verdict on what it submitted last.
pub async fn run<H: SolverMarket>(
    client: Client,
    key: Keypair,
    market: u64,
    h: Arc<H>,
    cfg: DaemonConfig,
    stats: Arc<SolverStats>,
) -> Result<(), SimError> {
    let mut verdicts = Verdicts::default();
    let result = solve_rounds(&client, &key, market, &h, &cfg, &stats, &mut verdicts).await;
    verdicts.wait().await?;
    result
}

/// The daemon's solutions whose verdicts are still to come.
#[derive(Default)]
struct Verdicts {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// One of them is staged.
    staged: bool,
}

impl Verdicts {
    /// Adds a verdict to come, forgetting those that came (a daemon may run without end).
    fn push(&mut self, task: tokio::task::JoinHandle<()>, staged: bool) {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(task);
        self.staged |= staged;
    }

    /// Waits for every verdict; true if there was one to wait for.
    async fn wait(&mut self) -> Result<bool, SimError> {
        let waited = !self.tasks.is_empty();
        for t in self.tasks.drain(..) {
            t.await.map_err(|e| SimError::Unexpected(e.to_string()))?;
        }
        self.staged = false;
        Ok(waited)
    }
}

async fn solve_rounds<H: SolverMarket>(
    client: &Client,
    key: &Keypair,
    market: u64,
    h: &Arc<H>,
    cfg: &DaemonConfig,
    stats: &Arc<SolverStats>,
    verdicts: &mut Verdicts,
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
                    tell(client, key, H::MODULE, round, lie, &cfg.label, stats).await?;
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
        let items = solved.items;
        let record = SolutionRecord {
            round,
            solver: cfg.label.clone(),
            score: serde_json::to_value(solved.score).unwrap_or_default(),
            lie: None,
            bound: solved.bound,
            solve_ms: solved.solve_ms,
            height: 0,
            transactions: 0,
            accepted: false,
            reason: None,
            refused_at: None,
            expected: None,
        };
        let plan = match h.plan(market, solved.solution) {
            Ok(plan) => plan,
            Err(e) => {
                warn!(%e, items, solver = %cfg.label, "the solution cannot be sent");
                stats.update(|s| {
                    s.unsendable += 1;
                    s.largest_items = s.largest_items.max(items);
                });
                tokio::time::sleep(cfg.period).await;
                continue;
            }
        };
        // A staged solution is sent alone: after the verdicts on what is in flight, and only
        // if it still beats the candidate of its round (whole ones go at once, as before).
        let staged = plan.staged();
        if (staged || verdicts.staged) && verdicts.wait().await? {
            let now = h.status(&query::<H::Market>(client, H::MODULE, "market", market).await?);
            if !matches!(now, Status::Solve { round: r, candidate: c } if r == round && solved.score > c)
            {
                tokio::time::sleep(cfg.period).await;
                continue;
            }
        }
        let flight = send(client, key, plan, IN_FLIGHT).await?;
        stats.update(|s| s.verify_max_ms = s.verify_max_ms.max(verify_ms));
        let stats = stats.clone();
        let verdict = tokio::spawn(async move {
            let verdict = flight.verdict().await;
            if verdict.sent == 0 {
                stats.update(|s| {
                    s.unsendable += 1;
                    s.largest_items = s.largest_items.max(items);
                });
                return;
            }
            stats.update(|s| {
                if verdict.bytes > s.largest_bytes {
                    s.largest_bytes = verdict.bytes;
                    s.largest_items = items;
                }
            });
            let round_ms = started.elapsed().as_secs_f64() * 1e3;
            stats.judged(H::MODULE, &verdict, record, round_ms);
        });
        verdicts.push(verdict, staged);
        tokio::time::sleep(cfg.period).await;
    }
}

/// Submits one lie and records the ledger's verdict.
async fn tell(
    client: &Client,
    key: &Keypair,
    module: &str,
    round: u64,
    lie: Lie,
    label: &str,
    stats: &SolverStats,
) -> Result<(), SimError> {
    let verdict = send(client, key, Plan::Calls(lie.calls), IN_FLIGHT)
        .await?
        .verdict()
        .await;
    if verdict.sent == 0 {
        return Ok(());
    }
    let record = SolutionRecord {
        round,
        solver: label.to_string(),
        score: serde_json::Value::Null,
        lie: Some(lie.what.to_string()),
        bound: None,
        solve_ms: 0.0,
        height: 0,
        transactions: 0,
        accepted: false,
        reason: None,
        refused_at: None,
        expected: Some(lie.expect.to_string()),
    };
    if verdict.refused.is_none() {
        warn!(what = lie.what, "the ledger accepted a lie");
    }
    stats.judged(module, &verdict, record, 0.0);
    Ok(())
}
