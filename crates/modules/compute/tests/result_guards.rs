//! Preconditions of a match's calls after PostMatch (spec §2.3 calls 12-17, §3), each refused
//! with its reason code by a call that violates it and nothing else.

use agora_compute::{ComputeCall as C, RejectReason as R, ResultStatus as S, Verdict as V, *};

mod common;
use common::*;

#[test]
fn result_preconditions() {
    let a = Actors::new();
    let mut chain = matched(&a);
    let bad = [
        (completed(1_001, 9), "usage_exceeds_limit"),
        // Output of 301 bytes: B = 501 > L_B (and above L_S: the bandwidth check comes first).
        (
            ExecReport {
                output_bytes: 301,
                ..completed(800, 9)
            },
            "usage_exceeds_limit",
        ),
        (
            ExecReport {
                output_bytes: 201,
                ..completed(800, 9)
            },
            "inconsistent_result",
        ),
        (
            ExecReport {
                output: None,
                ..completed(800, 9)
            },
            "inconsistent_result",
        ),
        (failed(S::JobNotFound, 1), "inconsistent_result"),
        (failed(S::JobDescriptionError, 1), "inconsistent_result"),
        (failed(S::DirectoryUnavailable, 1), "inconsistent_result"),
        (failed(S::InstructionsExceeded, 999), "inconsistent_result"),
        (
            ExecReport {
                output: Some([1; 32]),
                ..failed(S::ExceptionOccurred, 5)
            },
            "inconsistent_result",
        ),
        (
            ExecReport {
                output_bytes: 1,
                ..failed(S::MemoryExceeded, 5)
            },
            "inconsistent_result",
        ),
    ];
    for (report, code) in bad {
        assert_eq!(
            chain.refused(&a.rp, post_result(report.clone())),
            code,
            "{report:?}"
        );
    }
    let other_match = C::PostResult {
        market: M,
        match_id: 1,
        report: completed(800, 9),
    };
    assert_eq!(chain.refused(&a.rp, other_match), "unknown_match");
    assert_eq!(chain.refused(&a.jc, ACCEPT), "wrong_state");
    assert_eq!(chain.refused(&a.jc, reject(R::WrongResults)), "wrong_state");
    assert_eq!(
        chain.refused(&a.med, mediate(V::CorrectResults, None)),
        "wrong_state"
    );
    assert_eq!(chain.refused(&a.other, MEDIATION_TIMEOUT), "wrong_state");
    assert_eq!(chain.refused_at(DEADLINE, &a.other, TIMEOUT), "not_due");
    // A late result is accepted while no Timeout has executed (spec §7 A13).
    chain.ok_at(
        DEADLINE + 5,
        &a.rp,
        post_result(failed(S::InstructionsExceeded, 1_000)),
    );
    assert_eq!(
        chain.refused(&a.rp, post_result(completed(800, 9))),
        "wrong_state"
    );
    assert_eq!(chain.refused(&a.other, TIMEOUT), "wrong_state");
}

#[test]
fn reaction_preconditions() {
    let a = Actors::new();
    let mut chain = resulted(&a, failed(S::JobNotFound, 0));
    let posted_at = chain.now;
    assert_eq!(
        chain.refused(&a.jc, reject(R::WrongResults)),
        "reason_not_allowed"
    );
    assert_eq!(
        chain.refused(&a.jc, reject(R::ResultNotFound)),
        "reason_not_allowed"
    );
    assert_eq!(
        chain.refused(&a.jc, reject(R::TooMuchCost)),
        "reason_not_allowed"
    );
    assert_eq!(
        chain.refused_at(posted_at + 1_001, &a.jc, reject(R::InvalidResultStatus)),
        "deadline_passed"
    );
    let mut chain = resulted(&a, completed(800, 9));
    let posted_at = chain.now;
    assert_eq!(
        chain.refused(&a.jc, reject(R::InvalidResultStatus)),
        "reason_not_allowed"
    );
    chain.ok_at(posted_at + 1_000, &a.jc, reject(R::TooMuchCost));
    assert_eq!(chain.refused(&a.jc, ACCEPT), "wrong_state");
    assert_eq!(
        chain.refused(&a.rp, post_result(completed(800, 9))),
        "wrong_state"
    );
}

#[test]
fn verdicts_must_agree_with_the_ledger() {
    let a = Actors::new();
    let same = completed(800, 9);
    let other_output = completed(800, 1);
    let cases = [
        // (RP's report, JC's reason, verdict, mediator's run)
        (
            same.clone(),
            R::WrongResults,
            V::CorrectResults,
            Some(other_output.clone()),
        ),
        (
            same.clone(),
            R::WrongResults,
            V::CorrectResults,
            Some(completed(799, 9)),
        ),
        (
            same.clone(),
            R::WrongResults,
            V::WrongResults,
            Some(same.clone()),
        ),
        (same.clone(), R::WrongResults, V::WrongResults, None),
        (
            same.clone(),
            R::TooMuchCost,
            V::TooMuchCost,
            Some(same.clone()),
        ),
        (same.clone(), R::TooMuchCost, V::TooMuchCost, None),
        (
            same.clone(),
            R::DirectoryUnavailable,
            V::InvalidResultStatus,
            None,
        ),
        (
            failed(S::JobNotFound, 0),
            R::InvalidResultStatus,
            V::InvalidResultStatus,
            Some(failed(S::JobNotFound, 0)),
        ),
        (
            failed(S::JobNotFound, 0),
            R::InvalidResultStatus,
            V::WrongResults,
            Some(same.clone()),
        ),
        (
            failed(S::JobNotFound, 0),
            R::InvalidResultStatus,
            V::ResultNotFound,
            None,
        ),
    ];
    for (rp, reason, verdict, run) in cases {
        let mut chain = rejected(&a, rp.clone(), reason);
        let code = chain.refused(&a.med, mediate(verdict, run.clone()));
        assert_eq!(
            code, "inconsistent_verdict",
            "{verdict:?} {run:?} against {rp:?}"
        );
    }
    // A run beyond the limits is refused whatever the verdict.
    let mut chain = rejected(&a, same.clone(), R::WrongResults);
    let rejected_at = chain.now;
    let code = chain.refused(&a.med, mediate(V::WrongResults, Some(completed(1_001, 1))));
    assert_eq!(code, "usage_exceeds_limit");
    // A late verdict is accepted while no MediationTimeout has executed.
    let due = rejected_at + 1_000;
    assert_eq!(
        chain.refused_at(due, &a.other, MEDIATION_TIMEOUT),
        "not_due"
    );
    chain.ok_at(
        due + 10,
        &a.med,
        mediate(V::WrongResults, Some(other_output)),
    );
    assert_eq!(chain.refused(&a.other, MEDIATION_TIMEOUT), "match_closed");
    assert_eq!(chain.refused(&a.jc, ACCEPT), "match_closed");
}
