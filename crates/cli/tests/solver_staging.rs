//! The solver daemon sends a solution too large for one transaction as a staged solution
//! (`CreateSolution`, then `AddAssignments` parts pipelined), on a real one-validator chain:
//! it finalizes what the whole solution finalizes, and a refused part (an infeasible one, or
//! one that comes after the phase ended) stops the sending and changes nothing that finalizes.

mod common;

use agora_allocation::{
    AllocationCall, Alternative, Assignment, MarketParams, Objective, PairRule, Score, Side, NAME,
};
use agora_client::Client;
use agora_sim::{
    allocation::{created, AllocationSolver, SolverKind, PART_ITEMS},
    daemon::{self, DaemonConfig, Plan, Refusal, SolverStats, Verdict, IN_FLIGHT},
};
use agora_solver::allocation::{solve, AllocationInstance, Checker};
use agora_types::{Call, Keypair, Receipt};
use common::*;
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};

/// Sends `calls` from `key` the daemon's way and expects every one to succeed.
async fn run(client: &Client, key: &Keypair, calls: Vec<Call>) -> Vec<Receipt> {
    let verdict = daemon::send(client, key, Plan::Calls(calls), IN_FLIGHT)
        .await
        .unwrap()
        .verdict()
        .await;
    assert_eq!(verdict.refused, None, "{:?}", verdict.receipts.last());
    verdict.receipts
}

async fn query(client: &Client, path: &str, params: Value) -> Value {
    client.query(NAME, path, params).await.unwrap()
}

/// A market whose phases are due at once (the test moves it on), and its id.
async fn create_market(client: &Client, admin: &Keypair) -> u64 {
    let params = MarketParams {
        receive_ms: 1,
        solve_ms: 1,
        max_quantity: 10,
        max_types_per_offer: 4,
        objective: Objective::Quantity,
        default_bound: None,
        price_bounds: vec![],
        pairs: PairRule::Any,
        settle: false,
        max_offers_per_cycle: 1_000,
        max_solutions_per_cycle: 16,
    };
    let receipts = run(
        client,
        admin,
        vec![AllocationCall::CreateMarket(params).into_call()],
    )
    .await;
    receipts[0]
        .events
        .iter()
        .find(|e| e.name == "MarketCreated")
        .and_then(|e| e.data["market"].as_u64())
        .unwrap()
}

/// Places 24 providing and 24 consuming offers of 2 units, 8 of each per type 0-2 (the
/// optimum moves 48 units), and closes the market.
async fn offers_and_close(client: &Client, key: &Keypair, market: u64) {
    let mut calls: Vec<Call> = (0..48u64)
        .map(|i| {
            let provide = i % 2 == 0;
            AllocationCall::PlaceOffer {
                market,
                side: if provide {
                    Side::Provide
                } else {
                    Side::Consume
                },
                misc: i,
                alternatives: vec![Alternative {
                    rtype: (i / 2) % 3,
                    quantity: 2,
                    value: if provide { 1 } else { 5 },
                }],
            }
            .into_call()
        })
        .collect();
    calls.push(AllocationCall::Close { market }.into_call());
    run(client, key, calls).await;
}

async fn finalize(client: &Client, key: &Keypair, market: u64) {
    run(
        client,
        key,
        vec![AllocationCall::Finalize { market }.into_call()],
    )
    .await;
}

/// The finalized record of `cycle`: its score, solution id and assignments.
async fn finalized(client: &Client, market: u64, cycle: u64) -> (Score, Value, Vec<Assignment>) {
    let f = query(
        client,
        "finalized",
        json!({"market": market, "cycle": cycle}),
    )
    .await;
    (
        serde_json::from_value(f["record"]["score"].clone()).unwrap(),
        f["record"]["solution"].clone(),
        serde_json::from_value(f["assignments"].clone()).unwrap(),
    )
}

fn fund(keys: &[&Keypair]) -> Vec<Call> {
    keys.iter()
        .map(|k| {
            agora_bank::BankCall::Transfer {
                to: k.address(),
                amount: 1_000_000_000,
            }
            .into_call()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_stages_a_large_solution_and_finalizes_the_score_of_the_whole_one() {
    let node = single_node().await;
    let (client, admin) = (&node.client, faucet(&node.home));
    let (staging, whole) = (Keypair::from_seed(41), Keypair::from_seed(42));
    run(client, &admin, fund(&[&staging, &whole])).await;
    let markets = [
        create_market(client, &admin).await,
        create_market(client, &admin).await,
    ];
    for m in markets {
        offers_and_close(client, &admin, m).await;
    }
    // One daemon per market: the first may put 2 assignments in a transaction, the second
    // the module's limit.
    let mut daemons = Vec::new();
    for (key, m, part_items) in [(staging, markets[0], 2), (whole, markets[1], PART_ITEMS)] {
        let stats = Arc::new(SolverStats::default());
        let solver = AllocationSolver {
            kind: SolverKind::Lp,
            cycles: 1,
            time_limit: Duration::from_secs(30),
            part_items,
        };
        let cfg = DaemonConfig {
            period: Duration::from_millis(50),
            fail_at_round: None,
            byzantine: false,
            label: format!("items {part_items}"),
        };
        let task = tokio::spawn(daemon::run(
            client.clone(),
            key,
            m,
            Arc::new(solver),
            cfg,
            stats.clone(),
        ));
        daemons.push((task, stats));
    }
    for (_, stats) in &daemons {
        wait_until("the daemon's verdict", Duration::from_secs(120), || async {
            !stats.snapshot().log.is_empty()
        })
        .await;
    }
    for m in markets {
        finalize(client, &admin, m).await;
    }
    let mut tallies = Vec::new();
    for (task, stats) in daemons {
        task.await.unwrap().unwrap();
        tallies.push(stats.take());
    }

    let (staged_score, staged_id, staged) = finalized(client, markets[0], 0).await;
    let (whole_score, whole_id, _) = finalized(client, markets[1], 0).await;
    assert_eq!(staged_score, whole_score);
    assert_eq!(
        staged_score,
        Score {
            primary: 48,
            quantity: 48
        }
    );
    let parts = |m: u64, s: Value| async move {
        query(client, "solution", json!({"market": m, "solution": s})).await["parts"]
            .as_u64()
            .unwrap() as usize
    };
    let staged_parts = parts(markets[0], staged_id).await;
    assert_eq!(staged_parts, staged.len().div_ceil(2));
    assert!(
        staged_parts > IN_FLIGHT,
        "more parts than in flight at once"
    );
    assert_eq!(parts(markets[1], whole_id).await, 1);
    for (tally, transactions) in tallies.iter().zip([staged_parts + 1, 1]) {
        assert_eq!((tally.submitted, tally.accepted), (1, 1), "{:?}", tally.log);
        let record = &tally.log[0];
        assert!(record.accepted && record.reason.is_none() && record.refused_at.is_none());
        assert_eq!(record.transactions, transactions);
        assert_eq!(tally.largest_parts, transactions);
    }
}

/// Stages `parts(solution)` from `key` in market `market`, one call in flight at a time.
async fn stage(
    client: &Client,
    key: &Keypair,
    market: u64,
    parts: impl FnOnce(u64) -> Vec<Call> + Send + 'static,
) -> Verdict {
    let plan = Plan::Create {
        create: AllocationCall::CreateSolution { market, misc: 0 }.into_call(),
        id: created,
        parts: Box::new(parts),
    };
    daemon::send(client, key, plan, 1)
        .await
        .unwrap()
        .verdict()
        .await
}

fn add(market: u64, solution: u64, assignments: &[Assignment]) -> Call {
    AllocationCall::AddAssignments {
        market,
        solution,
        assignments: assignments.to_vec(),
    }
    .into_call()
}

/// The open problem, and a solution of it cut after its first two assignments.
async fn solved(
    client: &Client,
    market: u64,
) -> (AllocationInstance, Vec<Assignment>, Vec<Assignment>) {
    let instance: AllocationInstance =
        serde_json::from_value(query(client, "open_problem", json!({ "market": market })).await)
            .unwrap();
    let mut first = solve(&instance, &Default::default()).unwrap().assignments;
    assert!(first.len() >= 4);
    let rest = first.split_off(2);
    (instance, first, rest)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_part_stops_the_staging_and_changes_nothing_that_finalizes() {
    let node = single_node().await;
    let (client, admin) = (&node.client, faucet(&node.home));
    let solver = Keypair::from_seed(43);
    run(client, &admin, fund(&[&solver])).await;
    let m = create_market(client, &admin).await;

    // Cycle 0: the second part repeats the first, over-using its offers (eq. 6.1/6.2).
    offers_and_close(client, &admin, m).await;
    let (instance, first, rest) = solved(client, m).await;
    let (f, r) = (first.clone(), rest.clone());
    let verdict = stage(client, &solver, m, move |s| {
        vec![add(m, s, &f), add(m, s, &f), add(m, s, &r)]
    })
    .await;
    let refused = verdict.refused.clone().unwrap();
    assert_eq!(refused.index, 2, "create, the first part, then the repeat");
    assert!(refused.reason.ends_with("_capacity"), "{refused:?}");
    assert_eq!(
        (verdict.sent, verdict.unsent),
        (3, 1),
        "the last part is not sent"
    );
    assert!(!verdict.accepted(NAME));
    finalize(client, &admin, m).await;
    let (score, _, assignments) = finalized(client, m, 0).await;
    assert_eq!(assignments, first);
    assert_eq!(
        score,
        Checker::new(&instance).unwrap().check(&first).unwrap()
    );

    // Cycle 1: the phase ends between the parts (anyone may finalize once due).
    offers_and_close(client, &admin, m).await;
    let (instance, first, rest) = solved(client, m).await;
    let (f, r) = (first.clone(), rest.clone());
    let verdict = stage(client, &solver, m, move |s| {
        vec![
            add(m, s, &f),
            AllocationCall::Finalize { market: m }.into_call(),
            add(m, s, &r),
        ]
    })
    .await;
    assert_eq!(
        verdict.refused,
        Some(Refusal {
            index: 3,
            reason: "wrong_phase".into()
        })
    );
    assert_eq!((verdict.sent, verdict.unsent), (4, 0));
    let (score, _, assignments) = finalized(client, m, 1).await;
    assert_eq!(assignments, first);
    assert_eq!(
        score,
        Checker::new(&instance).unwrap().check(&first).unwrap()
    );
    let market = query(client, "market", json!({ "market": m })).await;
    assert_eq!(market["cycle"], 2);
    assert_eq!(market["candidate"]["solution"], Value::Null);
}
