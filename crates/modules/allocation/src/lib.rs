//! `allocation`: SolidWorx, the generic resource-allocation market (dissertation, chapter 6),
//! solved off the ledger by anyone and verified exactly on it (`agora_hybrid`).
//!
//! # Protocol (equation numbers are the seed's; spec `shared/specs/allocation.md`)
//!
//! 1. **Market** (`setup`). Any account creates a market ([`AllocationCall::CreateMarket`]) and
//!    becomes its admin: phase lengths, `max_quantity`, alternatives per offer, the objective
//!    (6.5 quantity, 6.10 type utility β_t, or 6.12 welfare), price bounds (6.13), a pair rule
//!    over zones (6.14), settlement on or off, per-cycle caps. It starts cycle 0 in Receive.
//! 2. **Receive** (Fig. 6.3). Any account creates offers (`CreateOffer`, side and `misc`); the
//!    owner (the signer, never an argument) sets alternatives (`UpdateOffer`: o_Q(t), o_V(t);
//!    quantity 0 removes one), posts (`PostOffer`) and may cancel and re-post (`CancelOffer`);
//!    `PlaceOffer` does create, update and post at once. Posting fixes the offer's exact scale,
//!    lcm of its quantities (refused if it overflows `u64`) and, when settling, holds a
//!    consumer's worst-case payment max_t o_Q(t)·o_V(t). The admin may set owners' zones.
//! 3. **Close.** Once the phase has lasted `receive_ms` on the block clock, anyone calls
//!    `Close`: the posted offers of the cycle are frozen and the market enters Solve.
//! 4. **Solve.** Anyone submits assignments ⟨provider offer, consumer offer, type, quantity,
//!    price⟩: whole (`SubmitSolution`, refused unless strictly better than the candidate) or
//!    staged (`CreateSolution`, then `AddAssignments` by its creator, all-or-nothing per call).
//!    [`verify`] checks each assignment exactly (spec 2.6): positive quantity, both offers of
//!    this cycle, posted and on their sides, the type an alternative of both (6.0a), the price
//!    within both values (6.3, 6.4) and the type's bounds (6.13), the owners' zones allowed
//!    (6.14), and each offer's use Σ a_Q / o_Q(t) ≤ 1 (6.1, 6.2) as Σ a_Q · scale/o_Q(t) ≤ scale
//!    in integers. The score is (objective, quantity moved), compared lexicographically. A
//!    solution replaces the candidate only with a strictly greater score; ties keep the earlier;
//!    a staged candidate that grows keeps its place.
//! 5. **Finalize.** Once Solve has lasted `solve_ms`, anyone calls `Finalize`: the candidate
//!    (or the empty allocation) becomes the cycle's record, each assignment pays a_Q · a_V from
//!    its consumer's hold to its provider when settling, and the next cycle starts in Receive
//!    from the empty candidate (the prototype kept the stale best score, breaking every later
//!    cycle). After that `ReleaseOffer` returns what is left of a hold.
//!
//! Every refusal carries a reason code ([`AllocationError::reason`]); a refused call changes
//! nothing. Offers and solutions belong to the cycle they were created in.

pub mod examples;
mod market;
pub mod params;
pub mod reference;
mod solution;
mod store;
pub mod types;
pub mod verify;

pub use types::*;
pub use verify::{verify, Context, Usage, Violation};

use agora_bank::BankError;
use agora_hybrid::{StageError, StoreError};
use agora_ledger::{
    query_param, Module, Page, QueryError, ReasonCode, StateError, StateRead, TxContext,
};
use agora_types::Address;
use serde_json::json;
use store::*;

pub const NAME: &str = "allocation";

#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    #[error("malformed allocation call: {0}")]
    Malformed(String),
    #[error("invalid market parameters: {0}")]
    InvalidParams(&'static str),
    #[error("no market {0}")]
    UnknownMarket(MarketId),
    #[error("only the market's admin may do this")]
    NotAdmin,
    #[error("not allowed while the market is in {0:?}")]
    WrongPhase(Phase),
    #[error("the cycle has its maximum number of offers")]
    TooManyOffers,
    #[error("no offer {0}")]
    UnknownOffer(OfferId),
    #[error("offer {0} belongs to another cycle")]
    OfferOtherCycle(OfferId),
    #[error("only the offer's owner may do this")]
    NotOwner,
    #[error("the offer is posted")]
    OfferPosted,
    #[error("the offer is not posted")]
    OfferNotPosted,
    #[error("at most 1,024 updates per call")]
    TooManyUpdates,
    #[error("quantity {quantity} exceeds the market's maximum {max}")]
    QuantityTooLarge { quantity: u64, max: u64 },
    #[error("an alternative needs a positive quantity")]
    ZeroQuantity,
    #[error("alternatives must be sorted by type and distinct (type {0})")]
    UnsortedTypes(TypeId),
    #[error("an offer has at most {0} alternatives")]
    TooManyTypes(u32),
    #[error("the offer has no alternatives")]
    NoAlternatives,
    #[error("the lcm of the offer's quantities exceeds 2^64 - 1")]
    ScaleOverflow,
    #[error("may be called from {due_at} ms")]
    NotDue { due_at: i128 },
    #[error("the cycle has its maximum number of solutions")]
    TooManySolutions,
    #[error("no solution {0}")]
    UnknownSolution(SolutionId),
    #[error("at most 20,000 assignments per call")]
    TooManyAssignments,
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error("solution refused: {0}")]
    Infeasible(#[from] Violation),
    #[error("solution score {score:?} does not exceed the candidate's {candidate:?}")]
    NotBetter { score: Score, candidate: Score },
    #[error("the offer's cycle is not final")]
    NotFinal,
    #[error("the offer holds nothing")]
    NothingHeld,
    #[error("amount overflows")]
    Overflow,
    #[error("corrupt allocation state")]
    Corrupt,
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl ReasonCode for AllocationError {
    fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_call",
            Self::InvalidParams(_) => "invalid_params",
            Self::UnknownMarket(_) => "unknown_market",
            Self::NotAdmin => "not_admin",
            Self::WrongPhase(_) => "wrong_phase",
            Self::TooManyOffers => "too_many_offers",
            Self::UnknownOffer(_) => "unknown_offer",
            Self::OfferOtherCycle(_) => "offer_other_cycle",
            Self::NotOwner => "not_owner",
            Self::OfferPosted => "offer_posted",
            Self::OfferNotPosted => "offer_not_posted",
            Self::TooManyUpdates => "too_many_updates",
            Self::QuantityTooLarge { .. } => "quantity_too_large",
            Self::ZeroQuantity => "zero_quantity",
            Self::UnsortedTypes(_) => "unsorted_types",
            Self::TooManyTypes(_) => "too_many_types",
            Self::NoAlternatives => "no_alternatives",
            Self::ScaleOverflow => "offer_scale_overflow",
            Self::NotDue { .. } => "not_due",
            Self::TooManySolutions => "too_many_solutions",
            Self::UnknownSolution(_) => "unknown_solution",
            Self::TooManyAssignments => "too_many_assignments",
            Self::Stage(e) => e.reason(),
            Self::Infeasible(v) => v.reason(),
            Self::NotBetter { .. } => "solution_not_better",
            Self::NotFinal => "not_final",
            Self::NothingHeld => "nothing_held",
            Self::Overflow => "overflow",
            Self::Corrupt => "corrupt_state",
            Self::Bank(e) => e.reason(),
            Self::State(_) => "state_error",
        }
    }
}

agora_hybrid::market_module!(NAME, AllocationCall, AllocationError);

/// The allocation module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Allocation;

fn answer<T: serde::Serialize>(
    value: Option<T>,
    what: &str,
) -> Result<serde_json::Value, QueryError> {
    let value = value.ok_or_else(|| QueryError::NotFound(what.to_string()))?;
    serde_json::to_value(value).map_err(|e| QueryError::BadParams(e.to_string()))
}

fn corrupt(e: StoreError) -> QueryError {
    match e {
        StoreError::State(e) => QueryError::State(e),
        StoreError::Corrupt => QueryError::NotFound("corrupt allocation state".into()),
    }
}

/// The posted offers of a cycle, by id.
fn posted_offers(state: &dyn StateRead, m: MarketId, cycle: u64) -> Result<Vec<Offer>, StoreError> {
    let mut offers = Vec::new();
    for (key, _) in state.scan_prefix(&posted_prefix(m, cycle))? {
        let id = parse_u64_suffix(&key)?;
        offers.push(read(state, &offer_key(m, id))?.ok_or(StoreError::Corrupt)?);
    }
    Ok(offers)
}

/// The solver's input: the market's rules, its phase and due time, the cycle's posted offers
/// with their owners' zones, and the candidate's score.
fn open_problem(
    state: &dyn StateRead,
    m: MarketId,
) -> Result<Option<serde_json::Value>, StoreError> {
    let Some(market) = read::<Market>(state, &market_key(m))? else {
        return Ok(None);
    };
    let mut offers = Vec::new();
    for o in posted_offers(state, m, market.cycle)? {
        let zone: Zone = read(state, &zone_key(m, &o.owner))?.unwrap_or(0);
        offers.push(
            json!({"id": o.id, "side": o.side, "owner": o.owner, "zone": zone,
            "alternatives": o.alternatives, "scale": o.scale}),
        );
    }
    let length = match market.phase {
        Phase::Receive => market.params.receive_ms,
        Phase::Solve => market.params.solve_ms,
    };
    let p = &market.params;
    Ok(Some(json!({
        "market": m, "cycle": market.cycle, "phase": market.phase,
        "phase_since_ms": market.phase_since_ms,
        "due_ms": market.phase_since_ms.saturating_add(length),
        "objective": p.objective, "default_bound": p.default_bound,
        "price_bounds": p.price_bounds, "pairs": p.pairs, "offers": offers,
        "candidate": {"solution": market.candidate.solution, "score": market.candidate.score},
    })))
}

impl Module for Allocation {
    type Call = AllocationCall;
    type Error = AllocationError;

    fn name(&self) -> &'static str {
        NAME
    }

    fn decode_call(&self, payload: &[u8]) -> Result<AllocationCall, AllocationError> {
        AllocationCall::decode(payload)
    }

    fn execute(
        &self,
        ctx: &mut TxContext<'_>,
        call: AllocationCall,
    ) -> Result<(), AllocationError> {
        use AllocationCall as C;
        match call {
            C::CreateMarket(params) => market::create_market(ctx, params),
            C::SetZone {
                market,
                account,
                zone,
            } => market::set_zone(ctx, market, account, zone),
            C::CreateOffer { market, side, misc } => market::create_offer(ctx, market, side, misc),
            C::UpdateOffer {
                market,
                offer,
                updates,
            } => market::update_offer(ctx, market, offer, updates),
            C::PostOffer { market, offer } => market::post_offer(ctx, market, offer),
            C::CancelOffer { market, offer } => market::cancel_offer(ctx, market, offer),
            C::PlaceOffer {
                market,
                side,
                misc,
                alternatives,
            } => market::place_offer(ctx, market, side, misc, alternatives),
            C::Close { market } => market::close(ctx, market),
            C::CreateSolution { market, misc } => solution::create_solution(ctx, market, misc),
            C::AddAssignments {
                market,
                solution,
                assignments,
            } => solution::add_assignments(ctx, market, solution, assignments),
            C::SubmitSolution {
                market,
                misc,
                assignments,
            } => solution::submit_solution(ctx, market, misc, assignments),
            C::Finalize { market } => solution::finalize(ctx, market),
            C::ReleaseOffer { market, offer } => market::release_offer(ctx, market, offer),
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
            "market" => answer(
                read::<Market>(state, &market_key(m)).map_err(corrupt)?,
                "market",
            ),
            "offer" => {
                let o: OfferId = query_param(params, "offer")?;
                answer(
                    read::<Offer>(state, &offer_key(m, o)).map_err(corrupt)?,
                    "offer",
                )
            }
            "offers" => {
                let cycle: u64 = query_param(params, "cycle")?;
                Page::from_params(params)?
                    .ids(state, &posted_prefix(m, cycle))?
                    .try_map(|o| {
                        read::<Offer>(state, &offer_key(m, o))
                            .map_err(corrupt)?
                            .ok_or_else(|| corrupt(StoreError::Corrupt))
                    })?
                    .answer("offers")
            }
            "zone" => {
                let account: Address = query_param(params, "account")?;
                let zone: Zone = read(state, &zone_key(m, &account))
                    .map_err(corrupt)?
                    .unwrap_or(0);
                answer(Some(zone), "zone")
            }
            "open_problem" => answer(open_problem(state, m).map_err(corrupt)?, "market"),
            "candidate" => {
                let market = read::<Market>(state, &market_key(m)).map_err(corrupt)?;
                answer(market.map(|mk| mk.candidate), "market")
            }
            "solution" => {
                let s: SolutionId = query_param(params, "solution")?;
                let found = solution::read_solution(state, m, s).map_err(corrupt)?;
                answer(
                    found.map(|(staged, assignments)| {
                        json!({"solution": s, "creator": staged.creator,
                    "cycle": staged.round, "misc": staged.meta.misc, "score": staged.meta.score,
                    "parts": staged.parts, "assignments": assignments})
                    }),
                    "solution",
                )
            }
            "finalized" => {
                let cycle: u64 = query_param(params, "cycle")?;
                let Some(record) = read::<Final>(state, &final_key(m, cycle)).map_err(corrupt)?
                else {
                    return Err(QueryError::NotFound("cycle not finalized".into()));
                };
                let assignments = match record.solution {
                    Some(s) => solution::read_solution(state, m, s)
                        .map_err(corrupt)?
                        .map(|(_, a)| a)
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                answer(
                    Some(json!({"cycle": cycle, "record": record, "assignments": assignments})),
                    "finalized",
                )
            }
            _ => Err(QueryError::UnknownPath {
                module: NAME.into(),
                path: path.into(),
            }),
        }
    }
}
