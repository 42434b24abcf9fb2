//! A customer whose checklist the mediator finds false (verdict.rs, "false checklist"): every
//! row with G4's exact balances (allocator, slot 0, slot 1, mediator, customer, treasury).
//! Before the rule every replica that posted was paid; now a replica is paid only for a γ
//! whose hash the ledger checks against Γ^m_i or Γ_i, the others get their deposit back
//! without V, and the customer loses F_c (240 of it to the mediator).

use agora_stream::{StreamCall as C, *};

mod common;
use common::*;

/// n = 12 distinct hashes that are the α of no output: a customer that computed no test.
fn random_checklist() -> StreamCall {
    C::RevealChecklist {
        market: 0,
        allocation: A,
        hashes: (1..=12u8).map(|i| [i; 32]).collect(),
    }
}

/// A lying customer: it committed to outputs it never computed (Γ_i over wrong outputs) and
/// reveals random hashes at a_end.
fn lying_customer() -> Fixture {
    let mut f = Fixture::running_with(&tests(true));
    let r = random_checklist();
    f.chain.ok_at(END, &f.customer, r);
    f
}

/// The mediator re-ran the customer's true tests and found the checklist false.
fn mediate_false(f: &mut Fixture) {
    let med = f.mediation_call(false);
    f.chain.ok(&f.mediator, med);
}

/// Every replica's V and the customer's F_c (less the mediator's 240) to the treasury.
const NOBODY_PAID: [i64; 6] = [3_000, 0, 0, 273, -523_033, 519_760];

/// An honest replica finds none of its outputs in a random checklist and posts γ(∅): the
/// ledger cannot tell it from a lazy one, so it is not paid, and not fined either.
#[test]
fn honest_replicas_facing_a_lying_customer_keep_their_deposits() {
    let mut f = lying_customer();
    f.post(0, &[]);
    f.post(1, &[]);
    assert!(f.chain.allocation(A).mediation.is_some());
    mediate_false(&mut f);
    f.clear_at(f.chain.now);
    assert_eq!(f.chain.allocation(A).outcome, Some(Outcome::Mediated));
    assert_eq!(f.deltas(), NOBODY_PAID);
    f.assert_nothing_held();
}

/// The finding: a lazy replica facing a lying customer was paid V in full. Now it is not.
#[test]
fn a_lazy_replica_facing_a_lying_customer_is_not_paid() {
    let mut f = lying_customer();
    f.post(0, &[]);
    f.post(1, &skipped());
    mediate_false(&mut f);
    f.clear_at(f.chain.now);
    assert_eq!(f.deltas(), NOBODY_PAID);
    f.assert_nothing_held();
}

/// A lazy replica copying the other's γ (A19) gains nothing against a lying customer either.
#[test]
fn a_copier_facing_a_lying_customer_is_not_paid() {
    let mut f = lying_customer();
    f.post(0, &[]);
    let copied = f.chain.allocation(A).slots[0].gamma.unwrap();
    f.chain.ok(&f.suppliers[1], Fixture::post_call(copied));
    mediate_false(&mut f);
    f.clear_at(f.chain.now);
    assert_eq!(f.deltas(), NOBODY_PAID);
    f.assert_nothing_held();
}

/// A replica silent past D_post is fined τ_s·F_s as in case D; the one that posted keeps its
/// deposit without V.
#[test]
fn a_silent_replica_facing_a_lying_customer_is_fined_for_its_silence() {
    let mut f = lying_customer();
    f.post(0, &[]);
    mediate_false(&mut f);
    assert_eq!(
        f.chain
            .refused_at(D_POST - 1, &f.other, Fixture::clear_call()),
        "not_due"
    );
    f.clear_at(D_POST);
    assert_eq!(f.deltas(), [3_000, 0, -20_000, 273, -523_033, 539_760]);
    f.assert_nothing_held();
}

/// The customer revealed its true checklist and commitments but never answered the mediator,
/// which reports zeros and a false checklist. The honest replica opened the customer's own
/// Γ_0 and is paid; the copier of its γ opens neither Γ_1 nor Γ^m_1 and is not.
#[test]
fn mixed_replicas_only_a_checked_gamma_is_paid() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    let copied = f.chain.allocation(A).slots[0].gamma.unwrap();
    f.chain.ok(&f.suppliers[1], Fixture::post_call(copied));
    let zeros = C::PostMediation {
        market: 0,
        allocation: A,
        gamma_gammas: vec![[0; 32]; 2],
        checklist_ok: false,
    };
    f.chain.ok(&f.mediator, zeros);
    f.clear_at(f.chain.now);
    assert_eq!(f.deltas(), [3_000, 240_000, 0, 273, -523_033, 279_760]);
    f.assert_nothing_held();
}

/// Whatever made the mediator find the checklist false (here the customer's commitments are
/// wrong too), a replica whose γ opens the mediator's Γ^m_i is paid though it does not open
/// the customer's Γ_i; the lazy one opens neither and is not.
#[test]
fn mixed_replicas_judged_by_the_mediators_recomputation() {
    let mut f = Fixture::running_with(&tests(true));
    let r = f.reveal_call(&tests(false));
    f.chain.ok_at(END, &f.customer, r);
    f.post(0, &tests(false));
    f.post(1, &skipped());
    mediate_false(&mut f);
    f.clear_at(f.chain.now);
    assert_eq!(f.deltas(), [3_000, 240_000, 0, 273, -523_033, 279_760]);
    f.assert_nothing_held();
}
