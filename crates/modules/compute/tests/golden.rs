//! Spec §9 G4-G6: every row of the payout table (§2.5) on the G4 match, with exact balances of
//! JC, RP, mediator, directory, solver and sink. Order of `nets`: [JC, RP, M, D, solver, sink].

use agora_compute::{RejectReason as R, ResultStatus as S, Verdict as V, *};

mod common;
use common::*;

/// Closes match 0 and returns the nets; the match must be closed with `outcome`.
fn closed(chain: &Chain, a: &Actors, outcome: Outcome) -> [i64; 6] {
    assert_eq!(
        chain.the_match(0).unwrap().state,
        MatchState::Closed(outcome)
    );
    let n = nets(chain, a);
    assert_eq!(n.iter().sum::<i64>(), 0, "the rows sum to zero");
    n
}

#[test]
fn g4_deposits_and_the_match() {
    let a = Actors::new();
    let chain = matched(&a);
    let mt = chain.the_match(0).unwrap();
    assert_eq!(mt.terms.estimate, 5_000);
    let d = chain
        .query(
            "required_deposit",
            serde_json::json!({"market": M, "job_offer": 0, "mediator": a.med.address().to_string()}),
        )
        .unwrap();
    assert_eq!(d["job_creator"], 260_060);
    assert_eq!(nets(&chain, &a)[4], 20, "the solver got i_J + i_R");
    let hold = |id| {
        chain
            .exec
            .query("bank", "hold", &serde_json::json!({"id": id}))
            .unwrap()["amount"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(hold(mt.jc_hold), 260_050);
    assert_eq!(hold(mt.rp_hold), 299_990);
}

#[test]
fn g4_accept_by_the_jc() {
    let a = Actors::new();
    let mut chain = resulted(&a, completed(800, 9));
    chain.ok(&a.jc, ACCEPT);
    assert_eq!(
        closed(&chain, &a, Outcome::Accepted),
        [-2_760, 2_640, 60, 40, 20, 0]
    );
}

#[test]
fn g4_accept_by_anyone_after_the_reaction_window() {
    let a = Actors::new();
    let mut chain = resulted(&a, completed(800, 9));
    let late = chain.now + 1_001;
    chain.ok_at(late, &a.other, ACCEPT);
    assert_eq!(
        closed(&chain, &a, Outcome::AcceptedByDeadline),
        [-2_760, 2_640, 60, 40, 20, 0]
    );
    assert_eq!(chain.balance(&a.other), FUNDS);
}

const RP_FAULTY: [i64; 6] = [2_640, -260_060, 6_060, 40, 20, 251_300];
const JC_FAULTY: [i64; 6] = [-260_060, 2_640, 6_060, 40, 20, 251_300];

#[test]
fn g5_rp_faulty_wrong_results() {
    let a = Actors::new();
    let mut chain = rejected(&a, completed(800, 9), R::WrongResults);
    chain.ok(&a.med, mediate(V::WrongResults, Some(completed(800, 1))));
    assert_eq!(
        closed(&chain, &a, Outcome::RpFault(V::WrongResults)),
        RP_FAULTY
    );
}

#[test]
fn g5_rp_faulty_too_much_cost() {
    let a = Actors::new();
    let mut chain = rejected(&a, completed(1_000, 9), R::TooMuchCost);
    chain.ok(&a.med, mediate(V::TooMuchCost, Some(completed(800, 9))));
    assert_eq!(
        closed(&chain, &a, Outcome::RpFault(V::TooMuchCost)),
        RP_FAULTY
    );
}

#[test]
fn g5_rp_faulty_invalid_result_status() {
    let a = Actors::new();
    let mut chain = rejected(
        &a,
        failed(S::ExceptionOccurred, 500),
        R::InvalidResultStatus,
    );
    chain.ok(
        &a.med,
        mediate(V::InvalidResultStatus, Some(completed(800, 9))),
    );
    assert_eq!(
        closed(&chain, &a, Outcome::RpFault(V::InvalidResultStatus)),
        RP_FAULTY
    );
}

#[test]
fn g5_rp_faulty_result_not_found_without_a_run() {
    // No execution: πd on the RP's usage (2,700), πm = 0, sink = 260,000 - 2,700.
    let a = Actors::new();
    let mut chain = rejected(&a, completed(800, 9), R::ResultNotFound);
    chain.ok(&a.med, mediate(V::ResultNotFound, None));
    assert_eq!(
        closed(&chain, &a, Outcome::RpFault(V::ResultNotFound)),
        [2_640, -260_060, 60, 40, 20, 257_300]
    );
}

#[test]
fn g5_jc_faulty_correct_results() {
    let a = Actors::new();
    let mut chain = rejected(&a, completed(800, 9), R::WrongResults);
    chain.ok(&a.med, mediate(V::CorrectResults, Some(completed(800, 9))));
    assert_eq!(
        closed(&chain, &a, Outcome::JcFault(V::CorrectResults)),
        JC_FAULTY
    );
}

#[test]
fn g5_jc_faulty_non_deterministic() {
    let a = Actors::new();
    let mut chain = rejected(&a, completed(800, 9), R::WrongResults);
    chain.ok(
        &a.med,
        mediate(V::NonDeterministic, Some(completed(800, 3))),
    );
    assert_eq!(
        closed(&chain, &a, Outcome::JcFault(V::NonDeterministic)),
        JC_FAULTY
    );
}

#[test]
fn g5_directory_at_fault() {
    let a = Actors::new();
    let mut chain = rejected(&a, completed(800, 9), R::DirectoryUnavailable);
    chain.ok(&a.med, mediate(V::DirectoryUnavailable, None));
    assert_eq!(
        closed(&chain, &a, Outcome::DirectoryFault),
        [-40, -40, 60, 0, 20, 0]
    );
}

#[test]
fn g6_result_timeout() {
    let a = Actors::new();
    let mut chain = matched(&a);
    chain.ok_at(DEADLINE + 1, &a.other, TIMEOUT);
    assert_eq!(
        closed(&chain, &a, Outcome::ResultTimedOut),
        [4_940, -5_060, 60, 40, 20, 0]
    );
}

#[test]
fn g6_mediation_timeout() {
    let a = Actors::new();
    let mut chain = rejected(&a, completed(800, 9), R::WrongResults);
    let late = chain.now + 1_001;
    chain.ok_at(late, &a.other, MEDIATION_TIMEOUT);
    assert_eq!(
        closed(&chain, &a, Outcome::MediationTimedOut),
        [-2_530, 2_470, 0, 40, 20, 0]
    );
}

#[test]
fn g6_cancel_before_match_returns_everything() {
    let a = Actors::new();
    let mut chain = offered(&a);
    chain.ok(
        &a.jc,
        ComputeCall::CancelJobOffer {
            market: M,
            offer: 0,
        },
    );
    chain.ok(
        &a.rp,
        ComputeCall::CancelResourceOffer {
            market: M,
            offer: 1,
        },
    );
    assert_eq!(nets(&chain, &a), [0; 6]);
    assert_eq!(chain.job_offer(0).unwrap().state, OfferState::Canceled);
}

#[test]
fn expired_job_offer_returns_everything() {
    let a = Actors::new();
    let mut chain = offered(&a);
    chain.ok_at(
        DEADLINE + 1,
        &a.other,
        ComputeCall::ExpireJobOffer {
            market: M,
            offer: 0,
        },
    );
    assert_eq!(nets(&chain, &a), [0, -300_000, 0, 0, 0, 0]);
    assert_eq!(chain.job_offer(0).unwrap().state, OfferState::Expired);
}

#[test]
fn several_cycles_in_one_market() {
    // SEED-NOTES: "test several cycles, not one": offers and matches keep their own ids.
    let a = Actors::new();
    let mut chain = registered(&a);
    for cycle in 0..3u64 {
        chain.ok(&a.jc, job_offer(&a.dir));
        chain.ok(&a.rp, resource_offer());
        chain.ok(
            &a.solver,
            ComputeCall::PostMatch {
                market: M,
                job_offer: 2 * cycle,
                resource_offer: 2 * cycle + 1,
                mediator: a.med.address(),
            },
        );
        chain.ok(
            &a.rp,
            ComputeCall::PostResult {
                market: M,
                match_id: cycle,
                report: completed(800, 9),
            },
        );
        chain.ok(
            &a.jc,
            ComputeCall::AcceptResult {
                market: M,
                match_id: cycle,
            },
        );
    }
    assert_eq!(nets(&chain, &a), [-3 * 2_760, 3 * 2_640, 180, 120, 60, 0]);
}
