//! Market creation, registrations, trust and runtimes, offers and their cancellation (spec
//! §2.3 calls 1-10), one function per call.

use crate::{store::*, types::*, ComputeError, NAME};
use agora_bank::{module_account, Bank};
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;

type Result<T> = std::result::Result<T, ComputeError>;

pub(crate) fn load_market(ctx: &mut TxContext<'_>, m: MarketId) -> Result<Market> {
    ctx.load(&market_key(m))?
        .ok_or(ComputeError::UnknownMarket(m))
}

pub(crate) fn is(ctx: &mut TxContext<'_>, m: MarketId, role: Role, who: &Address) -> Result<bool> {
    Ok(ctx.get(&role_key(m, role, who))?.is_some())
}

pub fn create_market(ctx: &mut TxContext<'_>, params: MarketParams) -> Result<()> {
    if params.penalty_rate < 1 {
        return Err(ComputeError::InvalidParams(
            "penalty_rate must be at least 1",
        ));
    }
    if params.verification_count < 1 {
        return Err(ComputeError::InvalidParams(
            "verification_count must be at least 1",
        ));
    }
    if params.reaction_window_ms == 0 || params.mediation_window_ms == 0 {
        return Err(ComputeError::InvalidParams("windows must be positive"));
    }
    let id = ctx.load_u64(&next_market_key())?;
    ctx.store_u64(
        next_market_key(),
        id.checked_add(1).ok_or(ComputeError::Overflow)?,
    );
    let market = Market {
        id,
        creator: ctx.sender(),
        params,
        next_offer: 0,
        next_match: 0,
    };
    ctx.store(market_key(id), &market);
    ctx.emit(
        NAME,
        "MarketCreated",
        &json!({"market": id, "creator": market.creator, "params": market.params}),
    );
    Ok(())
}

/// Stores the sender's record for `role`, refusing a second registration (the prototype's
/// re-registration silently wiped trust lists).
pub fn register<T: borsh::BorshSerialize + serde::Serialize>(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    role: Role,
    record: &T,
) -> Result<()> {
    load_market(ctx, m)?;
    let who = ctx.sender();
    if is(ctx, m, role, &who)? {
        return Err(ComputeError::AlreadyRegistered);
    }
    ctx.store(role_key(m, role, &who), record);
    ctx.emit(
        NAME,
        "Registered",
        &json!({"market": m, "account": who, "role": role.tag(), "record": record}),
    );
    Ok(())
}

pub fn register_resource_provider(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    instructions_per_sec: u64,
) -> Result<()> {
    if instructions_per_sec == 0 {
        return Err(ComputeError::InvalidCall(
            "instructions_per_sec must be positive",
        ));
    }
    let record = ResourceProvider {
        instructions_per_sec,
    };
    register(ctx, m, Role::ResourceProvider, &record)
}

pub fn register_directory(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    availability_fee: u64,
    endpoint: String,
) -> Result<()> {
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(ComputeError::InvalidCall("endpoint longer than 256 bytes"));
    }
    let record = Directory {
        availability_fee,
        endpoint,
    };
    register(ctx, m, Role::Directory, &record)
}

pub fn set_trust(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    kind: TrustKind,
    target: Address,
    trusted: bool,
) -> Result<()> {
    load_market(ctx, m)?;
    let who = ctx.sender();
    let mut allowed =
        is(ctx, m, Role::JobCreator, &who)? || is(ctx, m, Role::ResourceProvider, &who)?;
    if kind == TrustKind::Directory {
        allowed = allowed || is(ctx, m, Role::Mediator, &who)?;
    }
    if !allowed {
        return Err(ComputeError::NotRegistered);
    }
    let target_role = match kind {
        TrustKind::Mediator => Role::Mediator,
        TrustKind::Directory => Role::Directory,
    };
    if trusted && !is(ctx, m, target_role, &target)? {
        return Err(ComputeError::TargetNotRegistered);
    }
    let k = trust_key(m, &who, kind, &target);
    if trusted {
        ctx.store(k, &());
    } else {
        ctx.delete(k);
    }
    ctx.emit(
        NAME,
        "TrustChanged",
        &json!({"market": m, "owner": who, "kind": kind, "target": target, "trusted": trusted}),
    );
    Ok(())
}

pub fn set_runtime(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    runtime: RuntimeId,
    supported: bool,
) -> Result<()> {
    load_market(ctx, m)?;
    let who = ctx.sender();
    if !is(ctx, m, Role::ResourceProvider, &who)? && !is(ctx, m, Role::Mediator, &who)? {
        return Err(ComputeError::NotRegistered);
    }
    let k = runtime_key(m, &who, &runtime);
    if supported {
        ctx.store(k, &());
    } else {
        ctx.delete(k);
    }
    ctx.emit(
        NAME,
        "RuntimeChanged",
        &json!({"market": m, "owner": who, "runtime": runtime, "supported": supported}),
    );
    Ok(())
}

/// The next offer id of the market (job and resource offers share one sequence).
fn next_offer(ctx: &mut TxContext<'_>, market: &mut Market) -> Result<OfferId> {
    let id = market.next_offer;
    market.next_offer = id.checked_add(1).ok_or(ComputeError::Overflow)?;
    ctx.store(market_key(market.id), &*market);
    Ok(id)
}

fn check_incentive(market: &Market, incentive: u64) -> Result<()> {
    let min = market.params.min_match_incentive;
    if incentive < min {
        return Err(ComputeError::IncentiveTooSmall { incentive, min });
    }
    Ok(())
}

pub fn post_resource_offer(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    caps: Resources,
    prices: Prices,
    match_incentive: u64,
    deposit: u64,
) -> Result<()> {
    let mut market = load_market(ctx, m)?;
    let owner = ctx.sender();
    if !is(ctx, m, Role::ResourceProvider, &owner)? {
        return Err(ComputeError::NotResourceProvider);
    }
    check_incentive(&market, match_incentive)?;
    // Only the incentive is knowable before a job is chosen; eq. 3.2 is checked at match.
    let min = match_incentive.max(1);
    if deposit < min {
        return Err(ComputeError::DepositTooSmall { deposit, min });
    }
    let hold = Bank::hold(ctx, &owner, deposit, &module_account(NAME))?;
    let id = next_offer(ctx, &mut market)?;
    let offer = ResourceOffer {
        id,
        owner,
        caps,
        prices,
        match_incentive,
        deposit,
        hold,
        state: OfferState::Open,
    };
    ctx.store(res_key(m, id), &offer);
    ctx.store(open_res_key(m, id), &());
    ctx.emit(
        NAME,
        "ResourceOfferPosted",
        &json!({"market": m, "offer": offer}),
    );
    Ok(())
}

/// A job offer's own terms (spec §2.3 call 9), without the market.
pub struct JobTerms {
    pub job: JobSpec,
    pub limits: Resources,
    pub max_prices: Prices,
    pub completion_deadline_ms: u64,
    pub match_incentive: u64,
    pub deposit: u64,
}

pub fn post_job_offer(ctx: &mut TxContext<'_>, m: MarketId, t: JobTerms) -> Result<()> {
    let mut market = load_market(ctx, m)?;
    let owner = ctx.sender();
    if !is(ctx, m, Role::JobCreator, &owner)? {
        return Err(ComputeError::NotJobCreator);
    }
    let directory: Directory = ctx
        .load(&role_key(m, Role::Directory, &t.job.directory))?
        .ok_or(ComputeError::UnknownDirectory)?;
    if t.job.runtime == [0; 32] {
        return Err(ComputeError::InvalidCall("runtime id must be non-zero"));
    }
    let job_bytes = t
        .job
        .module_bytes
        .checked_add(t.job.input_bytes)
        .ok_or(ComputeError::Overflow)?;
    if t.limits.bandwidth < job_bytes {
        return Err(ComputeError::LimitsBelowJob);
    }
    if t.completion_deadline_ms <= ctx.timestamp() {
        return Err(ComputeError::DeadlinePassed);
    }
    check_incentive(&market, t.match_incentive)?;
    // Eq. 3.2 less f_M, which depends on the mediator chosen at match.
    let estimate = crate::payout::price(t.limits.instructions, t.limits.bandwidth, t.max_prices)?;
    let p = &market.params;
    let min = crate::payout::min_deposit(
        p.penalty_rate,
        p.verification_count,
        estimate,
        0,
        directory.availability_fee,
        t.match_incentive,
    )?
    .max(1);
    if t.deposit < min {
        return Err(ComputeError::DepositTooSmall {
            deposit: t.deposit,
            min,
        });
    }
    let hold = Bank::hold(ctx, &owner, t.deposit, &module_account(NAME))?;
    let id = next_offer(ctx, &mut market)?;
    let offer = JobOffer {
        id,
        owner,
        job: t.job,
        limits: t.limits,
        max_prices: t.max_prices,
        completion_deadline_ms: t.completion_deadline_ms,
        match_incentive: t.match_incentive,
        deposit: t.deposit,
        hold,
        state: OfferState::Open,
    };
    ctx.store(job_key(m, id), &offer);
    ctx.store(open_job_key(m, id), &());
    ctx.emit(
        NAME,
        "JobOfferPosted",
        &json!({"market": m, "offer": offer, "estimate": estimate}),
    );
    Ok(())
}

pub(crate) fn load_job(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<JobOffer> {
    ctx.load(&job_key(m, o))?
        .ok_or(ComputeError::UnknownOffer(o))
}

pub(crate) fn load_res(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<ResourceOffer> {
    ctx.load(&res_key(m, o))?
        .ok_or(ComputeError::UnknownOffer(o))
}

/// What cancelling treats alike in job and resource offers.
trait Offer: borsh::BorshSerialize + borsh::BorshDeserialize {
    fn key(m: MarketId, o: OfferId) -> Vec<u8>;
    fn open_key(m: MarketId, o: OfferId) -> Vec<u8>;
    fn parts(&mut self) -> (Address, u64, &mut OfferState);
}

impl Offer for JobOffer {
    fn key(m: MarketId, o: OfferId) -> Vec<u8> {
        job_key(m, o)
    }
    fn open_key(m: MarketId, o: OfferId) -> Vec<u8> {
        open_job_key(m, o)
    }
    fn parts(&mut self) -> (Address, u64, &mut OfferState) {
        (self.owner, self.hold, &mut self.state)
    }
}

impl Offer for ResourceOffer {
    fn key(m: MarketId, o: OfferId) -> Vec<u8> {
        res_key(m, o)
    }
    fn open_key(m: MarketId, o: OfferId) -> Vec<u8> {
        open_res_key(m, o)
    }
    fn parts(&mut self) -> (Address, u64, &mut OfferState) {
        (self.owner, self.hold, &mut self.state)
    }
}

/// Ends an open offer: the whole hold goes back to its owner, the offer becomes `to`.
/// `owner_only` is the cancel rule; expiry is anyone's once due.
fn end_open<T: Offer>(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    o: OfferId,
    owner_only: bool,
    to: OfferState,
    due: impl FnOnce(&T) -> Result<()>,
) -> Result<()> {
    load_market(ctx, m)?;
    let mut offer: T = ctx
        .load(&T::key(m, o))?
        .ok_or(ComputeError::UnknownOffer(o))?;
    let sender = ctx.sender();
    let (owner, hold, state) = offer.parts();
    if owner_only && owner != sender {
        return Err(ComputeError::NotOfferOwner);
    }
    if *state != OfferState::Open {
        return Err(ComputeError::OfferNotOpen);
    }
    *state = to;
    due(&offer)?;
    let refunded = crate::settle::release(ctx, hold)?;
    ctx.store(T::key(m, o), &offer);
    ctx.delete(T::open_key(m, o));
    ctx.emit(
        NAME,
        "OfferCanceled",
        &json!({"market": m, "offer": o, "state": to, "refunded": refunded}),
    );
    Ok(())
}

pub fn cancel_job_offer(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<()> {
    end_open::<JobOffer>(ctx, m, o, true, OfferState::Canceled, |_| Ok(()))
}

pub fn cancel_resource_offer(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<()> {
    end_open::<ResourceOffer>(ctx, m, o, true, OfferState::Canceled, |_| Ok(()))
}

/// Anyone may return the hold of an open job offer whose completion deadline has passed: no
/// match can be feasible any more (the seed left such deposits locked).
pub fn expire_job_offer(ctx: &mut TxContext<'_>, m: MarketId, o: OfferId) -> Result<()> {
    let now = ctx.timestamp();
    end_open::<JobOffer>(ctx, m, o, false, OfferState::Expired, |job| {
        if now <= job.completion_deadline_ms {
            return Err(ComputeError::NotDue {
                after_ms: job.completion_deadline_ms,
            });
        }
        Ok(())
    })
}
