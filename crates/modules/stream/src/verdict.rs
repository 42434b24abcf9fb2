//! Who is at fault and who is paid when an allocation closes (spec 3.5, 3.6): pure integer
//! functions of the stored record, the market's rules and the block clock. The module only
//! carries out the [`Settlement`] with the bank.

use crate::hashing::double;
use crate::terms::share;
use crate::types::{Allocation, Outcome, StreamParams};
use serde::Serialize;

/// Which closing condition of `ClearMarket` (spec 3.3 L9) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// (a) revealed, no mediation, every slot posted.
    Complete,
    /// (b) the mediator reported, and every slot posted or D_post passed.
    Mediated,
    /// (c) no reveal by D_reveal.
    CustomerSilent,
    /// (d) revealed, no mediation, D_post passed with a slot silent.
    SupplierSilent,
    /// (e) mediation requested, D_med passed without a report, every slot posted or D_post passed.
    MediatorSilent,
}

impl Case {
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Complete => Outcome::Completed,
            Self::Mediated => Outcome::Mediated,
            Self::CustomerSilent => Outcome::CustomerTimedOut,
            Self::SupplierSilent => Outcome::SupplierTimedOut,
            Self::MediatorSilent => Outcome::MediatorTimedOut,
        }
    }
}

/// A party's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Honest: a supplier is paid V, a deposit comes back.
    Ok,
    /// The mediator found it wrong: full fine, no pay.
    Fault,
    /// Silent past its deadline: fined τ·F, no pay.
    TimedOut,
    /// Mismatched and never mediated: deposit back, its V back to the customer.
    Unresolved,
    /// Posted against a checklist the mediator found false and matched neither Γ^m_i nor Γ_i:
    /// deposit back, its V to the treasury.
    Unjudged,
}

/// Where a payment comes from: the customer's escrow or deposit, or a slot's deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Escrow,
    Deposit,
    Slot(u32),
}

/// Who a payment goes to (the customer gets what is left of its holds, by release).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Payee {
    Supplier(u32),
    Mediator,
    Treasury,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub from: Source,
    pub to: Payee,
    pub amount: u64,
}

/// The verdicts and the payments out of holds; every hold's remainder is then released to
/// its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settlement {
    pub case: Case,
    pub customer: Verdict,
    pub slots: Vec<Verdict>,
    pub payments: Vec<Payment>,
}

/// The closing condition that holds at `now`, if any (checked in the order of spec 3.3 L9).
pub fn closing_case(a: &Allocation, p: &StreamParams, now: u64) -> Option<Case> {
    let requested = a.mediation.is_some();
    let reported = a
        .mediation
        .as_ref()
        .is_some_and(|m| m.gamma_gammas.is_some());
    let posting_over = a.all_posted() || now >= a.post_deadline(p);
    if a.revealed && !requested && a.all_posted() {
        Some(Case::Complete)
    } else if reported && posting_over {
        Some(Case::Mediated)
    } else if !a.revealed && now >= a.reveal_deadline(p) {
        Some(Case::CustomerSilent)
    } else if a.revealed && !requested && now >= a.post_deadline(p) {
        Some(Case::SupplierSilent)
    } else if requested
        && !reported
        && a.mediation_deadline(p).is_some_and(|d| now >= d)
        && posting_over
    {
        Some(Case::MediatorSilent)
    } else {
        None
    }
}

/// The verdicts of spec 3.5 for `case`.
fn verdicts(a: &Allocation, case: Case) -> (Verdict, Vec<Verdict>) {
    let silent_or = |posted: bool, v: Verdict| if posted { v } else { Verdict::TimedOut };
    match case {
        Case::Complete => (Verdict::Ok, vec![Verdict::Ok; a.slots.len()]),
        // Without a checklist nothing could be posted or checked: every replica is paid.
        Case::CustomerSilent => (Verdict::TimedOut, vec![Verdict::Ok; a.slots.len()]),
        // Without mediation every posted γ matched.
        Case::SupplierSilent => {
            let slots = a
                .slots
                .iter()
                .map(|s| silent_or(s.gamma.is_some(), Verdict::Ok))
                .collect();
            (Verdict::Ok, slots)
        }
        Case::MediatorSilent => {
            let slots = a
                .slots
                .iter()
                .map(|s| {
                    let v = if s.matches {
                        Verdict::Ok
                    } else {
                        Verdict::Unresolved
                    };
                    silent_or(s.gamma.is_some(), v)
                })
                .collect();
            (Verdict::Ok, slots)
        }
        Case::Mediated => mediated(a),
    }
}

/// Case B (spec 3.5, 3.6 row B) with the false-checklist rule of this module.
///
/// The customer is at fault unless its checklist was true and every Γ_i equals the
/// mediator's Γ^m_i (seed Table 4.4: o3 and o4 fine it π_cd; here F_c = r·ρ·π_s).
///
/// A replica that did not post is timed out (τ_s·F_s, A16). One that posted is judged by a
/// hash the ledger checks, never by the mediator's word alone:
/// - **true checklist**: SHA-256(γ_i) == Γ^m_i → paid (o1), else fault (o2: F_s fined);
/// - **false checklist**: SHA-256(γ_i) == Γ^m_i (the mediator's re-run of the customer's test
///   seqs) or == Γ_i (the customer's own commitment, eq. 4.7: what it agreed to pay for) →
///   paid; otherwise **unjudged**: no V (it goes to the treasury, the customer pays
///   regardless, A13) and F_s back. Against a false checklist an honest replica finds none of
///   its outputs in α_c and posts the same γ(∅) as one that did nothing, so the ledger cannot
///   tell o3 from o4: fining would fine honest work for the customer's lie, paying would pay
///   laziness in full (the seed's o4 fines it π_sd).
fn mediated(a: &Allocation) -> (Verdict, Vec<Verdict>) {
    let (reference, checklist_ok) = match &a.mediation {
        Some(m) => (m.gamma_gammas.clone().unwrap_or_default(), m.checklist_ok),
        None => (Vec::new(), false),
    };
    let customer_ok = checklist_ok
        && reference.len() == a.commitments.len()
        && reference.iter().zip(&a.commitments).all(|(m, c)| m == c);
    let slots = a
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let Some(gamma) = s.gamma else {
                return Verdict::TimedOut;
            };
            let as_mediator = reference.get(i) == Some(&double(&gamma));
            match (as_mediator, checklist_ok) {
                (true, _) => Verdict::Ok,
                (false, true) => Verdict::Fault,
                (false, false) if s.matches => Verdict::Ok,
                (false, false) => Verdict::Unjudged,
            }
        })
        .collect();
    let customer = if customer_ok {
        Verdict::Ok
    } else {
        Verdict::Fault
    };
    (customer, slots)
}

/// Verdicts and payments (spec 3.6). "The customer pays regardless": each replica's V leaves
/// the escrow, to the supplier if it is paid, else to the treasury, also an unjudged one's
/// (refunding it would let a customer buy work for F_c < r·V by lying); an unresolved
/// replica's stays with the customer (nobody was found at fault). Fines pay the mediator's n·π_s first
/// when it mediated, in the order customer deposit, slot 0, …, slot r−1; the rest goes to the
/// treasury. The mediator's π_m is paid unless it failed to mediate.
pub fn settle(a: &Allocation, p: &StreamParams, case: Case) -> Settlement {
    let (customer, slots) = verdicts(a, case);
    let d = &a.derived;
    let mut payments = Vec::new();
    let mut pay = |from, to, amount| {
        if amount > 0 {
            payments.push(Payment { from, to, amount });
        }
    };
    for (i, v) in (0u32..).zip(&slots) {
        match v {
            Verdict::Ok => pay(Source::Escrow, Payee::Supplier(i), d.value),
            Verdict::Fault | Verdict::TimedOut | Verdict::Unjudged => {
                pay(Source::Escrow, Payee::Treasury, d.value)
            }
            Verdict::Unresolved => {}
        }
    }
    if case != Case::MediatorSilent {
        pay(Source::Escrow, Payee::Mediator, p.mediator_fee);
    }
    let fine = |v: &Verdict, full: u64, bps: u64| match v {
        Verdict::Fault => full,
        Verdict::TimedOut => share(full, bps),
        Verdict::Ok | Verdict::Unresolved | Verdict::Unjudged => 0,
    };
    let mut fines = vec![(
        Source::Deposit,
        fine(&customer, d.customer_fine, p.customer_timeout_fine_bps),
    )];
    for (i, v) in (0u32..).zip(&slots) {
        fines.push((
            Source::Slot(i),
            fine(v, d.supplier_fine, p.supplier_timeout_fine_bps),
        ));
    }
    let mut fee_left = if case == Case::Mediated {
        d.mediation_fee
    } else {
        0
    };
    for (from, amount) in fines {
        let to_mediator = fee_left.min(amount);
        fee_left -= to_mediator;
        pay(from, Payee::Mediator, to_mediator);
        pay(from, Payee::Treasury, amount - to_mediator);
    }
    Settlement {
        case,
        customer,
        slots,
        payments,
    }
}
