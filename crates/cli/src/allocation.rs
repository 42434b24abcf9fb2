//! `agora solve allocation` and `agora bench allocation`: the SolidWorx solver on one instance,
//! and the whole solver round trip (open problem, solve, verify, submit, finalize) on a fresh
//! local chain.

use crate::{devnet::RunningDevnet, output::Output};
use agora_allocation::{
    AllocationCall, Alternative, MarketParams, Objective, PairRule, Score, Side,
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_node::devnet::Devnet;
use agora_sim::{allocation::PART_ITEMS, daemon};
use agora_solver::allocation::{
    solve as solve_instance, AllocationInstance, AllocationSolution, AllocationSolveOptions,
    Checker, Formulation,
};
use agora_types::{Call, Keypair, Receipt, SignedTransaction, Transaction, TxStatus};
use anyhow::{bail, ensure, Context, Result};
use clap::{builder::PossibleValuesParser, builder::TypedValueParser, Args};
use futures::{stream, StreamExt};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

fn formulation() -> impl TypedValueParser<Value = Formulation> {
    PossibleValuesParser::new(["auto", "pairwise", "compact"]).map(|s| match s.as_str() {
        "pairwise" => Formulation::Pairwise,
        "compact" => Formulation::Compact,
        _ => Formulation::Auto,
    })
}

#[derive(Args)]
pub struct SolveArgs {
    /// The instance: JSON as the `open_problem` query answers it (docs/allocation.md, "Input
    /// schema").
    #[arg(long)]
    input: PathBuf,
    /// The model: compact unless a pair rule is set or there are fewer than 50,000 compatible
    /// triples (auto), or one of them.
    #[arg(long, default_value = "auto", value_parser = formulation())]
    formulation: Formulation,
    /// Time limit of each HiGHS run, seconds.
    #[arg(long, default_value_t = 30.0)]
    time_limit_s: f64,
}

fn options(formulation: Formulation, time_limit_s: f64) -> Result<AllocationSolveOptions> {
    let time_limit = Duration::try_from_secs_f64(time_limit_s)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--time-limit-s must be a positive number of seconds")?;
    Ok(AllocationSolveOptions {
        formulation,
        time_limit,
        ..Default::default()
    })
}

/// One line per solution, then one per assignment.
fn describe(s: &AllocationSolution) -> String {
    let mut text = format!(
        "{} assignments, score {} (quantity {}), LP bound {:.3} (gap {:.3}), integral by {:?}, {:?} model of {} variables and {} rows, {:.1} ms",
        s.assignments.len(),
        s.score.primary,
        s.score.quantity,
        s.lp_objective,
        s.lp_objective - s.score.primary as f64,
        s.integrality,
        s.formulation,
        s.variables,
        s.rows,
        s.solve_ms
    );
    for a in &s.assignments {
        text += &format!(
            "\noffer {} -> offer {}: {} of type {} at {}",
            a.provider, a.consumer, a.quantity, a.rtype, a.price
        );
    }
    text
}

pub fn solve(args: SolveArgs, out: &Output) -> Result<()> {
    let options = options(args.formulation, args.time_limit_s)?;
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let instance: AllocationInstance = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an allocation instance (see docs/allocation.md, \"Input schema\")",
            args.input.display()
        )
    })?;
    let solution = solve_instance(&instance, &options)
        .with_context(|| format!("cannot solve {}", args.input.display()))?;
    out.print(&solution, || describe(&solution))
}

#[derive(Args)]
pub struct BenchArgs {
    /// Offers in the cycle, half providing, half consuming.
    #[arg(long, default_value_t = 10_000)]
    offers: usize,
    /// Resource types the offers draw their alternatives from.
    #[arg(long, default_value_t = 1_000)]
    types: u64,
    /// Alternatives per offer (distinct types, one quantity per offer).
    #[arg(long, default_value_t = 4)]
    types_per_offer: usize,
    /// Values drawn from 10..=10+N (0: uniform prices, where every LP vertex is integral).
    #[arg(long, default_value_t = 0)]
    price_spread: u64,
    /// Seed of the random offers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Serialize)]
struct BenchReport {
    offers: usize,
    types: u64,
    types_per_offer: usize,
    price_spread: u64,
    /// `PlaceOffer` transactions from submission to the last receipt.
    offers_per_second: f64,
    open_problem_ms: f64,
    open_problem_bytes: usize,
    formulation: Formulation,
    variables: usize,
    rows: usize,
    integrality: agora_solver::lp::Integrality,
    lp_objective: f64,
    score: Score,
    assignments: usize,
    solve_ms: f64,
    /// The module's pure verify of the whole solution (median of 5).
    verify_ms: f64,
    /// 1: `SubmitSolution`; more: `CreateSolution` and that many `AddAssignments` minus one,
    /// sent as the solver daemon sends them (`daemon::IN_FLIGHT` awaiting execution at once).
    solution_transactions: usize,
    /// First solution transaction submitted to the last one's receipt.
    submit_to_receipt_ms: f64,
    finalize_submit_to_receipt_ms: f64,
    /// Block execution time on the node while `Finalize` was in flight (its block and any
    /// empty one around it): an upper bound on executing `Finalize`.
    finalize_execution_ms: f64,
    finalized_score: Score,
}

/// Senders of the offers (each sends offers/SENDERS in nonce order).
const SENDERS: u64 = 32;
/// Transactions of one sender in flight at once: below the node's default limit of 16 waiting
/// on a nonce gap.
const ONE_SENDER: usize = 8;

pub fn bench(args: BenchArgs, out: &Output) -> Result<()> {
    ensure!(args.offers >= 2, "--offers must be at least 2");
    ensure!(
        (1..=1_024).contains(&args.types_per_offer) && args.types_per_offer as u64 <= args.types,
        "--types-per-offer must be 1 to 1,024 and at most --types"
    );
    let report = crate::runtime()?.block_on(run_bench(&args))?;
    out.print(&report, || {
        format!(
            "{} offers ({} alternatives each, {} types): placed at {:.0} offers/s; open problem {:.1} ms ({} bytes); solve {:.1} ms ({:?}, {} variables, {} rows, integral by {:?}): score {} of LP bound {:.1}, {} assignments; verify {:.2} ms; submit to receipt {:.0} ms ({} transactions); finalize submit to receipt {:.0} ms, execution <= {:.1} ms",
            report.offers,
            report.types_per_offer,
            report.types,
            report.offers_per_second,
            report.open_problem_ms,
            report.open_problem_bytes,
            report.solve_ms,
            report.formulation,
            report.variables,
            report.rows,
            report.integrality,
            report.score.primary,
            report.lp_objective,
            report.assignments,
            report.verify_ms,
            report.submit_to_receipt_ms,
            report.solution_transactions,
            report.finalize_submit_to_receipt_ms,
            report.finalize_execution_ms
        )
    })
}

/// Random offers: even ones provide, odd ones consume; distinct types; one quantity per offer.
fn random_offers(args: &BenchArgs, market: u64) -> Vec<AllocationCall> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    (0..args.offers)
        .map(|i| {
            let quantity = rng.gen_range(1..=10);
            let mut types: Vec<u64> =
                rand::seq::index::sample(&mut rng, args.types as usize, args.types_per_offer)
                    .into_iter()
                    .map(|t| t as u64)
                    .collect();
            types.sort_unstable();
            AllocationCall::PlaceOffer {
                market,
                side: if i % 2 == 0 {
                    Side::Provide
                } else {
                    Side::Consume
                },
                misc: i as u64,
                alternatives: types
                    .into_iter()
                    .map(|rtype| Alternative {
                        rtype,
                        quantity,
                        value: 10 + rng.gen_range(0..=args.price_spread),
                    })
                    .collect(),
            }
        })
        .collect()
}

struct Chain {
    client: Client,
    chain_id: String,
    url: String,
}

impl Chain {
    fn sign(&self, key: &Keypair, nonce: u64, call: Call) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id.clone(),
            sender: key.address(),
            nonce,
            call,
        }
        .sign(key)
    }

    /// Submits `txs` in order, `in_flight` at a time, and waits for every receipt; all must
    /// succeed. Requests in flight may arrive in any order, and the node keeps only a few of a
    /// sender's transactions waiting on a nonce gap: one sender's list goes [`ONE_SENDER`] at
    /// a time, and a round-robin list of the offer senders one per sender.
    async fn run_all(&self, txs: &[SignedTransaction], in_flight: usize) -> Result<Vec<Receipt>> {
        stream::iter(txs)
            .map(|tx| self.client.submit(tx))
            .buffered(in_flight)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut receipts = Vec::with_capacity(txs.len());
        for tx in txs {
            let receipt = self
                .client
                .wait_for_receipt(&tx.hash(), Duration::from_secs(300))
                .await?;
            if receipt.status != TxStatus::Success {
                bail!(
                    "a {} transaction failed: {} {}",
                    receipt.module,
                    receipt.reason.unwrap_or_default(),
                    receipt.message.unwrap_or_default()
                );
            }
            receipts.push(receipt);
        }
        Ok(receipts)
    }

    /// Seconds the node has spent executing blocks (its `/metrics`).
    async fn execution_seconds(&self) -> Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix("agora_block_execution_seconds_sum "))
            .and_then(|v| v.trim().parse().ok())
            .context("the node's metrics have no block execution time")
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

async fn run_bench(args: &BenchArgs) -> Result<BenchReport> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let running =
        RunningDevnet::start(dir.path(), Some(1), crate::devnet::free_base_port(1)?).await?;
    let url = running.devnet.rpc_urls()[0].clone();
    let chain = Chain {
        client: Client::new(&url)?,
        chain_id: running.devnet.genesis.chain_id.clone(),
        url,
    };
    let faucet = Keypair::read(&Devnet::faucet_key_path(dir.path()))?;
    let mut nonce = chain.client.next_nonce(&faucet.address()).await?;
    let mut faucet_tx = |call: Call| {
        nonce += 1;
        chain.sign(&faucet, nonce - 1, call)
    };

    // A market whose phases are due at once: the bench, not the clock, decides when to move on.
    let market = 0;
    let params = MarketParams {
        receive_ms: 1,
        solve_ms: 1,
        max_quantity: 10,
        max_types_per_offer: args.types_per_offer as u32,
        objective: Objective::Quantity,
        default_bound: None,
        price_bounds: vec![],
        pairs: PairRule::Any,
        settle: false,
        max_offers_per_cycle: u32::try_from(args.offers).context("too many offers")?,
        max_solutions_per_cycle: 16,
    };
    let senders: Vec<Keypair> = (0..SENDERS)
        .map(|i| Keypair::from_seed(3_000 + i))
        .collect();
    let solver = Keypair::from_seed(2_999);
    let mut setup = vec![faucet_tx(AllocationCall::CreateMarket(params).into_call())];
    for k in senders.iter().chain([&solver]) {
        setup.push(faucet_tx(
            BankCall::Transfer {
                to: k.address(),
                amount: 1_000_000_000,
            }
            .into_call(),
        ));
    }
    chain.run_all(&setup, ONE_SENDER).await?;

    let offers: Vec<SignedTransaction> = random_offers(args, market)
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let s = i as u64 % SENDERS;
            chain.sign(&senders[s as usize], i as u64 / SENDERS, call.into_call())
        })
        .collect();
    let start = Instant::now();
    chain.run_all(&offers, SENDERS as usize).await?;
    let offers_per_second = args.offers as f64 / start.elapsed().as_secs_f64();
    chain
        .run_all(
            &[faucet_tx(AllocationCall::Close { market }.into_call())],
            1,
        )
        .await?;

    let start = Instant::now();
    let problem = chain
        .client
        .query(
            "allocation",
            "open_problem",
            serde_json::json!({ "market": market }),
        )
        .await?;
    let open_problem_ms = ms(start);
    let open_problem_bytes = problem.to_string().len();
    let instance: AllocationInstance =
        serde_json::from_value(problem).context("the open problem is not an instance")?;
    ensure!(
        instance.offers.len() == args.offers,
        "the open problem lists {} offers, not {}",
        instance.offers.len(),
        args.offers
    );
    let solved = instance.clone();
    let solution = tokio::task::spawn_blocking(move || {
        solve_instance(&solved, &AllocationSolveOptions::default())
    })
    .await??;
    let checker = Checker::new(&instance)?;
    let mut verify_ms = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let score = checker.check(&solution.assignments)?;
        verify_ms.push(ms(start));
        ensure!(score == solution.score, "verify disagrees with the solver");
    }
    verify_ms.sort_by(f64::total_cmp);

    // The solver daemon's own path: one `SubmitSolution`, or a staged solution's parts
    // pipelined (the empty allocation is already the candidate, and refused as a solution).
    let (solution_transactions, submit_to_receipt_ms) = if solution.assignments.is_empty() {
        (0, 0.0)
    } else {
        let plan = agora_sim::allocation::plan(market, solution.assignments.clone(), PART_ITEMS)
            .map_err(anyhow::Error::msg)?;
        let verdict = daemon::send(&chain.client, &solver, plan, daemon::IN_FLIGHT)
            .await?
            .verdict()
            .await;
        if let Some(reason) = verdict.reason(agora_allocation::NAME) {
            bail!("the solution was refused: {reason} ({:?})", verdict.refused);
        }
        (verdict.sent, verdict.submit_ms)
    };

    let finalize = faucet_tx(AllocationCall::Finalize { market }.into_call());
    let executed = chain.execution_seconds().await?;
    let start = Instant::now();
    chain.run_all(&[finalize], 1).await?;
    let finalize_submit_to_receipt_ms = ms(start);
    let finalize_execution_ms = (chain.execution_seconds().await? - executed) * 1e3;
    let finalized = chain
        .client
        .query(
            "allocation",
            "finalized",
            serde_json::json!({ "market": market, "cycle": 0 }),
        )
        .await?;
    let finalized_score: Score = serde_json::from_value(finalized["record"]["score"].clone())
        .context("the finalized record has no score")?;
    ensure!(
        finalized_score == solution.score,
        "the chain finalized {finalized_score:?}, not the solution's {:?}",
        solution.score
    );
    drop(running);
    Ok(BenchReport {
        offers: args.offers,
        types: args.types,
        types_per_offer: args.types_per_offer,
        price_spread: args.price_spread,
        offers_per_second,
        open_problem_ms,
        open_problem_bytes,
        formulation: solution.formulation,
        variables: solution.variables,
        rows: solution.rows,
        integrality: solution.integrality,
        lp_objective: solution.lp_objective,
        score: solution.score,
        assignments: solution.assignments.len(),
        solve_ms: solution.solve_ms,
        verify_ms: verify_ms[verify_ms.len() / 2],
        solution_transactions,
        submit_to_receipt_ms,
        finalize_submit_to_receipt_ms,
        finalize_execution_ms,
        finalized_score,
    })
}
