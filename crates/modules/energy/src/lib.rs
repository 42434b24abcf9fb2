//! `energy`: TRANSAX, a forward market for energy among the prosumers of a microgrid, safe for
//! the grid by construction (dissertation, chapter 2, sections 2.5 to 2.8).
//!
//! # Protocol (one market per microgrid; numbers are the seed's equations)
//!
//! 1. **Market.** The DSO creates a market ([`EnergyCall::CreateMarket`]) with the interval
//!    length Δ, the start of interval 0, T_clear and its price schedule (π^B, π^S per interval).
//! 2. **Groups.** The DSO defines each feeder's own group with its internal and external limits
//!    C^i_f, C^e_f, and any privacy groups of several feeders with limits C^i_g, C^e_g. A
//!    privacy group is refused unless it is safe for the registered prosumer limits: its limit
//!    may not exceed the smallest limit of a feeder whose prosumers can overload it (eq. 2.17),
//!    nor the sum of its feeders' limits (eq. 2.19). Registering a meter re-checks this.
//! 3. **Registration.** The DSO registers a smart meter: its feeder, the prosumer account it
//!    certified, and the prosumer's limits L⁺_u, L⁻_u. The prosumer binds itself
//!    ([`EnergyCall::RegisterProsumer`]) and so joins its feeder's groups.
//! 4. **Assets.** A prosumer withdraws production (EPA) or consumption (ECA) assets for future
//!    intervals into its public account, in one of its feeder's groups; per interval it can never
//!    hold more than L⁺_u (L⁻_u) in all (eq. 2.5 at the source). Assets may move to other (e.g.
//!    anonymous) accounts and keep their group; assets that back an open offer cannot move.
//!    **Mixing** (section 2.7.2): the registered prosumers of a group run CoinShuffle off the
//!    ledger (`agora-mixer`) and submit one [`EnergyCall::Mix`]: each input moves the same
//!    assets of the group (and the same funds) to one of the shuffled, sorted anonymous
//!    outputs. It is valid only with every input's signature of the [`MixStatement`] (which
//!    names the mixer's run), once per session whatever the run, and writes no record that
//!    pairs an input with an output; the assets keep their
//!    group, so eq. 2.5-2.7 bind anonymous offers exactly as public ones.
//! 5. **Offers.** Any account whose assets cover an offer posts it: side, energy E in Wh, the
//!    intervals I in which it may be delivered, reservation price R. A buying offer's funds,
//!    E·R, are held by the bank under this module's account until the offer closes.
//! 6. **Solutions.** Any account posts a solution for the intervals not yet final: trades
//!    (sell offer, buy offer, interval, energy, price), sorted. [`verify`] checks exactly, in
//!    integers and O(n log n): matchability (eq. 2.1), offer energy including finalized trades
//!    (2.2), per account, group and interval no more than its assets (2.5), per group and
//!    interval max(bought, sold) <= C^i (2.6) and |sold - bought| <= C^e (2.7), the same limits
//!    at every feeder under the worst-case attribution of every group containing it (so no
//!    grouping, overlapping or not, lets a feeder be overloaded; see [`verify`]), no trade in a
//!    final interval (2.9, 2.10), and the clearing rule ([`clearing`]): the trades are the rule's
//!    pairing of their own amounts, each at the midpoint of the two reservation prices (so 2.3
//!    holds). A solution is ranked by energy (2.4), then by gains from trade, then by its trade
//!    list; it replaces the candidate only if it ranks strictly higher.
//! 7. **Finalization.** Once interval t_f - T_clear - 1 ended, anyone may call
//!    [`EnergyCall::Finalize`] (the DSO's agent does by default): the candidate's trades of t_f
//!    become final (2.11, 2.12), buyers pay sellers from their holds, production assets go to
//!    the buyer and consumption assets to the seller, and `Finalized` is emitted. The rest of
//!    the candidate keeps serving later intervals while solvers are silent (section 2.8.1.2).
//!    Offers whose last interval is final close and return unspent funds.
//! 8. **Deposit and billing** ([`billing`]). After finalization every account of a prosumer
//!    deposits all its assets of the interval to a fresh address that only the prosumer and
//!    its meter can tell is the meter's (never the meter's registered address). The meter
//!    checks the deposits against the withdrawals, bills a shortfall as undelivered, measures
//!    E_u^t and posts per billing cycle each interval's residual; the ledger prices them by
//!    eq. 2.16 with the DSO's schedule (sign convention: [`billing`]) and settles the total in
//!    tokens between the prosumer and the DSO, carrying what the payer lacks as a debt.
//!
//! # Prices
//!
//! The seed leaves clearing prices open and lets the solver pick any price within both
//! reservation prices; the first volume-optimal solution then fixed prices and counterparties.
//! Here solvers choose only how much each offer trades in each interval; the ledger's rule
//! ([`clearing`]) fixes who trades with whom (highest-priced sellers with highest-priced
//! buyers) and the price (the midpoint, rounded down), and ranks equal-volume solutions by gains
//! from trade and then canonically, so the surviving candidate does not depend on who posted
//! first. The rule is individually rational (no one trades outside its reservation price) and
//! budget balanced (a buyer pays exactly what its seller receives). Like every such double
//! auction that also maximizes trade (Myerson-Satterthwaite), it is not truthful: a seller may
//! gain by asking more and a buyer by bidding less, within the other side's price, at the risk
//! of not being matched; the midpoint halves what either can gain this way. `docs/energy.md`
//! discusses the incentives.

pub mod billing;
pub mod clearing;
pub mod grouping;
mod market;
pub mod solution;
mod store;
pub mod types;
pub mod verify;

pub use billing::{interval_bill, price_at, Bill, Billing, MeterReading, MAX_BILL_INTERVALS};
pub use clearing::Score;
pub use market::{due_at, intervals_due};
pub use types::*;
pub use verify::{verify, SolutionContext, Violation};

use agora_bank::BankError;
use agora_hybrid::StageError;
use agora_ledger::{
    query_param, Module, Page, QueryError, ReasonCode, StateError, StateRead, TxContext,
};
use agora_types::Address;
use serde_json::json;
use store::*;

pub const NAME: &str = "energy";

#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    #[error("malformed energy call: {0}")]
    Malformed(String),
    #[error("invalid call: {0}")]
    Invalid(&'static str),
    #[error("no market {0}")]
    UnknownMarket(MarketId),
    #[error("only the market's DSO may do this")]
    NotDso,
    #[error("no group {0}")]
    UnknownGroup(GroupId),
    #[error("feeder {0} has no group of its own yet")]
    NoFeederGroup(FeederId),
    #[error("feeder {0} already has its own group")]
    FeederGroupExists(FeederId),
    #[error("group {group} is unsafe (eq. 2.17/2.19): limits {c_int}/{c_ext} Wh exceed the safe {safe_int}/{safe_ext} Wh")]
    UnsafeGroup {
        group: GroupId,
        c_int: u64,
        c_ext: u64,
        safe_int: u64,
        safe_ext: u64,
    },
    #[error("this smart meter is already registered")]
    MeterExists,
    #[error("this prosumer is already registered")]
    ProsumerExists,
    #[error("no such smart meter")]
    UnknownMeter,
    #[error("the sender is not the prosumer the DSO certified for this meter")]
    NotCertified,
    #[error("the sender is not a registered prosumer")]
    NotAProsumer,
    #[error("the prosumer's feeder is not in group {0}")]
    NotInGroup(GroupId),
    #[error("withdrawing would give {withdrawn} Wh in interval {interval}, the limit is {limit} Wh (eq. 2.5)")]
    ExceedsLimit {
        interval: Interval,
        withdrawn: u64,
        limit: u64,
    },
    #[error("interval {interval} is final (next to finalize: {next_final})")]
    IntervalFinal {
        interval: Interval,
        next_final: Interval,
    },
    #[error("assets of interval {interval}: {held} Wh held, {needed} Wh needed")]
    InsufficientAssets {
        interval: Interval,
        held: u64,
        needed: u64,
    },
    #[error("assets of interval {interval} back an open offer")]
    AssetsInUse { interval: Interval },
    #[error("solution refused: {0}")]
    Infeasible(#[from] Violation),
    #[error("solution (energy {energy} Wh, gains {gains}) does not rank above the candidate ({candidate:?})")]
    NotBetter {
        energy: u64,
        gains: u128,
        candidate: Score,
    },
    #[error("interval {interval} may be finalized from {due_at} ms")]
    NotDue { interval: Interval, due_at: i128 },
    #[error("interval {0} is not final yet")]
    NotFinal(Interval),
    #[error("no assets to deposit for interval {0}")]
    NothingToDeposit(Interval),
    #[error("bill of cycle {0} was already posted")]
    BillExists(u32),
    #[error("cycle {cycle} cannot be billed before cycle {expected}")]
    BillOutOfOrder { cycle: u32, expected: u32 },
    #[error("this cycle starts at interval {first}, the previous one ended before {expected}")]
    BillGap { first: Interval, expected: Interval },
    #[error("a deposit to a registered meter or prosumer would link the depositing account to it")]
    PublicDepositAddress,
    #[error("the prosumer owes the DSO {0} micro-tokens from earlier bills")]
    InDebt(i64),
    #[error("mix: the signature of input {0} does not verify")]
    MixSignature(Address),
    #[error("mix session was already used")]
    MixReplayed,
    #[error("amount overflows")]
    Overflow,
    #[error("corrupt energy state")]
    Corrupt,
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Staging refusals keep the energy market's reason code, `invalid_call`.
impl From<StageError> for EnergyError {
    fn from(e: StageError) -> Self {
        Self::Invalid(match e {
            StageError::Nothing => "nothing staged",
            StageError::OutOfOrder { .. } => "staged parts must come in order, from part 0",
            StageError::TooManyParts { .. } => "a staged solution has at most 64 parts",
            StageError::EmptyPart => "a staged part needs trades",
            StageError::NotCreator | StageError::OtherRound { .. } => {
                "not this solver's staged solution"
            }
        })
    }
}

impl ReasonCode for EnergyError {
    fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_call",
            Self::Invalid(_) => "invalid_call",
            Self::UnknownMarket(_) => "unknown_market",
            Self::NotDso => "not_dso",
            Self::UnknownGroup(_) => "unknown_group",
            Self::NoFeederGroup(_) => "no_feeder_group",
            Self::FeederGroupExists(_) => "feeder_group_exists",
            Self::UnsafeGroup { .. } => "unsafe_group",
            Self::MeterExists => "meter_exists",
            Self::ProsumerExists => "prosumer_exists",
            Self::UnknownMeter => "unknown_meter",
            Self::NotCertified => "not_certified",
            Self::NotAProsumer => "not_a_prosumer",
            Self::NotInGroup(_) => "not_in_group",
            Self::ExceedsLimit { .. } => "exceeds_prosumer_limit",
            Self::IntervalFinal { .. } => "interval_final",
            Self::InsufficientAssets { .. } => "insufficient_assets",
            Self::AssetsInUse { .. } => "assets_in_use",
            Self::Infeasible(v) => v.reason(),
            Self::NotBetter { .. } => "solution_not_better",
            Self::NotDue { .. } => "not_due",
            Self::NotFinal(_) => "interval_not_final",
            Self::NothingToDeposit(_) => "nothing_to_deposit",
            Self::BillExists(_) => "bill_exists",
            Self::BillOutOfOrder { .. } => "bill_out_of_order",
            Self::BillGap { .. } => "bill_gap",
            Self::PublicDepositAddress => "public_deposit_address",
            Self::InDebt(_) => "in_debt",
            Self::MixSignature(_) => "bad_mix_signature",
            Self::MixReplayed => "mix_replayed",
            Self::Overflow => "overflow",
            Self::Corrupt => "corrupt_state",
            Self::Bank(e) => e.reason(),
            Self::State(_) => "state_error",
        }
    }
}

agora_hybrid::market_module!(NAME, EnergyCall, EnergyError);

/// The energy module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Energy;

pub(crate) fn answer<T: serde::Serialize>(
    value: Option<T>,
    what: &str,
) -> Result<serde_json::Value, QueryError> {
    let value = value.ok_or_else(|| QueryError::NotFound(what.to_string()))?;
    serde_json::to_value(value).map_err(|e| QueryError::BadParams(e.to_string()))
}

pub(crate) fn corrupt(e: impl Into<EnergyError>) -> QueryError {
    match e.into() {
        EnergyError::State(e) => QueryError::State(e),
        other => QueryError::NotFound(other.to_string()),
    }
}

/// The open offers of a market, by id, through the open-offer index.
fn open_offers(state: &dyn StateRead, m: MarketId) -> Result<Vec<Offer>, EnergyError> {
    let mut offers = Vec::new();
    for (key, _) in state.scan_prefix(&open_offers_prefix(m))? {
        let id = parse_u64_suffix(&key)?;
        offers.push(read(state, &offer_key(m, id))?.ok_or(EnergyError::Corrupt)?);
    }
    Ok(offers)
}

/// The open part of a market, in the shape solvers take (`agora_solver::energy::EnergyInstance`):
/// the next interval to finalize, open offers, every group, every feeder's limits, and the
/// assets behind the offers.
fn open_problem(state: &dyn StateRead, m: MarketId) -> Result<serde_json::Value, EnergyError> {
    let market: Market = read(state, &market_key(m))?.ok_or(EnergyError::UnknownMarket(m))?;
    let offers = open_offers(state, m)?;
    let mut groups = Vec::new();
    let mut feeders = Vec::new();
    for (_, bytes) in state.scan_prefix(&groups_prefix(m))? {
        let group = decode::<Group>(&bytes)?;
        if let [f] = group.feeders[..] {
            let (l_prod, l_cons): (u64, u64) =
                read(state, &feeder_limits_key(m, f))?.unwrap_or((0, 0));
            feeders.push(FeederLimits {
                feeder: f,
                own_group: group.id,
                c_int: group.c_int,
                c_ext: group.c_ext,
                l_prod,
                l_cons,
            });
        }
        groups.push(group);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut assets = Vec::new();
    for offer in &offers {
        for t in offer.intervals.iter().filter(|t| **t >= market.next_final) {
            if !seen.insert((offer.account, *t)) {
                continue;
            }
            for (key, bytes) in state.scan_prefix(&assets_prefix(m, &offer.account, *t))? {
                let (side, group) = parse_assets_key(&key)?;
                assets.push(json!({
                    "account": offer.account, "side": side, "group": group,
                    "interval": t, "energy": decode::<u64>(&bytes)?,
                }));
            }
        }
    }
    Ok(
        json!({"next_final": market.next_final, "offers": offers, "groups": groups, "feeders": feeders, "assets": assets}),
    )
}

impl Module for Energy {
    type Call = EnergyCall;
    type Error = EnergyError;

    fn name(&self) -> &'static str {
        NAME
    }

    fn decode_call(&self, payload: &[u8]) -> Result<EnergyCall, EnergyError> {
        EnergyCall::decode(payload)
    }

    fn execute(&self, ctx: &mut TxContext<'_>, call: EnergyCall) -> Result<(), EnergyError> {
        match call {
            EnergyCall::CreateMarket(params) => market::create_market(ctx, params),
            EnergyCall::DefineGroup {
                market,
                feeders,
                c_int,
                c_ext,
            } => market::define_group(ctx, market, feeders, c_int, c_ext),
            EnergyCall::RegisterSmartMeter {
                market,
                meter,
                prosumer,
                feeder,
                l_prod,
                l_cons,
            } => {
                let meter = Meter {
                    meter,
                    prosumer,
                    feeder,
                    l_prod,
                    l_cons,
                    bound: false,
                };
                market::register_smart_meter(ctx, market, meter)
            }
            EnergyCall::RegisterProsumer { market, meter } => {
                market::register_prosumer(ctx, market, meter)
            }
            EnergyCall::WithdrawAssets {
                market,
                side,
                group,
                energy,
                first,
                last,
            } => market::withdraw_assets(ctx, market, side, group, energy, first, last),
            EnergyCall::TransferAssets {
                market,
                to,
                side,
                group,
                interval,
                energy,
            } => market::transfer_assets(ctx, market, to, side, group, interval, energy),
            EnergyCall::PostOffer {
                market,
                side,
                group,
                energy,
                intervals,
                price,
            } => market::post_offer(ctx, market, side, group, energy, intervals, price),
            EnergyCall::PostSolution { market, trades } => {
                solution::post_solution(ctx, market, trades)
            }
            EnergyCall::StageSolution {
                market,
                part,
                trades,
            } => solution::stage_solution(ctx, market, part, trades),
            EnergyCall::PostStagedSolution { market } => {
                solution::post_staged_solution(ctx, market)
            }
            EnergyCall::Finalize { market } => market::finalize(ctx, market),
            EnergyCall::Deposit {
                market,
                interval,
                to,
            } => billing::deposit(ctx, market, interval, to),
            EnergyCall::PostBill {
                market,
                cycle,
                first,
                residuals,
            } => billing::post_bill(ctx, market, cycle, first, residuals),
            EnergyCall::Mix {
                statement,
                signatures,
            } => market::mix(ctx, statement, signatures),
        }
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        let m: MarketId = query_param(params, "market")?;
        if let Some(result) = billing::query(state, m, path, params) {
            return result;
        }
        match path {
            "market" => answer(
                read::<Market>(state, &market_key(m)).map_err(corrupt)?,
                "market",
            ),
            "group" => {
                let g: GroupId = query_param(params, "group")?;
                answer(
                    read::<Group>(state, &group_key(m, g)).map_err(corrupt)?,
                    "group",
                )
            }
            "meter" => {
                let meter: Address = query_param(params, "meter")?;
                answer(
                    read::<Meter>(state, &meter_key(m, &meter)).map_err(corrupt)?,
                    "meter",
                )
            }
            "offer" => {
                let o: OfferId = query_param(params, "offer")?;
                answer(
                    read::<Offer>(state, &offer_key(m, o)).map_err(corrupt)?,
                    "offer",
                )
            }
            "open_offers" => Page::from_params(params)?
                .ids(state, &open_offers_prefix(m))?
                .try_map(|o| {
                    read::<Offer>(state, &offer_key(m, o))
                        .map_err(corrupt)?
                        .ok_or_else(|| corrupt(EnergyError::Corrupt))
                })?
                .answer("offers"),
            "open_problem" => open_problem(state, m).map_err(corrupt),
            "candidate" => {
                let intervals: Vec<Interval> = read(state, &candidate_index_key(m))
                    .map_err(corrupt)?
                    .unwrap_or_default();
                let mut trades = Vec::new();
                for t in intervals {
                    let part: Vec<Trade> = read(state, &candidate_key(m, t))
                        .map_err(corrupt)?
                        .unwrap_or_default();
                    trades.extend(part);
                }
                answer(Some(trades), "candidate")
            }
            "finalized" => {
                let t: Interval = query_param(params, "interval")?;
                let trades: Vec<Trade> = read(state, &finalized_key(m, t))
                    .map_err(corrupt)?
                    .unwrap_or_default();
                answer(Some(trades), "finalized")
            }
            "assets" => {
                let account: Address = query_param(params, "account")?;
                let t: Interval = query_param(params, "interval")?;
                let mut held = Vec::new();
                for (key, bytes) in state.scan_prefix(&assets_prefix(m, &account, t))? {
                    let amount: u64 = decode(&bytes).map_err(corrupt)?;
                    let (side, group) = parse_assets_key(&key).map_err(corrupt)?;
                    held.push(json!({"side": side, "group": group, "energy": amount}));
                }
                answer(Some(held), "assets")
            }
            _ => Err(QueryError::UnknownPath {
                module: NAME.into(),
                path: path.into(),
            }),
        }
    }
}
