//! Attacks and silent parties, each ending in the outcome the spec gives with G4's exact
//! balances: a lazy replica copying another's γ (A19), a silent supplier (case D), a silent
//! customer (case C), a silent mediator (case E), and a partial time-out fine (A16).

use agora_stream::{hashing, StreamCall as C, *};

mod common;
use common::*;

/// With r = 2 a lazy replica reads the honest replica's γ from the ledger and posts it. Bound
/// to the supplier, it does not open the lazy replica's own commitment: mediation fines it.
#[test]
fn a_replica_copying_anothers_gamma_is_fined() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    let copied = f.chain.allocation(A).slots[0].gamma.unwrap();
    let commitments = f.chain.allocation(A).commitments;
    // The seed's unbound γ would have passed: the copy opens slot 0's commitment.
    assert_eq!(hashing::double(&copied), commitments[0]);
    f.chain.ok(&f.suppliers[1], Fixture::post_call(copied));
    let a = f.chain.allocation(A);
    assert!(!a.slots[1].matches, "a copied γ must not match");
    assert_eq!(a.mediation.as_ref().unwrap().requested_by, 1);
    let med = f.mediation_call(true);
    f.chain.ok(&f.mediator, med);
    f.clear_at(f.chain.now);
    assert_eq!(
        f.deltas(),
        [3_000, 240_000, -20_000, 273, -483_033, 259_760]
    );
    f.assert_nothing_held();
}

/// Case D: slot 1 never posts. Nobody can clear before D_post; from D_post anyone can, and
/// slot 1 loses its V and its whole deposit (τ_s = 100 %).
#[test]
fn a_silent_supplier_is_fined_its_deposit() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    assert_eq!(
        f.chain
            .refused_at(D_POST - 1, &f.other, Fixture::clear_call()),
        "not_due"
    );
    let late = f.gamma(1, &tests(false));
    assert_eq!(
        f.chain
            .refused_at(D_POST, &f.suppliers[1], Fixture::post_call(late)),
        "too_late"
    );
    f.clear_at(D_POST);
    assert_eq!(
        f.chain.allocation(A).outcome,
        Some(Outcome::SupplierTimedOut)
    );
    assert_eq!(f.deltas(), [3_000, 240_000, -20_000, 33, -483_033, 260_000]);
    f.assert_nothing_held();
}

/// G4's remark: with τ_s = 50 % the silent slot gets half its deposit back.
#[test]
fn a_partial_timeout_fine_returns_the_rest() {
    let mut p = params();
    p.supplier_timeout_fine_bps = 5_000;
    let mut f = Fixture::revealed_in(p);
    f.post(0, &tests(false));
    f.clear_at(D_POST);
    assert_eq!(f.deltas(), [3_000, 240_000, -10_000, 33, -483_033, 250_000]);
}

/// Case C: the customer never reveals. Every replica is paid (nothing could be checked) and
/// the customer loses its deposit: silence costs as much as a wrong answer (A16).
#[test]
fn a_silent_customer_is_fined_its_deposit() {
    let mut f = Fixture::running();
    assert_eq!(
        f.chain
            .refused_at(D_REVEAL - 1, &f.other, Fixture::clear_call()),
        "not_due"
    );
    let r = f.reveal_call(&tests(false));
    assert_eq!(f.chain.refused_at(D_REVEAL, &f.customer, r), "too_late");
    f.clear_at(D_REVEAL);
    assert_eq!(
        f.chain.allocation(A).outcome,
        Some(Outcome::CustomerTimedOut)
    );
    assert_eq!(f.deltas(), [3_000, 240_000, 240_000, 33, -523_033, 40_000]);
    f.assert_nothing_held();
}

/// Case E: mediation is requested and the mediator never reports. The matching replica is
/// paid; the mismatching one is unresolved (deposit back, its V back to the customer); the
/// mediator earns nothing, its π_m back to the customer.
#[test]
fn a_silent_mediator_is_not_paid() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    f.post(1, &tests(true));
    let requested = f.chain.now;
    let d_med = requested + 60_000;
    assert_eq!(
        f.chain
            .refused_at(d_med - 1, &f.other, Fixture::clear_call()),
        "not_due"
    );
    let med = f.mediation_call(true);
    assert_eq!(f.chain.refused_at(d_med, &f.mediator, med), "too_late");
    f.clear_at(d_med);
    assert_eq!(
        f.chain.allocation(A).outcome,
        Some(Outcome::MediatorTimedOut)
    );
    assert_eq!(f.deltas(), [3_000, 240_000, 0, 0, -243_000, 0]);
    f.assert_nothing_held();
}

/// A mediated close waits for the suppliers still posting until D_post; a slot that stays
/// silent then is fined like in case D, and the mediator's fee comes from the first fine.
#[test]
fn mediation_waits_for_every_post_or_the_post_deadline() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(true));
    let med = f.mediation_call(true);
    f.chain.ok(&f.mediator, med);
    assert_eq!(
        f.chain
            .refused_at(D_POST - 1, &f.other, Fixture::clear_call()),
        "not_due"
    );
    f.clear_at(D_POST);
    assert_eq!(f.chain.allocation(A).outcome, Some(Outcome::Mediated));
    // Slot 0 faulty (fine 20 000: 240 to the mediator), slot 1 silent (fine 20 000).
    assert_eq!(
        f.deltas(),
        [3_000, -20_000, -20_000, 273, -483_033, 519_760]
    );
}

/// Nothing is refunded twice: clearing or cancelling again is refused.
#[test]
fn a_closed_allocation_refuses_every_call() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    f.post(1, &tests(false));
    f.clear_at(f.chain.now);
    let before = f.deltas();
    let cancel = C::ReturnDeposits {
        market: 0,
        allocation: A,
    };
    for call in [Fixture::clear_call(), cancel] {
        assert_eq!(f.chain.refused_at(D_POST, &f.other, call), "wrong_state");
    }
    assert_eq!(f.deltas(), before);
}
