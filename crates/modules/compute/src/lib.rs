//! `compute`: MODiCuM, a market for outsourced batch computation (dissertation, chapter 3):
//! job creators (JC) buy runs of deterministic jobs from resource providers (RP); nobody is
//! trusted, so both post deposits, the JC verifies a random share of results, a mediator
//! re-executes disputed jobs and the faulty side is fined.
//!
//! # Protocol (numbers are the seed's equations; spec `shared/specs/compute.md` §2, §3)
//!
//! 1. **Market.** Anyone creates a market ([`ComputeCall::CreateMarket`]) with the penalty rate
//!    θ >= 1, the verification count n >= 1, the JC's reaction window, the mediator's window and
//!    the floor of the solver's incentive. The creator keeps no powers; the parameters never
//!    change, so the rules of a running match cannot either.
//! 2. **Registration.** An account registers, at most once per role, as a JC, an RP (declared
//!    instructions per second), a mediator (unit prices q_I, q_B and availability fee f_M) or a
//!    directory (availability fee f_D and endpoint). JCs and RPs keep lists of trusted mediators
//!    and directories, mediators of trusted directories ([`ComputeCall::SetTrust`]); RPs and
//!    mediators list the runtimes they run ([`ComputeCall::SetRuntime`]): a runtime id names
//!    the exact WASM execution environment and replaces the seed's architecture and base layer.
//! 3. **Offers.** An RP posts caps, ask prices p_I, p_B, its incentive i_R and a deposit; a JC
//!    posts a job (module and input hashes and sizes at a directory, the runtime), limits, bid
//!    prices P_I, P_B, a completion deadline T_c, i_J and a deposit. The bank holds each deposit
//!    under this module's account. The JC's deposit must cover eq. 3.2,
//!    dmin = θ·E + n·E + π_a with E = L_I·P_I + L_B·P_B (the JC's estimate π̂c) and
//!    π_a = f_M + f_D + i, except f_M, known only at match. An owner cancels an open offer and
//!    gets its whole deposit back; anyone expires a job offer past T_c.
//! 4. **Match.** Anyone (the solver) posts (job offer, resource offer, mediator). [`feasibility`]
//!    checks, naming the first violation: both offers open; limits within caps (instructions,
//!    memory, storage, bandwidth); ask prices within bids (so πc <= E: Table 3.1 constraint 5);
//!    the runtime supported by the RP and the mediator; every trust edge; the deadline at the
//!    RP's declared speed; the mediator's prices within the bids (so πm <= n·E); the mediator
//!    neither party; both deposits >= eq. 3.2 with the same E. The solver is paid i_J + i_R.
//! 5. **Result.** The RP runs the job and posts a status code, output hash and size, and the
//!    instructions used; the ledger checks the usage against the limits and the status's shape
//!    and prices it by eq. 3.1, πc = I·p_I + B·p_B (B: blobs downloaded plus output).
//! 6. **Reaction.** The JC accepts (any time), or rejects within its window with a reason the
//!    status allows; after the window anyone may accept. Accepting pays πc to the RP and each
//!    party's f_M and f_D.
//! 7. **Mediation.** The match's mediator re-executes n times and posts a verdict with its own
//!    run; the ledger checks the verdict against the on-ledger reports and derives the faulty
//!    party. The faulty party loses exactly dmin: πd (eq. 3.1 at the RP's prices on the usage
//!    the verdict rests on) to the wronged party, πm = n·(I_M·q_I + B_M·q_B) to the mediator,
//!    the rest of (θ + n)·E to an unspendable sink, and its fees. A directory fault fines no
//!    one; the mediator gets its fees.
//! 8. **Timeouts.** Anyone closes a match without a result after T_c (the RP pays the JC E) or
//!    a mediation past its window (the RP gets floor(E/2) from the JC, the mediator nothing).
//!
//! Every payment is a bank slash of a deposit and every rest is released when the match
//! closes ([`payout`] has the table), so the supply is conserved and no hold outlives its job.
//! Every refusal carries a reason code ([`ComputeError::reason`]) and changes nothing.
//! Identities come from signatures, never from arguments.

pub mod examples;
pub mod feasibility;
mod jobs;
mod market;
mod matching;
pub mod payout;
mod query;
mod settle;
mod store;
pub mod types;

pub use feasibility::Violation;
pub use settle::sink;
pub use types::*;

use agora_bank::BankError;
use agora_ledger::{Module, QueryError, ReasonCode, StateError, StateRead, TxContext};
use store::Role;

pub const NAME: &str = "compute";

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("malformed compute call: {0}")]
    Malformed(String),
    #[error("invalid market parameters: {0}")]
    InvalidParams(&'static str),
    #[error("invalid call: {0}")]
    InvalidCall(&'static str),
    #[error("no market {0}")]
    UnknownMarket(MarketId),
    #[error("already registered in this role")]
    AlreadyRegistered,
    #[error("the sender holds no role allowed to do this")]
    NotRegistered,
    #[error("the target is not registered in the role the trust list is for")]
    TargetNotRegistered,
    #[error("the directory is not registered")]
    UnknownDirectory,
    #[error("the mediator is not registered")]
    UnknownMediator,
    #[error("only the job creator may do this")]
    NotJobCreator,
    #[error("only the resource provider may do this")]
    NotResourceProvider,
    #[error("only the match's mediator may do this")]
    NotMediator,
    #[error("match incentive {incentive} below the market's floor {min}")]
    IncentiveTooSmall { incentive: u64, min: u64 },
    #[error("deposit {deposit} below the minimum {min}")]
    DepositTooSmall { deposit: u64, min: u64 },
    #[error("the bandwidth limit does not cover the job's blobs")]
    LimitsBelowJob,
    #[error("the deadline has passed")]
    DeadlinePassed,
    #[error("no offer {0}")]
    UnknownOffer(OfferId),
    #[error("only the offer's owner may do this")]
    NotOfferOwner,
    #[error("the offer is not open")]
    OfferNotOpen,
    #[error("no match {0}")]
    UnknownMatch(MatchId),
    #[error("the match is closed")]
    MatchClosed,
    #[error("not allowed while the match is {0:?}")]
    WrongState(MatchState),
    #[error("may be called after {after_ms} ms")]
    NotDue { after_ms: u64 },
    #[error("usage exceeds the job's limits")]
    UsageExceedsLimit,
    #[error("the report does not have the shape of status {0:?}")]
    InconsistentResult(ResultStatus),
    #[error("the reason does not apply to the result's status")]
    ReasonNotAllowed,
    #[error("verdict {0:?} contradicts the reports on the ledger")]
    InconsistentVerdict(Verdict),
    #[error("match refused: {0}")]
    Infeasible(Violation),
    #[error("amount overflows")]
    Overflow,
    #[error("corrupt compute state")]
    Corrupt,
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl ReasonCode for ComputeError {
    fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_call",
            Self::InvalidParams(_) => "invalid_params",
            Self::InvalidCall(_) => "invalid_call",
            Self::UnknownMarket(_) => "unknown_market",
            Self::AlreadyRegistered => "already_registered",
            Self::NotRegistered => "not_registered",
            Self::TargetNotRegistered => "target_not_registered",
            Self::UnknownDirectory => "unknown_directory",
            Self::UnknownMediator => "unknown_mediator",
            Self::NotJobCreator => "not_job_creator",
            Self::NotResourceProvider => "not_resource_provider",
            Self::NotMediator => "not_mediator",
            Self::IncentiveTooSmall { .. } => "incentive_too_small",
            Self::DepositTooSmall { .. } => "deposit_too_small",
            Self::LimitsBelowJob => "limits_below_job",
            Self::DeadlinePassed => "deadline_passed",
            Self::UnknownOffer(_) => "unknown_offer",
            Self::NotOfferOwner => "not_offer_owner",
            Self::OfferNotOpen => "offer_not_open",
            Self::UnknownMatch(_) => "unknown_match",
            Self::MatchClosed => "match_closed",
            Self::WrongState(_) => "wrong_state",
            Self::NotDue { .. } => "not_due",
            Self::UsageExceedsLimit => "usage_exceeds_limit",
            Self::InconsistentResult(_) => "inconsistent_result",
            Self::ReasonNotAllowed => "reason_not_allowed",
            Self::InconsistentVerdict(_) => "inconsistent_verdict",
            Self::Infeasible(v) => v.reason(),
            Self::Overflow => "overflow",
            Self::Corrupt => "corrupt_state",
            Self::Bank(e) => e.reason(),
            Self::State(_) => "state_error",
        }
    }
}

agora_hybrid::market_module!(NAME, ComputeCall, ComputeError);

/// The compute module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compute;

impl Module for Compute {
    type Call = ComputeCall;
    type Error = ComputeError;

    fn name(&self) -> &'static str {
        NAME
    }

    fn decode_call(&self, payload: &[u8]) -> Result<ComputeCall, ComputeError> {
        ComputeCall::decode(payload)
    }

    fn execute(&self, ctx: &mut TxContext<'_>, call: ComputeCall) -> Result<(), ComputeError> {
        use ComputeCall as C;
        match call {
            C::CreateMarket(params) => market::create_market(ctx, params),
            C::RegisterJobCreator { market } => {
                market::register(ctx, market, Role::JobCreator, &())
            }
            C::RegisterResourceProvider {
                market,
                instructions_per_sec,
            } => market::register_resource_provider(ctx, market, instructions_per_sec),
            C::RegisterMediator {
                market,
                prices,
                availability_fee,
            } => market::register(
                ctx,
                market,
                Role::Mediator,
                &Mediator {
                    prices,
                    availability_fee,
                },
            ),
            C::RegisterDirectory {
                market,
                availability_fee,
                endpoint,
            } => market::register_directory(ctx, market, availability_fee, endpoint),
            C::SetTrust {
                market,
                kind,
                target,
                trusted,
            } => market::set_trust(ctx, market, kind, target, trusted),
            C::SetRuntime {
                market,
                runtime,
                supported,
            } => market::set_runtime(ctx, market, runtime, supported),
            C::PostResourceOffer {
                market,
                caps,
                prices,
                match_incentive,
                deposit,
            } => market::post_resource_offer(ctx, market, caps, prices, match_incentive, deposit),
            C::PostJobOffer {
                market,
                job,
                limits,
                max_prices,
                completion_deadline_ms,
                match_incentive,
                deposit,
            } => market::post_job_offer(
                ctx,
                market,
                market::JobTerms {
                    job,
                    limits,
                    max_prices,
                    completion_deadline_ms,
                    match_incentive,
                    deposit,
                },
            ),
            C::CancelJobOffer { market, offer } => market::cancel_job_offer(ctx, market, offer),
            C::CancelResourceOffer { market, offer } => {
                market::cancel_resource_offer(ctx, market, offer)
            }
            C::ExpireJobOffer { market, offer } => market::expire_job_offer(ctx, market, offer),
            C::PostMatch {
                market,
                job_offer,
                resource_offer,
                mediator,
            } => matching::post_match(ctx, market, job_offer, resource_offer, mediator),
            C::PostResult {
                market,
                match_id,
                report,
            } => jobs::post_result(ctx, market, match_id, report),
            C::AcceptResult { market, match_id } => jobs::accept_result(ctx, market, match_id),
            C::RejectResult {
                market,
                match_id,
                reason,
            } => jobs::reject_result(ctx, market, match_id, reason),
            C::PostMediationResult {
                market,
                match_id,
                verdict,
                execution,
            } => jobs::post_mediation_result(ctx, market, match_id, verdict, execution),
            C::Timeout { market, match_id } => jobs::timeout(ctx, market, match_id),
            C::MediationTimeout { market, match_id } => {
                jobs::mediation_timeout(ctx, market, match_id)
            }
        }
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        query::answer(state, path, params)
    }
}
