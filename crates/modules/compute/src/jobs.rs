//! A match's life after PostMatch (spec §2.3 calls 12-17, §3): result, accept or reject,
//! mediation, and the two timeouts anyone may call once due.

use crate::market::load_market;
use crate::payout::{self, Overflow};
use crate::{settle, store::*, types::*, ComputeError, NAME};
use agora_ledger::TxContext;
use serde_json::json;

type Result<T> = std::result::Result<T, ComputeError>;

impl From<Overflow> for ComputeError {
    fn from(_: Overflow) -> Self {
        Self::Overflow
    }
}

/// The match, refused once closed.
fn open_match(ctx: &mut TxContext<'_>, m: MarketId, id: MatchId) -> Result<(Market, Match)> {
    let market = load_market(ctx, m)?;
    let mt: Match = ctx
        .load(&match_key(m, id))?
        .ok_or(ComputeError::UnknownMatch(id))?;
    if matches!(mt.state, MatchState::Closed(_)) {
        return Err(ComputeError::MatchClosed);
    }
    Ok((market, mt))
}

fn expect_state(mt: &Match, state: MatchState) -> Result<()> {
    if mt.state != state {
        return Err(ComputeError::WrongState(mt.state));
    }
    Ok(())
}

/// A report's usage within the job's limits, and its shape as §2.4's table fixes it per status.
fn check_report(terms: &Terms, r: &ExecReport) -> Result<()> {
    let b = payout::bandwidth(terms.job_bytes, r)?;
    if r.instructions > terms.limits.instructions || b > terms.limits.bandwidth {
        return Err(ComputeError::UsageExceedsLimit);
    }
    use ResultStatus as S;
    let shape = match r.status {
        S::Completed => r.output.is_some() && r.output_bytes <= terms.limits.storage,
        S::JobNotFound | S::JobDescriptionError | S::DirectoryUnavailable => {
            r.output.is_none() && r.output_bytes == 0 && r.instructions == 0
        }
        S::InstructionsExceeded => {
            r.output.is_none() && r.output_bytes == 0 && r.instructions == terms.limits.instructions
        }
        S::MemoryExceeded | S::StorageExceeded | S::BandwidthExceeded | S::ExceptionOccurred => {
            r.output.is_none() && r.output_bytes == 0
        }
    };
    if !shape {
        return Err(ComputeError::InconsistentResult(r.status));
    }
    Ok(())
}

fn save(ctx: &mut TxContext<'_>, m: MarketId, mt: &Match) {
    ctx.store(match_key(m, mt.id), mt);
}

/// Closes the match with `outcome` and executes its payments.
fn close(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    mut mt: Match,
    outcome: Outcome,
    payments: &[payout::Payment],
) -> Result<()> {
    mt.state = MatchState::Closed(outcome);
    save(ctx, m, &mt);
    settle::close(ctx, m, &mt, payments)
}

pub fn post_result(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    id: MatchId,
    report: ExecReport,
) -> Result<()> {
    let (market, mut mt) = open_match(ctx, m, id)?;
    if ctx.sender() != mt.rp {
        return Err(ComputeError::NotResourceProvider);
    }
    expect_state(&mt, MatchState::AwaitingResult)?;
    check_report(&mt.terms, &report)?;
    let price = payout::job_price(&mt.terms, &report)?;
    let now = ctx.timestamp();
    ctx.emit(
        NAME,
        "ResultPosted",
        &json!({"market": m, "match": id, "report": report,
            "bandwidth": payout::bandwidth(mt.terms.job_bytes, &report)?, "price": price,
            "reaction_deadline": now.saturating_add(market.params.reaction_window_ms)}),
    );
    mt.result = Some(report);
    mt.result_at = Some(now);
    mt.state = MatchState::AwaitingReaction;
    save(ctx, m, &mt);
    Ok(())
}

/// The result and when it was posted; a match awaiting reaction always has both.
fn posted(mt: &Match) -> Result<(&ExecReport, u64)> {
    match (&mt.result, mt.result_at) {
        (Some(r), Some(at)) => Ok((r, at)),
        _ => Err(ComputeError::Corrupt),
    }
}

pub fn accept_result(ctx: &mut TxContext<'_>, m: MarketId, id: MatchId) -> Result<()> {
    let (market, mt) = open_match(ctx, m, id)?;
    expect_state(&mt, MatchState::AwaitingReaction)?;
    let (report, at) = posted(&mt)?;
    let deadline = at.saturating_add(market.params.reaction_window_ms);
    let by = ctx.sender();
    let outcome = if by == mt.jc {
        Outcome::Accepted
    } else if ctx.timestamp() > deadline {
        Outcome::AcceptedByDeadline
    } else {
        return Err(ComputeError::NotJobCreator);
    };
    let payments = payout::accept(&mt.terms, payout::job_price(&mt.terms, report)?);
    ctx.emit(
        NAME,
        "ResultAccepted",
        &json!({"market": m, "match": id, "by": by}),
    );
    close(ctx, m, mt, outcome, &payments)
}

/// Whether the JC may claim `reason` against a result with `status` (spec §2.4).
fn reason_allowed(reason: RejectReason, r: &ExecReport) -> bool {
    let completed = r.status == ResultStatus::Completed;
    match reason {
        RejectReason::WrongResults | RejectReason::ResultNotFound => completed,
        RejectReason::TooMuchCost => r.instructions > 0,
        RejectReason::InvalidResultStatus => !completed,
        RejectReason::DirectoryUnavailable => true,
    }
}

pub fn reject_result(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    id: MatchId,
    reason: RejectReason,
) -> Result<()> {
    let (market, mut mt) = open_match(ctx, m, id)?;
    if ctx.sender() != mt.jc {
        return Err(ComputeError::NotJobCreator);
    }
    expect_state(&mt, MatchState::AwaitingReaction)?;
    let (report, at) = posted(&mt)?;
    let now = ctx.timestamp();
    if now > at.saturating_add(market.params.reaction_window_ms) {
        return Err(ComputeError::DeadlinePassed);
    }
    if !reason_allowed(reason, report) {
        return Err(ComputeError::ReasonNotAllowed);
    }
    mt.reason = Some(reason);
    mt.rejected_at = Some(now);
    mt.state = MatchState::InMediation;
    save(ctx, m, &mt);
    ctx.store(mediating_key(m, &mt.mediator, id), &());
    ctx.emit(
        NAME,
        "JobAssignedForMediation",
        &json!({"market": m, "match": id, "mediator": mt.mediator, "reason": reason,
            "mediation_deadline": now.saturating_add(market.params.mediation_window_ms)}),
    );
    Ok(())
}

/// Whether the verdict agrees with what the ledger knows (spec §2.4's last column).
fn verdict_consistent(v: Verdict, rp: &ExecReport, x: Option<&ExecReport>) -> bool {
    let completed = rp.status == ResultStatus::Completed;
    let same = |x: &ExecReport| x.status == rp.status && x.output == rp.output;
    match v {
        Verdict::CorrectResults => x.is_none_or(|x| same(x) && rp.instructions <= x.instructions),
        Verdict::NonDeterministic | Verdict::DirectoryUnavailable => true,
        Verdict::WrongResults => completed && x.is_some_and(|x| !same(x)),
        Verdict::TooMuchCost => x.is_some_and(|x| same(x) && rp.instructions > x.instructions),
        Verdict::InvalidResultStatus => !completed && x.is_none_or(|x| x.status != rp.status),
        Verdict::ResultNotFound => completed,
    }
}

pub fn post_mediation_result(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    id: MatchId,
    verdict: Verdict,
    execution: Option<ExecReport>,
) -> Result<()> {
    let (_, mut mt) = open_match(ctx, m, id)?;
    if ctx.sender() != mt.mediator {
        return Err(ComputeError::NotMediator);
    }
    expect_state(&mt, MatchState::InMediation)?;
    if let Some(x) = &execution {
        check_report(&mt.terms, x)?;
    }
    let (rp, _) = posted(&mt)?;
    if !verdict_consistent(verdict, rp, execution.as_ref()) {
        return Err(ComputeError::InconsistentVerdict(verdict));
    }
    let (outcome, payments, compensation, mediation) = match verdict.faulty() {
        None => (
            Outcome::DirectoryFault,
            payout::directory_fault(&mt.terms),
            0,
            0,
        ),
        Some(faulty) => {
            // F5: the mediator's usage when its agreeing runs back the verdict, else the RP's.
            let agreeing = matches!(
                verdict,
                Verdict::CorrectResults
                    | Verdict::WrongResults
                    | Verdict::TooMuchCost
                    | Verdict::InvalidResultStatus
            );
            let usage = match &execution {
                Some(x) if agreeing => x,
                _ => rp,
            };
            let compensation = payout::job_price(&mt.terms, usage)?;
            let mediation = match &execution {
                Some(x) => payout::mediation_price(&mt.terms, x)?,
                None => 0,
            };
            let payments = payout::mediated(&mt.terms, faulty, compensation, mediation)?;
            let outcome = match faulty {
                Party::JobCreator => Outcome::JcFault(verdict),
                Party::ResourceProvider => Outcome::RpFault(verdict),
            };
            (outcome, payments, compensation, mediation)
        }
    };
    ctx.emit(
        NAME,
        "MediationResultPosted",
        &json!({"market": m, "match": id, "verdict": verdict, "faulty": verdict.faulty(),
            "execution": execution, "compensation": compensation, "mediation": mediation}),
    );
    mt.verdict = Some(verdict);
    ctx.delete(mediating_key(m, &mt.mediator, id));
    close(ctx, m, mt, outcome, &payments)
}

pub fn timeout(ctx: &mut TxContext<'_>, m: MarketId, id: MatchId) -> Result<()> {
    let (_, mt) = open_match(ctx, m, id)?;
    expect_state(&mt, MatchState::AwaitingResult)?;
    if ctx.timestamp() <= mt.completion_deadline_ms {
        return Err(ComputeError::NotDue {
            after_ms: mt.completion_deadline_ms,
        });
    }
    let payments = payout::result_timeout(&mt.terms);
    close(ctx, m, mt, Outcome::ResultTimedOut, &payments)
}

pub fn mediation_timeout(ctx: &mut TxContext<'_>, m: MarketId, id: MatchId) -> Result<()> {
    let (market, mt) = open_match(ctx, m, id)?;
    expect_state(&mt, MatchState::InMediation)?;
    let due = mt
        .rejected_at
        .ok_or(ComputeError::Corrupt)?
        .saturating_add(market.params.mediation_window_ms);
    if ctx.timestamp() <= due {
        return Err(ComputeError::NotDue { after_ms: due });
    }
    ctx.delete(mediating_key(m, &mt.mediator, id));
    let payments = payout::mediation_timeout(&mt.terms);
    close(ctx, m, mt, Outcome::MediationTimedOut, &payments)
}
