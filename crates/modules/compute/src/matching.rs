//! PostMatch (spec §2.3 call 11): any account proposes (job offer, resource offer, mediator);
//! the ledger checks feasibility and pays the proposer both match incentives.

use crate::feasibility::{self, Proposal, Refusal, Snapshot};
use crate::market::{load_job, load_market, load_res};
use crate::{settle, store::*, types::*, ComputeError, NAME};
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;

type Result<T> = std::result::Result<T, ComputeError>;

/// Loads the trust edges and runtimes the proposal's checks read.
fn snapshot(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    j: &JobOffer,
    r: &ResourceOffer,
    med: &Address,
) -> Result<Snapshot> {
    let mut s = Snapshot::default();
    let d = j.job.directory;
    let edges = [
        (j.owner, TrustKind::Mediator, *med),
        (r.owner, TrustKind::Mediator, *med),
        (j.owner, TrustKind::Directory, d),
        (r.owner, TrustKind::Directory, d),
        (*med, TrustKind::Directory, d),
    ];
    for (owner, kind, target) in edges {
        if ctx.get(&trust_key(m, &owner, kind, &target))?.is_some() {
            s.trust.insert((owner, kind, target));
        }
    }
    for owner in [r.owner, *med] {
        if ctx.get(&runtime_key(m, &owner, &j.job.runtime))?.is_some() {
            s.runtimes.insert((owner, j.job.runtime));
        }
    }
    Ok(s)
}

pub fn post_match(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    job_offer: OfferId,
    resource_offer: OfferId,
    mediator_address: Address,
) -> Result<()> {
    let mut market = load_market(ctx, m)?;
    let mut job = load_job(ctx, m, job_offer)?;
    let mut res = load_res(ctx, m, resource_offer)?;
    let mediator: Mediator = ctx
        .load(&role_key(m, Role::Mediator, &mediator_address))?
        .ok_or(ComputeError::UnknownMediator)?;
    let rp: ResourceProvider = ctx
        .load(&role_key(m, Role::ResourceProvider, &res.owner))?
        .ok_or(ComputeError::Corrupt)?;
    let directory: Directory = ctx
        .load(&role_key(m, Role::Directory, &job.job.directory))?
        .ok_or(ComputeError::Corrupt)?;
    let registry = snapshot(ctx, m, &job, &res, &mediator_address)?;
    let proposal = Proposal {
        params: &market.params,
        job: &job,
        resource: &res,
        rp: &rp,
        mediator_address: &mediator_address,
        mediator: &mediator,
        directory: &directory,
        now_ms: ctx.timestamp(),
    };
    let terms = feasibility::check(&proposal, &registry).map_err(|e| match e {
        Refusal::Infeasible(v) => ComputeError::Infeasible(v),
        Refusal::Overflow(_) => ComputeError::Overflow,
    })?;
    let id = market.next_match;
    market.next_match = id.checked_add(1).ok_or(ComputeError::Overflow)?;
    ctx.store(market_key(m), &market);
    let solver = ctx.sender();
    settle::slash(ctx, job.hold, job.match_incentive, &solver)?;
    settle::slash(ctx, res.hold, res.match_incentive, &solver)?;
    job.state = OfferState::Matched(id);
    res.state = OfferState::Matched(id);
    ctx.store(job_key(m, job_offer), &job);
    ctx.store(res_key(m, resource_offer), &res);
    ctx.delete(open_job_key(m, job_offer));
    ctx.delete(open_res_key(m, resource_offer));
    let mt = Match {
        id,
        job_offer,
        resource_offer,
        jc: job.owner,
        rp: res.owner,
        mediator: mediator_address,
        directory: job.job.directory,
        solver,
        jc_hold: job.hold,
        rp_hold: res.hold,
        terms,
        completion_deadline_ms: job.completion_deadline_ms,
        matched_at: ctx.timestamp(),
        result: None,
        result_at: None,
        reason: None,
        rejected_at: None,
        verdict: None,
        state: MatchState::AwaitingResult,
    };
    ctx.store(match_key(m, id), &mt);
    ctx.emit(
        NAME,
        "Matched",
        &json!({"market": m, "match": id, "job_offer": job_offer, "resource_offer": resource_offer,
            "mediator": mediator_address, "directory": mt.directory, "solver": solver,
            "incentive": job.match_incentive + res.match_incentive, "estimate": mt.terms.estimate}),
    );
    Ok(())
}
