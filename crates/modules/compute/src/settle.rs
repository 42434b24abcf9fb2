//! Moving money out of a match's holds: the payments of [`crate::payout`] as bank slashes,
//! then the rest back to its owner, so no hold outlives its job.

use crate::payout::{Payee, Payment};
use crate::types::{Match, Party};
use crate::{ComputeError, NAME};
use agora_bank::{module_account, Bank, BankError};
use agora_ledger::TxContext;
use agora_types::Address;
use serde::Serialize;

type Result<T> = std::result::Result<T, ComputeError>;

/// The unspent-forfeit account: nobody has its key, so what reaches it is out of circulation
/// while the bank's supply stays conserved (spec §7 A3).
pub fn sink() -> Address {
    module_account("compute-sink")
}

/// What is left of a hold (0 once slashed to nothing: the bank deletes it).
pub(crate) fn remaining(ctx: &mut TxContext<'_>, hold: u64) -> Result<u64> {
    match Bank::get_hold(ctx, hold) {
        Ok(h) => Ok(h.amount),
        Err(BankError::UnknownHold(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Returns what is left of a hold to its owner, if anything is.
pub(crate) fn release(ctx: &mut TxContext<'_>, hold: u64) -> Result<u64> {
    let left = remaining(ctx, hold)?;
    if left > 0 {
        Bank::release(ctx, hold, &module_account(NAME))?;
    }
    Ok(left)
}

/// Pays `amount` of a hold to `to`; zero amounts are skipped (the bank refuses them).
pub(crate) fn slash(ctx: &mut TxContext<'_>, hold: u64, amount: u64, to: &Address) -> Result<()> {
    if amount > 0 {
        Bank::slash(ctx, hold, amount, to, &module_account(NAME))?;
    }
    Ok(())
}

/// A payment as it appears in `MatchClosed`.
#[derive(Serialize)]
struct Paid {
    from: Party,
    to: Address,
    payee: Payee,
    amount: u64,
    cause: crate::payout::Cause,
}

#[derive(Serialize)]
struct Refund {
    to: Address,
    amount: u64,
}

/// Executes `payments` from the match's holds, releases both rests, and emits `MatchClosed`.
pub(crate) fn close(
    ctx: &mut TxContext<'_>,
    market: u64,
    mt: &Match,
    payments: &[Payment],
) -> Result<()> {
    let mut paid = Vec::with_capacity(payments.len());
    for p in payments {
        let hold = match p.from {
            Party::JobCreator => mt.jc_hold,
            Party::ResourceProvider => mt.rp_hold,
        };
        let to = match p.to {
            Payee::JobCreator => mt.jc,
            Payee::ResourceProvider => mt.rp,
            Payee::Mediator => mt.mediator,
            Payee::Directory => mt.directory,
            Payee::Sink => sink(),
        };
        slash(ctx, hold, p.amount, &to)?;
        if p.amount > 0 {
            paid.push(Paid {
                from: p.from,
                to,
                payee: p.to,
                amount: p.amount,
                cause: p.cause,
            });
        }
    }
    let refunds = [
        Refund {
            to: mt.jc,
            amount: release(ctx, mt.jc_hold)?,
        },
        Refund {
            to: mt.rp,
            amount: release(ctx, mt.rp_hold)?,
        },
    ];
    ctx.emit(
        NAME,
        "MatchClosed",
        &serde_json::json!({"market": market, "match": mt.id, "state": mt.state,
            "payouts": paid, "refunds": refunds}),
    );
    Ok(())
}
