//! Deposits and bills (section 2.7.4, eq. 2.16): how a prosumer's trades, what its smart meter
//! measured and the DSO's price schedule become a payment in tokens, without linking the
//! prosumer's anonymous accounts to it.
//!
//! # Protocol
//!
//! 1. **Deposit addresses.** A smart meter and its prosumer share a secret, set off the ledger
//!    when the meter is installed. From it both derive a fresh deposit address D_t per interval
//!    t (the sim hashes secret, market and t). Only they can tell that D_t is the meter's; the
//!    ledger never learns it, so no record links an anonymous account to a meter or prosumer.
//! 2. **Deposit** ([`EnergyCall::Deposit`]). Once t is final, each of the prosumer's accounts
//!    (public and anonymous) moves all its assets of t to D_t's record of t, where they stay.
//!    A deposit to a registered meter or prosumer address is refused: it would be the link.
//! 3. **The meter's check** ([`MeterReading`]). The meter reads what its prosumer withdrew for
//!    t (W⁺ EPA, W⁻ ECA; public) and what D_t received (D⁺, D⁻). A trade swaps EPA for ECA one
//!    for one, so an honest deposit has D⁺ + D⁻ = W⁺ + W⁻. Every Wh missing, the shortfall
//!    s = max(0, W⁺ + W⁻ - D⁺ - D⁻), is billed as production sold and not delivered, and
//!    EPA is credited only up to W⁺ + W⁻ (more can only be someone else's):
//!    ΔEPA = min(D⁺, W⁺ + W⁻) - W⁺ - s, the energy bought minus sold (section 2.7.4). A
//!    withheld Wh can raise the truth above this by at most itself, and s takes it back, so
//!    withholding (e.g. to hand assets to another home's meter) never lowers a bill.
//! 4. **Residual.** The meter measures the net production E_t (negative: net consumption);
//!    r_t = E_t + ΔEPA is the residual production (negative: residual consumption).
//! 5. **Bill** ([`EnergyCall::PostBill`]). Per billing cycle the registered meter posts the
//!    residuals of consecutive intervals `first..first + n` (n <= [`MAX_BILL_INTERVALS`]);
//!    cycle 0 may start anywhere, each later cycle starts where the previous one ended, and a
//!    cycle is billed once. The intervals must be final. The ledger prices every interval by
//!    eq. 2.16 with the DSO's schedule (entry t mod its length, see [`interval_bill`]) and
//!    sums them.
//! 6. **Settlement.** A positive total (with any debt carried from earlier bills) is paid by
//!    the prosumer's public account to the DSO, a negative one by the DSO to the prosumer,
//!    through [`Bank::transfer`], so tokens are conserved. A payer short of funds pays what it
//!    has; the rest is the meter's debt, carried into its next bill, and a prosumer in debt
//!    cannot withdraw assets.
//!
//! # Sign convention of eq. 2.16
//!
//! The seed prints B = r·π^S if r < 0 and r·π^B otherwise, and calls B what the prosumer pays.
//! With r > 0 (residual production, which the DSO takes) that charges the prosumer at the DSO's
//! selling price, and with r < 0 (residual consumption, which the DSO supplies) it pays the
//! prosumer. Read as what the DSO pays, the prices are swapped instead. Agora follows the
//! prices' definitions and the text ("what the prosumer owes the DSO"):
//! B_t = -r_t·π^S_t if r_t >= 0 (the DSO buys the surplus), B_t = -r_t·π^B_t if r_t < 0 (the
//! DSO sells the shortfall); positive B is owed to the DSO.
//!
//! # What the ledger checks, and what it cannot
//!
//! It checks who posts (only a registered meter, and only for its own prosumer), which
//! intervals (final, consecutive, each billed once) and the amounts (from the schedule, not
//! the meter). It cannot check r_t: E_t is measured by the DSO-certified meter, and ΔEPA needs
//! D_t, which the ledger must not learn. Posting r_t rather than E_t and ΔEPA keeps D_t hidden:
//! without E_t, r_t does not tell which deposits were the meter's.

use crate::{answer, corrupt, market::load_market, store::*, types::*, EnergyError, NAME};
use agora_bank::Bank;
use agora_ledger::{query_param, QueryError, StateRead, TxContext};
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Most intervals one bill covers: 31 days of 15-minute intervals.
pub const MAX_BILL_INTERVALS: usize = 2_976;

/// What a smart meter knows of one interval (Wh), from the ledger and its own measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterReading {
    /// What the prosumer withdrew (query `withdrawn`).
    pub withdrawn: AssetTotals,
    /// What the interval's deposit address received (query `deposits`).
    pub deposited: AssetTotals,
    /// E_t: the measured net production (negative: net consumption).
    pub measured: i64,
}

impl MeterReading {
    /// Wh withdrawn and not deposited (step 3).
    pub fn shortfall(&self) -> u64 {
        let w = u128::from(self.withdrawn.epa) + u128::from(self.withdrawn.eca);
        let d = u128::from(self.deposited.epa) + u128::from(self.deposited.eca);
        u64::try_from(w.saturating_sub(d)).unwrap_or(u64::MAX)
    }

    /// ΔEPA = min(D⁺, W⁺ + W⁻) - W⁺ - s: energy bought minus sold, a shortfall counted as
    /// sold and not delivered.
    pub fn delta_epa(&self) -> Result<i64, EnergyError> {
        let w = i128::from(self.withdrawn.epa) + i128::from(self.withdrawn.eca);
        let credited = i128::from(self.deposited.epa).min(w);
        let delta = credited - i128::from(self.withdrawn.epa) - i128::from(self.shortfall());
        i64::try_from(delta).map_err(|_| EnergyError::Overflow)
    }

    /// r_t = E_t + ΔEPA: residual production (negative: residual consumption).
    pub fn residual(&self) -> Result<i64, EnergyError> {
        self.measured
            .checked_add(self.delta_epa()?)
            .ok_or(EnergyError::Overflow)
    }
}

/// The DSO's prices of interval `t`: entry t mod the schedule's length.
pub fn price_at(params: &MarketParams, t: Interval) -> Result<DsoPrice, EnergyError> {
    let i = (t as usize)
        .checked_rem(params.prices.len())
        .ok_or(EnergyError::Corrupt)?;
    params.prices.get(i).copied().ok_or(EnergyError::Corrupt)
}

/// Eq. 2.16 in Agora's sign convention (see the module docs): what the prosumer owes the DSO
/// for residual `r` in micro-tokens; negative, what the DSO owes the prosumer.
pub fn interval_bill(r: i64, price: DsoPrice) -> i128 {
    let unit = if r >= 0 { price.sell } else { price.buy };
    -i128::from(r) * i128::from(unit)
}

/// A posted bill.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Bill {
    pub cycle: u32,
    pub first: Interval,
    pub intervals: u32,
    /// Σ B_t (micro-tokens): positive, owed to the DSO; negative, owed to the prosumer.
    pub amount: i64,
    /// Tokens this bill moved, signed like `amount` (it includes debt carried in).
    pub settled: i64,
    /// What is still owed after this bill, signed like `amount`.
    pub debt: i64,
}

/// A meter's billing state.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Billing {
    pub next_cycle: u32,
    /// Where the next cycle starts (meaningful once cycle 0 is billed).
    pub next_first: Interval,
    /// Signed like a bill: positive, the prosumer owes the DSO.
    pub debt: i64,
}

pub fn deposit(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    t: Interval,
    to: Address,
) -> Result<(), EnergyError> {
    let market = load_market(ctx, m)?;
    if t >= market.next_final {
        return Err(EnergyError::NotFinal(t));
    }
    if ctx.load::<Meter>(&meter_key(m, &to))?.is_some()
        || ctx.load::<Address>(&prosumer_key(m, &to))?.is_some()
    {
        return Err(EnergyError::PublicDepositAddress);
    }
    let account = ctx.sender();
    let mut moved = AssetTotals::default();
    for (key, value) in ctx.scan(&assets_prefix(m, &account, t))? {
        let amount: u64 = decode(&value)?;
        let total = match parse_assets_key(&key)?.0 {
            Side::Sell => &mut moved.epa,
            Side::Buy => &mut moved.eca,
        };
        *total = total.checked_add(amount).ok_or(EnergyError::Overflow)?;
        ctx.delete(key);
    }
    if moved == AssetTotals::default() {
        return Err(EnergyError::NothingToDeposit(t));
    }
    let mut record: AssetTotals = ctx.load(&deposit_key(m, &to, t))?.unwrap_or_default();
    record.epa = record
        .epa
        .checked_add(moved.epa)
        .ok_or(EnergyError::Overflow)?;
    record.eca = record
        .eca
        .checked_add(moved.eca)
        .ok_or(EnergyError::Overflow)?;
    ctx.store(deposit_key(m, &to, t), &record);
    ctx.emit(
        NAME,
        "Deposited",
        &json!({"market": m, "to": to, "interval": t}),
    );
    Ok(())
}

/// Refuses a prosumer whose meter's bills left it owing the DSO.
pub(crate) fn check_no_debt(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    meter: &Address,
) -> Result<(), EnergyError> {
    let billing: Billing = ctx.load(&billing_key(m, meter))?.unwrap_or_default();
    if billing.debt > 0 {
        return Err(EnergyError::InDebt(billing.debt));
    }
    Ok(())
}

pub fn post_bill(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    cycle: u32,
    first: Interval,
    residuals: Vec<i64>,
) -> Result<(), EnergyError> {
    let market = load_market(ctx, m)?;
    let meter_address = ctx.sender();
    let meter: Meter = ctx
        .load(&meter_key(m, &meter_address))?
        .ok_or(EnergyError::UnknownMeter)?;
    if !meter.bound {
        return Err(EnergyError::NotAProsumer);
    }
    let mut billing: Billing = ctx
        .load(&billing_key(m, &meter_address))?
        .unwrap_or_default();
    if cycle < billing.next_cycle {
        return Err(EnergyError::BillExists(cycle));
    }
    if cycle > billing.next_cycle {
        return Err(EnergyError::BillOutOfOrder {
            cycle,
            expected: billing.next_cycle,
        });
    }
    if cycle > 0 && first != billing.next_first {
        return Err(EnergyError::BillGap {
            first,
            expected: billing.next_first,
        });
    }
    if residuals.is_empty() || residuals.len() > MAX_BILL_INTERVALS {
        return Err(EnergyError::Invalid("a bill covers 1 to 2,976 intervals"));
    }
    let n = residuals.len() as u32;
    let end = first.checked_add(n).ok_or(EnergyError::Overflow)?;
    if end > market.next_final {
        return Err(EnergyError::NotFinal(end - 1));
    }
    let mut amount: i128 = 0;
    for (t, r) in (first..end).zip(&residuals) {
        amount = amount
            .checked_add(interval_bill(*r, price_at(&market.params, t)?))
            .ok_or(EnergyError::Overflow)?;
    }
    let amount = i64::try_from(amount).map_err(|_| EnergyError::Overflow)?;
    let due = amount
        .checked_add(billing.debt)
        .ok_or(EnergyError::Overflow)?;
    let settled = settle(ctx, &market.dso, &meter.prosumer, due)?;
    let bill = Bill {
        cycle,
        first,
        intervals: n,
        amount,
        settled,
        debt: due - settled,
    };
    billing = Billing {
        next_cycle: cycle + 1,
        next_first: end,
        debt: bill.debt,
    };
    ctx.store(bill_key(m, &meter_address, cycle), &bill);
    ctx.store(billing_key(m, &meter_address), &billing);
    ctx.emit(
        NAME,
        "BillPosted",
        &json!({"market": m, "meter": meter_address, "bill": bill}),
    );
    Ok(())
}

/// Pays as much of `due` as the payer has (the prosumer if positive, the DSO if negative);
/// returns what moved, signed like `due`.
fn settle(
    ctx: &mut TxContext<'_>,
    dso: &Address,
    prosumer: &Address,
    due: i64,
) -> Result<i64, EnergyError> {
    let (payer, payee) = if due >= 0 {
        (prosumer, dso)
    } else {
        (dso, prosumer)
    };
    let paid = due.unsigned_abs().min(Bank::balance(ctx, payer)?);
    if paid > 0 {
        Bank::transfer(ctx, payer, payee, paid)?;
    }
    // `paid` <= |due| <= 2^63, and only due = i64::MIN reaches 2^63, where -2^63 fits.
    let paid = i128::from(paid);
    i64::try_from(if due >= 0 { paid } else { -paid }).map_err(|_| EnergyError::Overflow)
}

/// Queries `deposits` (account, interval), `withdrawn` (prosumer, interval), `bill` (meter,
/// cycle) and `billing` (meter); `None` for other paths.
pub(crate) fn query(
    state: &dyn StateRead,
    m: MarketId,
    path: &str,
    params: &serde_json::Value,
) -> Option<Result<serde_json::Value, QueryError>> {
    let run = || -> Result<serde_json::Value, QueryError> {
        match path {
            "deposits" => {
                let account: Address = query_param(params, "account")?;
                let t: Interval = query_param(params, "interval")?;
                let d: Option<AssetTotals> =
                    read(state, &deposit_key(m, &account, t)).map_err(corrupt)?;
                answer(Some(d.unwrap_or_default()), "deposits")
            }
            "withdrawn" => {
                let prosumer: Address = query_param(params, "prosumer")?;
                let t: Interval = query_param(params, "interval")?;
                let mut w = AssetTotals::default();
                for (side, total) in [(Side::Sell, &mut w.epa), (Side::Buy, &mut w.eca)] {
                    *total = read(state, &withdrawn_key(m, &prosumer, side, t))
                        .map_err(corrupt)?
                        .unwrap_or(0);
                }
                answer(Some(w), "withdrawn")
            }
            "bill" => {
                let meter: Address = query_param(params, "meter")?;
                let cycle: u32 = query_param(params, "cycle")?;
                let bill: Option<Bill> =
                    read(state, &bill_key(m, &meter, cycle)).map_err(corrupt)?;
                answer(bill, "bill")
            }
            _ => {
                let meter: Address = query_param(params, "meter")?;
                let billing: Option<Billing> =
                    read(state, &billing_key(m, &meter)).map_err(corrupt)?;
                answer(Some(billing.unwrap_or_default()), "billing")
            }
        }
    };
    matches!(path, "deposits" | "withdrawn" | "bill" | "billing").then(run)
}
