//! Random call sequences from every role, including the races of spec §8.6 (PostResult vs
//! Timeout, RejectResult vs a late Accept, PostMediationResult vs MediationTimeout): after every
//! block the supply is conserved and no hold outlives its offer or match (the harness checks
//! both), and every closed match's nets add up to zero with the sink.

use agora_compute::{ComputeCall as C, RejectReason as R, ResultStatus as S, Verdict as V, *};
use proptest::prelude::*;

mod common;
use common::*;

#[derive(Debug, Clone)]
enum Op {
    PostJob { extra: u64, deadline: u64 },
    PostRes { deposit: u64 },
    CancelJob(u64),
    CancelRes(u64),
    Expire(u64),
    Match(u64, u64),
    Result(u64, u8, u64),
    Accept(u64, bool),
    Reject(u64, u8),
    Mediate(u64, u8, u8),
    Timeout(u64),
    MediationTimeout(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u64..8;
    prop_oneof![
        3 => (0u64..3_000, 1u64..30_000).prop_map(|(extra, deadline)| Op::PostJob { extra, deadline }),
        3 => prop_oneof![Just(260_059u64), Just(260_060), Just(300_000)]
            .prop_map(|deposit| Op::PostRes { deposit }),
        1 => id.clone().prop_map(Op::CancelJob),
        1 => id.clone().prop_map(Op::CancelRes),
        1 => id.clone().prop_map(Op::Expire),
        4 => (id.clone(), id.clone()).prop_map(|(j, r)| Op::Match(j, r)),
        4 => (0u64..3, 0u8..5, 0u64..1_001).prop_map(|(m, k, i)| Op::Result(m, k, i)),
        2 => (0u64..3, any::<bool>()).prop_map(|(m, jc)| Op::Accept(m, jc)),
        3 => (0u64..3, 0u8..5).prop_map(|(m, r)| Op::Reject(m, r)),
        3 => (0u64..3, 0u8..7, 0u8..3).prop_map(|(m, v, x)| Op::Mediate(m, v, x)),
        1 => (0u64..3).prop_map(Op::Timeout),
        1 => (0u64..3).prop_map(Op::MediationTimeout),
    ]
}

fn report(kind: u8, instructions: u64) -> ExecReport {
    match kind {
        0 => completed(instructions, 9),
        1 => completed(instructions, 1),
        2 => failed(S::JobNotFound, 0),
        3 => failed(S::ExceptionOccurred, instructions),
        _ => failed(S::InstructionsExceeded, 1_000),
    }
}

const REASONS: [R; 5] = [
    R::WrongResults,
    R::ResultNotFound,
    R::TooMuchCost,
    R::InvalidResultStatus,
    R::DirectoryUnavailable,
];
const VERDICTS: [V; 7] = [
    V::CorrectResults,
    V::NonDeterministic,
    V::WrongResults,
    V::TooMuchCost,
    V::InvalidResultStatus,
    V::ResultNotFound,
    V::DirectoryUnavailable,
];

fn job(a: &Actors, extra: u64, deadline: u64) -> ComputeCall {
    let C::PostJobOffer {
        job,
        limits,
        max_prices,
        match_incentive,
        deposit,
        ..
    } = job_offer(&a.dir)
    else {
        unreachable!()
    };
    C::PostJobOffer {
        market: M,
        job,
        limits,
        max_prices,
        completion_deadline_ms: deadline,
        match_incentive,
        deposit: deposit + extra,
    }
}

/// The `i`-th (cyclically) of the ids whose offer is still open, or an id no offer has: calls
/// then mostly name offers they can act on.
fn pick(ids: &[OfferId], open: impl Fn(OfferId) -> bool, i: u64) -> OfferId {
    let open: Vec<_> = ids.iter().copied().filter(|o| open(*o)).collect();
    if open.is_empty() {
        99
    } else {
        open[i as usize % open.len()]
    }
}

fn run(ops: Vec<(Op, u64)>) {
    let a = Actors::new();
    let mut chain = registered(&a);
    // Offer ids by kind, so that calls name offers of the right kind most of the time.
    let (mut jobs, mut resources) = (Vec::new(), Vec::new());
    for (op, advance) in ops {
        let market = chain.market().unwrap();
        let next_offer = market.next_offer;
        let job_open = |o| {
            chain
                .job_offer(o)
                .is_some_and(|j| j.state == OfferState::Open)
        };
        let res_open = |o| {
            chain
                .resource_offer(o)
                .is_some_and(|r| r.state == OfferState::Open)
        };
        let pick_job = |i| pick(&jobs, job_open, i);
        let pick_res = |i| pick(&resources, res_open, i);
        // A match among those made so far.
        let pick_match = |m: u64| m % market.next_match.max(1);
        let at = chain.now + 1 + advance;
        let (who, call) = match op {
            Op::PostJob { extra, deadline } => (&a.jc, job(&a, extra, at + deadline)),
            Op::PostRes { deposit } => {
                let C::PostResourceOffer {
                    caps,
                    prices,
                    match_incentive,
                    ..
                } = resource_offer()
                else {
                    unreachable!()
                };
                let call = C::PostResourceOffer {
                    market: M,
                    caps,
                    prices,
                    match_incentive,
                    deposit,
                };
                (&a.rp, call)
            }
            Op::CancelJob(o) => (
                &a.jc,
                C::CancelJobOffer {
                    market: M,
                    offer: pick_job(o),
                },
            ),
            Op::CancelRes(o) => (
                &a.rp,
                C::CancelResourceOffer {
                    market: M,
                    offer: pick_res(o),
                },
            ),
            Op::Expire(o) => (
                &a.other,
                C::ExpireJobOffer {
                    market: M,
                    offer: pick_job(o),
                },
            ),
            Op::Match(j, r) => {
                let call = C::PostMatch {
                    market: M,
                    job_offer: pick_job(j),
                    resource_offer: pick_res(r),
                    mediator: a.med.address(),
                };
                (&a.solver, call)
            }
            Op::Result(m, kind, i) => (
                &a.rp,
                C::PostResult {
                    market: M,
                    match_id: pick_match(m),
                    report: report(kind, i),
                },
            ),
            Op::Accept(m, by_jc) => {
                let who = if by_jc { &a.jc } else { &a.other };
                (
                    who,
                    C::AcceptResult {
                        market: M,
                        match_id: pick_match(m),
                    },
                )
            }
            Op::Reject(m, r) => (
                &a.jc,
                C::RejectResult {
                    market: M,
                    match_id: pick_match(m),
                    reason: REASONS[r as usize],
                },
            ),
            Op::Mediate(m, v, x) => {
                let execution = match x {
                    0 => None,
                    1 => Some(completed(800, 9)),
                    _ => Some(completed(700, 1)),
                };
                let call = C::PostMediationResult {
                    market: M,
                    match_id: pick_match(m),
                    verdict: VERDICTS[v as usize],
                    execution,
                };
                (&a.med, call)
            }
            Op::Timeout(m) => (
                &a.other,
                C::Timeout {
                    market: M,
                    match_id: pick_match(m),
                },
            ),
            Op::MediationTimeout(m) => (
                &a.other,
                C::MediationTimeout {
                    market: M,
                    match_id: pick_match(m),
                },
            ),
        };
        let receipt = chain.at(at, who, call);
        if receipt.status == agora_ledger::TxStatus::Success {
            match op {
                Op::PostJob { .. } => jobs.push(next_offer),
                Op::PostRes { .. } => resources.push(next_offer),
                _ => {}
            }
        }
    }
    // With every offer canceled or matched and every match closed, the actors and the sink
    // hold exactly the genesis funds again.
    let n = nets(&chain, &a);
    let held: i64 = (0..chain.market().unwrap().next_offer)
        .map(|o| {
            let hold = chain
                .job_offer(o)
                .map(|j| j.hold)
                .or_else(|| chain.resource_offer(o).map(|r| r.hold))
                .unwrap();
            chain
                .exec
                .query("bank", "hold", &serde_json::json!({"id": hold}))
                .map(|h| h["amount"].as_i64().unwrap())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        n.iter().sum::<i64>() + held,
        0,
        "nets {n:?}, still held {held}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn supply_conserved_and_no_hold_dangles(
        ops in prop::collection::vec((op(), prop_oneof![3 => Just(0u64), 1 => 0u64..1_500]), 10..60)
    ) {
        run(ops);
    }
}
