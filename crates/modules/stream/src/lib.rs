//! `stream`: a market for outsourced stream processing with replicas, hashed commitments and
//! mediation (dissertation, chapter 4; spec `shared/specs/stream.md`, docs/stream.md).
//!
//! A customer buys continuous processing of a stateless, deterministic service ψ at λ inputs
//! per second over [a_start, a_end] from r supplier replicas. Bulk traffic (offers, inputs,
//! outputs) stays off the ledger; the ledger holds the money, the commitments and the clock.
//!
//! # Protocol (equation numbers are the seed's; L0-L10 are the spec's calls)
//!
//! 1. **Market** (L0 [`StreamCall::CreateMarket`]). Anyone creates a market with its penalty
//!    rate ρ, the allocator's and mediator's fees π_A, π_m, the time-outs and the time-out fines
//!    τ_s, τ_c. The creator keeps no powers.
//! 2. **Allocation** (L1, L2). An allocator matches offers off the ledger (eq. 4.1, 4.2) and
//!    writes the terms Ω = (customer, mediator, window, λ, I_c, π_x, r); it becomes the
//!    allocation's allocator. The module derives N = λΔ (exact), π_s = I_c·π_x, V = N·π_s per
//!    replica, n = ⌈N/ρ⌉ tests with n < ρ (eq. 4.4's condition; with ρ ≥ λΔ/n also eq. 4.6's),
//!    fines F_s = ρ·π_s and F_c = r·ρ·π_s, and the escrow P_c = r·V + π_A + π_m ([`terms`]). It
//!    adds the r suppliers one by one; the last fixes the terms hash and opens signing.
//! 3. **Signing** (L3-L5, before D_sign = min(created + T_sign, a_end)). The mediator signs; the
//!    customer signs with Γ_i = H(γ_i(O_c)) for every slot (eq. 4.7, bound to slot i's supplier,
//!    [`hashing`]) and the bank holds its escrow and deposit; each supplier signs and the bank
//!    holds its deposit. Every signature carries the terms hash. When all have signed, π_A
//!    goes to the allocator and the allocation is **Running**.
//! 4. **Service** (off the ledger). Suppliers process every input; the customer hides its n
//!    pre-recorded test inputs among them.
//! 5. **Reveal** (L6, a_end ≤ now < D_reveal). The customer puts α(O_c), the hashes of its n
//!    tests, on the ledger.
//! 6. **Outputs** (L7, before D_post). Each supplier finds its outputs O_v whose α is in the
//!    checklist and posts γ_i(O_v); the ledger checks H(γ_i) = Γ_i. The first mismatch requests
//!    mediation.
//! 7. **Mediation** (L8, before D_med). The mediator re-processes the customer's test inputs and
//!    posts Γ^m_i per slot and whether the on-ledger checklist was honest.
//! 8. **Clearing** (L9, anyone, once due). The verdicts and payouts of [`verdict`]: each paid
//!    replica gets V, every other replica's V goes to the market's treasury ("the customer pays
//!    regardless"); faulty parties lose their deposit, the mediator's n·π_s coming out of these
//!    fines; silent parties lose τ of their deposit; the mediator earns π_m unless it was
//!    silent. Everything left in a hold returns to its owner. Against a false checklist see
//!    below.
//! 9. **Cancel** (L10, anyone, once D_sign passed without every signature). Every hold returns.
//!
//! # Against a false checklist (spec 3.5 changed; seed Table 4.4 o3, o4)
//!
//! Spec 3.5 paid every replica that posted when the mediator reported `checklist_ok = false`
//! ("nobody can judge it"). A customer that computed no test (the seed's s̄_c) and reveals
//! random hashes then made a lazy replica's pay certain: laziness was free whenever the
//! customer was lazy too, where the seed's o4 fines both (π_sd, π_cd). The rule now:
//!
//! - the customer pays F_c (o3, o4: π_cd), n·π_s of it to the mediator (3.6 row B);
//! - a replica that posted is paid only for a γ whose hash the ledger checks: SHA-256(γ_i)
//!   equal to the mediator's Γ^m_i (its re-run of the customer's test seqs, 3.5 step 2) or to
//!   the customer's own Γ_i (eq. 4.7: what the customer committed to pay for);
//! - any other replica that posted is **unjudged**: F_s back, its V to the treasury (the
//!   customer pays regardless, A13; refunding V would sell the work for F_c < r·V);
//! - a replica that did not post is timed out as in row B (τ_s·F_s, A16).
//!
//! G4's allocation (r = 2, V = 240 000, F_s = 20 000, F_c = 40 000, n·π_s = 240; allocator
//! +3 000, mediator +273 and customer −523 033 in every row), customer revealing random
//! hashes, mediator reporting Γ^m over the true tests (`tests/false_checklist.rs`):
//!
//! | slot 0 + slot 1 | slot 0 | slot 1 | treasury | spec 3.5 paid |
//! | --- | --- | --- | --- | --- |
//! | honest + honest (each finds nothing, posts γ(∅)) | 0 | 0 | 519 760 | +V, +V |
//! | honest + lazy | 0 | 0 | 519 760 | +V, +V |
//! | honest + copier of slot 0's γ | 0 | 0 | 519 760 | +V, +V |
//! | honest + silent | 0 | −20 000 | 539 760 | +V, −F_s |
//! | mixed: the checklist named the true tests (found false for another reason, e.g. the customer did not answer the mediator), slot 0 honest, slot 1 lazy or a copier | +240 000 | 0 | 279 760 | +V, +V |
//!
//! What it gives: (a) no replica that posted is fined because the checklist was false; (b) no
//! replica is paid for a γ that opens neither Γ^m_i nor Γ_i; (c) the customer pays F_c; (d)
//! every payment comes out of a hold, the rest released (`tests/verdicts.rs`); (e) the
//! mediator's boolean alone pays nobody: it only decides the customer's fine, and the mediator
//! gains nothing by it (its n·π_s is paid once from any fine, and a mediation always has one:
//! spec 3.5).
//!
//! What it cannot give: against random hashes an honest replica finds none of its outputs in
//! α_c and posts the same γ(∅) as a replica that did nothing, so the ledger cannot tell o3
//! from o4; both go unpaid (not fined). The supplier's margin for working stays
//! P_c·(V + F_s) − N·π_sε (P_c: the chance its customer is honest), as before; only the lazy
//! replica's pay against a lying customer is gone. The price: a customer can now leave honest
//! replicas unpaid by lying, for F_c on top of the r·V it pays anyway (it gains nothing from
//! it: the V goes to the treasury). Paying the honest replica needs new
//! information from it: a retest round in which the mediator posts the true α_m and every
//! replica posts γ_i over it against Γ^m_i (not built: it needs a new call and deadline and the
//! supplier agent's answer). The mediator is trusted for Γ^m_i and `checklist_ok` (spec L3: no
//! deposit; the ledger holds no outputs to convict it of a wrong verdict).
//!
//! Every refusal carries a reason code ([`StreamError`]); a refused call changes nothing.
//! Identities come from the signer, never from arguments.

mod close;
pub mod examples;
pub mod hashing;
mod market;
mod store;
pub mod terms;
pub mod types;
pub mod verdict;

pub use store::{controller, treasury};
pub use terms::TermsError;
pub use types::*;

use agora_bank::BankError;
use agora_hybrid::StoreError;
use agora_ledger::{
    query_param, Module, Page, QueryError, ReasonCode, StateError, StateRead, TxContext,
};
use agora_types::Address;
use serde_json::json;
use store::*;

pub const NAME: &str = "stream";

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("malformed stream call: {0}")]
    Malformed(String),
    #[error("invalid market parameters: {0}")]
    InvalidParams(&'static str),
    #[error("no market {0}")]
    UnknownMarket(MarketId),
    #[error("no allocation {0}")]
    UnknownAllocation(AllocId),
    #[error("not allowed while the allocation is {0:?}")]
    WrongState(State),
    #[error("only the allocation's allocator may do this")]
    NotAllocator,
    #[error("only the allocation's customer may do this")]
    NotCustomer,
    #[error("only the allocation's mediator may do this")]
    NotMediator,
    #[error("only a supplier of the allocation may do this")]
    NotSupplier,
    #[error("a supplier must differ from the customer, the mediator and the other suppliers")]
    DuplicateParty,
    #[error("`done` must be set exactly on the r-th supplier")]
    ReplicasMismatch,
    #[error("{0}")]
    BadTerms(&'static str),
    #[error("the terms hash differs from the allocation's")]
    TermsMismatch,
    #[error("already signed")]
    AlreadySigned,
    #[error("{got} commitments for {expected} slots")]
    BadCommitment { expected: usize, got: usize },
    #[error("bad checklist: {0}")]
    BadChecklist(&'static str),
    #[error("the checklist is already revealed")]
    AlreadyRevealed,
    #[error("the checklist is not revealed yet")]
    NotRevealed,
    #[error("this slot already posted its output")]
    AlreadyPosted,
    #[error("{got} mediation hashes for {expected} slots")]
    BadMediation { expected: usize, got: usize },
    #[error("no mediation was requested")]
    MediationNotRequested,
    #[error("the mediator already reported")]
    MediationDone,
    #[error("not due yet")]
    NotDue,
    #[error("too late: the deadline passed")]
    TooLate,
    #[error("the allocator has its maximum of open allocations")]
    TooManyOpen,
    #[error("amount overflows")]
    Overflow,
    #[error("corrupt stream state")]
    Corrupt,
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<TermsError> for StreamError {
    fn from(e: TermsError) -> Self {
        match e {
            TermsError::Bad(why) => Self::BadTerms(why),
            TermsError::Overflow => Self::Overflow,
        }
    }
}

impl ReasonCode for StreamError {
    fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_call",
            Self::InvalidParams(_) => "invalid_params",
            Self::UnknownMarket(_) => "unknown_market",
            Self::UnknownAllocation(_) => "unknown_allocation",
            Self::WrongState(_) => "wrong_state",
            Self::NotAllocator => "not_allocator",
            Self::NotCustomer => "not_customer",
            Self::NotMediator => "not_mediator",
            Self::NotSupplier => "not_supplier",
            Self::DuplicateParty => "duplicate_party",
            Self::ReplicasMismatch => "replicas_mismatch",
            Self::BadTerms(_) => "bad_terms",
            Self::TermsMismatch => "terms_mismatch",
            Self::AlreadySigned => "already_signed",
            Self::BadCommitment { .. } => "bad_commitment",
            Self::BadChecklist(_) => "bad_checklist",
            Self::AlreadyRevealed => "already_revealed",
            Self::NotRevealed => "not_revealed",
            Self::AlreadyPosted => "already_posted",
            Self::BadMediation { .. } => "bad_mediation",
            Self::MediationNotRequested => "mediation_not_requested",
            Self::MediationDone => "mediation_done",
            Self::NotDue => "not_due",
            Self::TooLate => "too_late",
            Self::TooManyOpen => "too_many_open",
            Self::Overflow => "overflow",
            Self::Corrupt => "corrupt_state",
            Self::Bank(e) => e.reason(),
            Self::State(_) => "state_error",
        }
    }
}

agora_hybrid::market_module!(NAME, StreamCall, StreamError);

/// The stream module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stream;

fn corrupt(e: StoreError) -> QueryError {
    match e {
        StoreError::State(e) => QueryError::State(e),
        StoreError::Corrupt => QueryError::NotFound("corrupt stream state".into()),
    }
}

fn found<T>(value: Option<T>, what: &str) -> Result<T, QueryError> {
    value.ok_or_else(|| QueryError::NotFound(what.to_string()))
}

/// Where a stored allocation stands, from its flags (the clock decides what is due).
fn phase(a: &Allocation) -> &'static str {
    match (a.state, &a.mediation) {
        (State::Allocated, _) => "allocated",
        (State::Signing, _) => "signing",
        (State::Closed, _) => "closed",
        (State::Running, Some(m)) if m.gamma_gammas.is_some() => "mediated",
        (State::Running, Some(_)) => "mediating",
        (State::Running, None) if a.revealed => "posting",
        (State::Running, None) => "serving",
    }
}

/// An allocation with its phase and deadlines, as agents and keepers read it.
fn allocation_view(
    state: &dyn StateRead,
    m: MarketId,
    a: AllocId,
) -> Result<serde_json::Value, QueryError> {
    let market = found(
        read::<StreamMarket>(state, &market_key(m)).map_err(corrupt)?,
        "market",
    )?;
    let alloc = found(
        read::<Allocation>(state, &alloc_key(m, a)).map_err(corrupt)?,
        "allocation",
    )?;
    let p = &market.params;
    Ok(json!({
        "allocation": alloc, "phase": phase(&alloc),
        "sign_deadline_ms": alloc.sign_deadline(p), "reveal_deadline_ms": alloc.reveal_deadline(p),
        "post_deadline_ms": alloc.post_deadline(p), "mediation_deadline_ms": alloc.mediation_deadline(p),
    }))
}

impl Module for Stream {
    type Call = StreamCall;
    type Error = StreamError;

    fn name(&self) -> &'static str {
        NAME
    }

    fn decode_call(&self, payload: &[u8]) -> Result<StreamCall, StreamError> {
        StreamCall::decode(payload)
    }

    fn execute(&self, ctx: &mut TxContext<'_>, call: StreamCall) -> Result<(), StreamError> {
        use StreamCall as C;
        match call {
            C::CreateMarket(params) => market::create_market(ctx, params),
            C::CreateAllocation { market, terms } => market::create_allocation(ctx, market, terms),
            C::AddSupplier {
                market,
                allocation,
                supplier,
                offer_hash,
                done,
            } => market::add_supplier(ctx, market, allocation, supplier, offer_hash, done),
            C::MediatorSign {
                market,
                allocation,
                terms_hash,
            } => market::mediator_sign(ctx, market, allocation, terms_hash),
            C::CustomerSign {
                market,
                allocation,
                terms_hash,
                commitments,
            } => market::customer_sign(ctx, market, allocation, terms_hash, commitments),
            C::SupplierSign {
                market,
                allocation,
                terms_hash,
            } => market::supplier_sign(ctx, market, allocation, terms_hash),
            C::RevealChecklist {
                market,
                allocation,
                hashes,
            } => close::reveal_checklist(ctx, market, allocation, hashes),
            C::PostOutput {
                market,
                allocation,
                gamma,
            } => close::post_output(ctx, market, allocation, gamma),
            C::PostMediation {
                market,
                allocation,
                gamma_gammas,
                checklist_ok,
            } => close::post_mediation(ctx, market, allocation, gamma_gammas, checklist_ok),
            C::ClearMarket { market, allocation } => close::clear_market(ctx, market, allocation),
            C::ReturnDeposits { market, allocation } => {
                close::return_deposits(ctx, market, allocation)
            }
        }
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        let m: MarketId = query_param(params, "market")?;
        match path {
            "market" => {
                let market = read::<StreamMarket>(state, &market_key(m)).map_err(corrupt)?;
                Ok(json!(found(market, "market")?))
            }
            "allocation" => allocation_view(state, m, query_param(params, "allocation")?),
            "checklist" => {
                let a: AllocId = query_param(params, "allocation")?;
                let hashes: Vec<Hash> = found(
                    read(state, &checklist_key(m, a)).map_err(corrupt)?,
                    "checklist",
                )?;
                Ok(json!(hashes
                    .into_iter()
                    .map(market::hex)
                    .collect::<Vec<_>>()))
            }
            "terms_hash" => {
                let a: AllocId = query_param(params, "allocation")?;
                let alloc = found(
                    read::<Allocation>(state, &alloc_key(m, a)).map_err(corrupt)?,
                    "allocation",
                )?;
                Ok(json!(alloc.terms_hash.map(market::hex)))
            }
            "allocations_of" => {
                let account: Address = query_param(params, "account")?;
                Page::from_params(params)?
                    .ids(state, &party_prefix(m, &account))?
                    .answer("allocations")
            }
            "open" => Page::from_params(params)?
                .ids(state, &open_prefix(m))?
                .try_map(|a| allocation_view(state, m, a))?
                .answer("allocations"),
            "treasury" => Ok(json!({"market": m, "address": treasury(m)})),
            _ => Err(QueryError::UnknownPath {
                module: NAME.into(),
                path: path.into(),
            }),
        }
    }
}
