//! Conservation: balances and holds add up to the supply. Two ways to check it.
//!
//! - **Running totals** (the public `conservation` query, O(1)): the sum of every balance and
//!   the sum of every hold, kept by each operation that moves value between the two (hold,
//!   release, slash) or out of the supply (a burned fee). A transfer moves value between
//!   balances and leaves both unchanged, so it writes no total and costs no more.
//! - **Recount** ([`Bank::recount`], O(state)): every balance and hold read and summed, and
//!   the running totals compared with it. Independent of the bookkeeping above; tests (the
//!   testkit after every block), the fuzzer and the operator's `conservation` operator query
//!   run it, never an ordinary RPC client.

use crate::{decode_hold, decode_u64, read_u64, supply_key, Bank, BankError, NAME};
use agora_ledger::{StateError, StateRead, TxContext};
use serde::Serialize;

fn balances_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"sum_balances")
}

fn holds_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"sum_holds")
}

/// The sums of every balance and every hold among the entries `scan` finds.
fn count(
    mut scan: impl FnMut(&[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError>,
) -> Result<(u128, u128), BankError> {
    let mut balances: u128 = 0;
    for (_, v) in scan(&TxContext::module_key(NAME, b"bal:"))? {
        balances += u128::from(decode_u64(Some(v))?);
    }
    let mut holds: u128 = 0;
    for (_, v) in scan(&TxContext::module_key(NAME, b"hold:"))? {
        holds += u128::from(decode_hold(&v)?.amount);
    }
    Ok((balances, holds))
}

/// A state made before the running totals existed has none (the genesis always writes
/// them): they are counted once, by the first operation that needs them, which calls this
/// before it changes any balance or hold.
pub(crate) fn ensure(ctx: &mut TxContext<'_>) -> Result<(), BankError> {
    if ctx.get(&balances_key())?.is_some() {
        return Ok(());
    }
    let (balances, holds) = count(|prefix| ctx.scan(prefix))?;
    for (key, total) in [(balances_key(), balances), (holds_key(), holds)] {
        let total = u64::try_from(total).map_err(|_| BankError::Corrupt("running total"))?;
        ctx.put(key, total.to_be_bytes().to_vec());
    }
    Ok(())
}

/// Adds `delta` (may be negative) to the running total at `key`.
fn shift(ctx: &mut TxContext<'_>, key: Vec<u8>, delta: i128) -> Result<(), BankError> {
    let total = i128::from(decode_u64(ctx.get(&key)?)?) + delta;
    let total = u64::try_from(total).map_err(|_| BankError::Corrupt("running total"))?;
    ctx.put(key, total.to_be_bytes().to_vec());
    Ok(())
}

/// `amount` went from balances into holds (a hold was made).
pub(crate) fn held(ctx: &mut TxContext<'_>, amount: u64) -> Result<(), BankError> {
    shift(ctx, balances_key(), -i128::from(amount))?;
    shift(ctx, holds_key(), i128::from(amount))
}

/// `amount` went from holds back into balances (a release or a slash).
pub(crate) fn unheld(ctx: &mut TxContext<'_>, amount: u64) -> Result<(), BankError> {
    shift(ctx, holds_key(), -i128::from(amount))?;
    shift(ctx, balances_key(), i128::from(amount))
}

/// `amount` left the balances and the supply (a burned fee).
pub(crate) fn burned(ctx: &mut TxContext<'_>, amount: u64) -> Result<(), BankError> {
    shift(ctx, balances_key(), -i128::from(amount))
}

/// The genesis credited `supply` to balances.
pub(crate) fn genesis(ctx: &mut TxContext<'_>, supply: u64) {
    ctx.put(balances_key(), supply.to_be_bytes().to_vec());
    ctx.put(holds_key(), 0u64.to_be_bytes().to_vec());
}

/// The supply and what balances and holds add up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub supply: u64,
    pub balances: u128,
    pub holds: u128,
}

impl Totals {
    pub fn conserved(&self) -> bool {
        self.balances + self.holds == u128::from(self.supply)
    }

    /// The answer of the `conservation` queries; `recounted` says which check made it.
    pub(crate) fn answer(&self, conserved: bool, recounted: bool) -> serde_json::Value {
        serde_json::json!({"supply": self.supply, "balances": self.balances.to_string(),
            "holds": self.holds.to_string(), "conserved": conserved, "recounted": recounted})
    }
}

impl Bank {
    /// The supply and the running totals: three reads, whatever the number of accounts.
    pub fn running_totals(state: &dyn StateRead) -> Result<Totals, BankError> {
        let balances = state.read(&balances_key())?.ok_or(BankError::Corrupt(
            "no running totals yet: the next transaction counts them",
        ))?;
        Ok(Totals {
            supply: read_u64(state, &supply_key())?,
            balances: decode_u64(Some(balances))?.into(),
            holds: read_u64(state, &holds_key())?.into(),
        })
    }

    /// The supply and what balances and holds add up to, read from the whole state
    /// (O(state): for tests, the fuzzer and the operator, see the module docs).
    pub fn recount(state: &dyn StateRead) -> Result<Totals, String> {
        let supply = read_u64(state, &supply_key()).map_err(|e| e.to_string())?;
        let (balances, holds) =
            count(|prefix| state.scan_prefix(prefix)).map_err(|e| e.to_string())?;
        Ok(Totals {
            supply,
            balances,
            holds,
        })
    }

    /// Checks from the whole state that balances and holds add up to the supply, and that
    /// the running totals the `conservation` query answers with equal the recount.
    pub fn check_conservation(state: &dyn StateRead) -> Result<(), String> {
        let recount = Self::recount(state)?;
        if !recount.conserved() {
            return Err(format!(
                "balances and holds sum to {}, supply is {}",
                recount.balances + recount.holds,
                recount.supply
            ));
        }
        let running = Self::running_totals(state).map_err(|e| e.to_string())?;
        if running != recount {
            return Err(format!(
                "running totals {running:?} differ from the recount {recount:?}"
            ));
        }
        Ok(())
    }
}
