//! Verifying and closing a running allocation (Fig. 4.3 from Running): the checklist reveal,
//! the suppliers' γ, mediation, clearing and the refund of an allocation never fully signed.

use crate::market::{hex, load, load_in, save, slot_of, state_changed, Result};
use crate::verdict::{self, Payee, Settlement, Source};
use crate::{hashing, store::*, types::*, StreamError, NAME};
use agora_bank::{Bank, BankError};
use agora_ledger::TxContext;
use serde_json::json;

/// L6: after a_end and before D_reveal, the customer reveals α of its n tests, on the ledger so
/// that a missing or inconsistent checklist is attributable (spec A20).
pub fn reveal_checklist(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
    mut hashes: Vec<Hash>,
) -> Result<()> {
    let (p, mut alloc) = load_in(ctx, m, a, State::Running)?;
    if ctx.sender() != alloc.terms.customer {
        return Err(StreamError::NotCustomer);
    }
    let now = ctx.timestamp();
    // Before a_end a supplier that saw every test could stop working.
    if now < alloc.terms.end_ms {
        return Err(StreamError::NotDue);
    }
    if now >= alloc.reveal_deadline(&p) {
        return Err(StreamError::TooLate);
    }
    if alloc.revealed {
        return Err(StreamError::AlreadyRevealed);
    }
    if hashes.len() as u64 != alloc.derived.checks {
        return Err(StreamError::BadChecklist("it must have n hashes"));
    }
    hashes.sort_unstable();
    if hashes.windows(2).any(|w| w[0] == w[1]) {
        return Err(StreamError::BadChecklist("its hashes must be distinct"));
    }
    alloc.revealed = true;
    ctx.store(checklist_key(m, a), &hashes);
    ctx.emit(
        NAME,
        "ChecklistRevealed",
        &json!({"market": m, "allocation": a,
            "hashes": hashes.iter().copied().map(hex).collect::<Vec<_>>()}),
    );
    save(ctx, &alloc);
    Ok(())
}

/// L7: a supplier posts γ_i; a mismatch with Γ_i requests mediation (once).
pub fn post_output(ctx: &mut TxContext<'_>, m: MarketId, a: AllocId, gamma: Hash) -> Result<()> {
    let (p, mut alloc) = load_in(ctx, m, a, State::Running)?;
    let i = slot_of(&alloc, &ctx.sender())?;
    if !alloc.revealed {
        return Err(StreamError::NotRevealed);
    }
    let now = ctx.timestamp();
    if now >= alloc.post_deadline(&p) {
        return Err(StreamError::TooLate);
    }
    if alloc.slots[i].gamma.is_some() {
        return Err(StreamError::AlreadyPosted);
    }
    let matches = alloc.commitments.get(i) == Some(&hashing::double(&gamma));
    alloc.slots[i].gamma = Some(gamma);
    alloc.slots[i].matches = matches;
    ctx.emit(
        NAME,
        "OutputPosted",
        &json!({"market": m, "allocation": a, "slot": i, "gamma": hex(gamma), "matches": matches}),
    );
    if !matches && alloc.mediation.is_none() {
        alloc.mediation = Some(Mediation {
            requested_ms: now,
            requested_by: i as u32,
            gamma_gammas: None,
            checklist_ok: false,
        });
        ctx.emit(
            NAME,
            "MediationRequested",
            &json!({"market": m, "allocation": a, "slot": i,
                "customer": alloc.terms.customer, "mediator": alloc.terms.mediator,
                "deadline_ms": alloc.mediation_deadline(&p)}),
        );
    }
    save(ctx, &alloc);
    Ok(())
}

/// L8: the mediator posts Γ^m_i for every slot and whether the on-ledger checklist matched the
/// tests it re-processed. Nothing is paid here: everything moves in `ClearMarket`.
pub fn post_mediation(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
    gamma_gammas: Vec<Hash>,
    checklist_ok: bool,
) -> Result<()> {
    let (p, mut alloc) = load_in(ctx, m, a, State::Running)?;
    if ctx.sender() != alloc.terms.mediator {
        return Err(StreamError::NotMediator);
    }
    let deadline = alloc
        .mediation_deadline(&p)
        .ok_or(StreamError::MediationNotRequested)?;
    let slots = alloc.slots.len();
    let mediation = alloc.mediation.as_mut().ok_or(StreamError::Corrupt)?;
    if mediation.gamma_gammas.is_some() {
        return Err(StreamError::MediationDone);
    }
    if ctx.timestamp() >= deadline {
        return Err(StreamError::TooLate);
    }
    if gamma_gammas.len() != slots {
        return Err(StreamError::BadMediation {
            expected: slots,
            got: gamma_gammas.len(),
        });
    }
    ctx.emit(
        NAME,
        "MediationCompleted",
        &json!({"market": m, "allocation": a, "checklist_ok": checklist_ok,
            "gamma_gammas": gamma_gammas.iter().copied().map(hex).collect::<Vec<_>>()}),
    );
    mediation.gamma_gammas = Some(gamma_gammas);
    mediation.checklist_ok = checklist_ok;
    save(ctx, &alloc);
    Ok(())
}

/// Releases what is left of a hold to its owner; a hold a slash emptied is already gone.
fn release_rest(ctx: &mut TxContext<'_>, hold: Option<u64>) -> Result<u64> {
    let Some(id) = hold else { return Ok(0) };
    match Bank::get_hold(ctx, id) {
        Ok(h) => {
            Bank::release(ctx, id, &controller())?;
            Ok(h.amount)
        }
        Err(BankError::UnknownHold(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Closed: out of the open index and the allocator's count.
fn closed(ctx: &mut TxContext<'_>, alloc: &mut Allocation, outcome: Outcome) -> Result<()> {
    alloc.state = State::Closed;
    alloc.outcome = Some(outcome);
    ctx.delete(open_key(alloc.market, alloc.id));
    let key = open_by_key(alloc.market, &alloc.allocator);
    let open = ctx.load_u64(&key)?;
    ctx.store_u64(key, open.checked_sub(1).ok_or(StreamError::Corrupt)?);
    state_changed(ctx, alloc);
    save(ctx, alloc);
    Ok(())
}

/// Carries out a settlement's payments, each a slash of its hold.
fn pay(ctx: &mut TxContext<'_>, alloc: &Allocation, s: &Settlement) -> Result<()> {
    let mediator = alloc.terms.mediator;
    let treasury = treasury(alloc.market);
    for pay in &s.payments {
        let hold = match pay.from {
            Source::Escrow => alloc.escrow_hold,
            Source::Deposit => alloc.deposit_hold,
            Source::Slot(i) => alloc.slots.get(i as usize).and_then(|s| s.hold),
        }
        .ok_or(StreamError::Corrupt)?;
        let to = match pay.to {
            Payee::Supplier(i) => {
                alloc
                    .slots
                    .get(i as usize)
                    .ok_or(StreamError::Corrupt)?
                    .supplier
            }
            Payee::Mediator => mediator,
            Payee::Treasury => treasury,
        };
        Bank::slash(ctx, hold, pay.amount, &to, &controller())?;
    }
    Ok(())
}

/// Returns the rest of every hold of the allocation to its owner.
fn refund(ctx: &mut TxContext<'_>, alloc: &Allocation) -> Result<serde_json::Value> {
    let mut refunds = vec![json!({"customer": release_rest(ctx, alloc.escrow_hold)?
        + release_rest(ctx, alloc.deposit_hold)?})];
    for (i, slot) in alloc.slots.iter().enumerate() {
        refunds.push(json!({"slot": i, "returned": release_rest(ctx, slot.hold)?}));
    }
    Ok(json!(refunds))
}

/// L9: anyone closes a running allocation once one of the conditions of spec 3.3 holds.
pub fn clear_market(ctx: &mut TxContext<'_>, m: MarketId, a: AllocId) -> Result<()> {
    let (p, mut alloc) = load_in(ctx, m, a, State::Running)?;
    let case = verdict::closing_case(&alloc, &p, ctx.timestamp()).ok_or(StreamError::NotDue)?;
    let settlement = verdict::settle(&alloc, &p, case);
    pay(ctx, &alloc, &settlement)?;
    let refunds = refund(ctx, &alloc)?;
    ctx.emit(
        NAME,
        "Cleared",
        &json!({"market": m, "allocation": a, "outcome": case.outcome(),
            "settlement": settlement, "refunds": refunds}),
    );
    closed(ctx, &mut alloc, case.outcome())
}

/// L10: anyone refunds every hold of an allocation not fully signed by D_sign.
pub fn return_deposits(ctx: &mut TxContext<'_>, m: MarketId, a: AllocId) -> Result<()> {
    let (p, mut alloc) = load(ctx, m, a)?;
    if !matches!(alloc.state, State::Allocated | State::Signing) {
        return Err(StreamError::WrongState(alloc.state));
    }
    if ctx.timestamp() < alloc.sign_deadline(&p) {
        return Err(StreamError::NotDue);
    }
    let refunds = refund(ctx, &alloc)?;
    ctx.emit(
        NAME,
        "Cancelled",
        &json!({"market": m, "allocation": a, "refunds": refunds}),
    );
    closed(ctx, &mut alloc, Outcome::Cancelled)
}
