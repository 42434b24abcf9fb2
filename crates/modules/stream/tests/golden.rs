//! The spec's golden checks: G5's hash vectors, G4's derived quantities and its payout table
//! (cases A, B and F here; the silent parties C, D, E in `attacks.rs`), with exact balances.

use agora_stream::{hashing, hashing::Output, terms, StreamCall as C, *};
use agora_types::Address;

mod common;
use common::*;

fn hex(h: Hash) -> String {
    hex::encode(h)
}

#[test]
fn g5_hash_vectors() {
    let tests = [
        Output {
            seq: 3,
            output: b"count=4",
        },
        Output {
            seq: 11,
            output: b"count=0",
        },
    ];
    let alpha: Vec<String> = hashing::alpha(1, 7, &tests).into_iter().map(hex).collect();
    assert_eq!(
        alpha,
        [
            "07abe774e4e42433f53a34cd492e9f00a019df92e0aa5888ca5f6ed0f7a29923",
            "f205d17e69d25070d35d80105cbd5112be9d5fbe0c775f253a9282f731c4db34"
        ]
    );
    let (s0, s1) = (Address([0x11; 32]), Address([0x22; 32]));
    let g0 = hashing::gamma(1, 7, &s0, &tests);
    assert_eq!(
        hex(g0),
        "8bfb112afbfec67c83db9bd0e21a8add93716ff6b5b5c701bfc00d55753b44e7"
    );
    assert_eq!(
        hex(hashing::double(&g0)),
        "18e6f58358b6099abed5d44da2e10bbf2f138dbab605cf45fa8721d5805698ce"
    );
    // Order of the outputs does not matter: γ sorts by seq.
    let reversed = [tests[1].clone(), tests[0].clone()];
    let g1 = hashing::gamma(1, 7, &s1, &reversed);
    assert_eq!(
        hex(g1),
        "2be1cceca673b75cb333d3e1ed2e58ed7deef69e072868f8ed2e1f7588740ac0"
    );
    let commit1 = hashing::commitment(1, 7, &s1, &tests);
    assert_eq!(
        hex(commit1),
        "5d7c6cbec0d211c8915d2c8cec739bec238ee82002fcb89df2428292ed8e23cf"
    );
    let wrong = [
        tests[0].clone(),
        Output {
            seq: 11,
            output: b"count=1",
        },
    ];
    let lazy = hashing::gamma(1, 7, &s1, &wrong);
    assert_eq!(
        hex(hashing::double(&lazy)),
        "6652af2e04db3798c5440184c6bb0d9c4ccb8c864ea9c23f6d922d40deb268c1"
    );
    // Slot 0's γ, copied by slot 1, does not open slot 1's commitment (A19).
    assert_ne!(hashing::double(&g0), commit1);
    // The supplier finds exactly its tested outputs among all it processed.
    let all = [
        Output {
            seq: 2,
            output: b"count=9",
        },
        tests[0].clone(),
        tests[1].clone(),
    ];
    assert_eq!(
        hashing::tested(1, 7, &all, &hashing::alpha(1, 7, &tests)),
        tests
    );
}

#[test]
fn g4_derived_quantities() {
    let k: Vec<_> = (1..=2).map(agora_types::Keypair::from_seed).collect();
    let d = terms::derive(&params(), &terms(&k[0], &k[1])).unwrap();
    assert_eq!(
        d,
        Derived {
            inputs: 12_000,
            price_per_input: 20,
            value: 240_000,
            checks: 12,
            supplier_fine: 20_000,
            customer_fine: 40_000,
            escrow: 483_033,
            mediation_fee: 240,
        }
    );
}

/// Holds while running: P_c + F_c + 2·F_s = 563 033 (π_A already paid).
#[test]
fn g4_holds_while_running() {
    let f = Fixture::running();
    assert_eq!(f.deltas(), [3_000, -20_000, -20_000, 0, -523_033, 0]);
}

#[test]
fn g4_case_a_all_match() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    f.post(1, &tests(false));
    f.clear_at(f.chain.now);
    assert_eq!(f.chain.allocation(A).outcome, Some(Outcome::Completed));
    assert_eq!(f.deltas(), [3_000, 240_000, 240_000, 33, -483_033, 0]);
    f.assert_nothing_held();
}

/// Case B: slot 1 skipped inputs, the mediator confirms the customer.
#[test]
fn g4_case_b_supplier_faulty() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    f.post(1, &tests(true));
    assert!(f.chain.allocation(A).mediation.is_some());
    let med = f.mediation_call(true);
    f.chain.ok(&f.mediator, med);
    f.clear_at(f.chain.now);
    assert_eq!(f.chain.allocation(A).outcome, Some(Outcome::Mediated));
    assert_eq!(
        f.deltas(),
        [3_000, 240_000, -20_000, 273, -483_033, 259_760]
    );
    f.assert_nothing_held();
}

/// Case B: the customer committed wrong outputs; both honest replicas mismatch it.
#[test]
fn g4_case_b_customer_faulty() {
    let mut f = Fixture::running_with(&tests(true));
    let r = f.reveal_call(&tests(true));
    f.chain.ok_at(END, &f.customer, r);
    f.post(0, &tests(false));
    f.post(1, &tests(false));
    let med = f.mediation_call(true);
    f.chain.ok(&f.mediator, med);
    f.clear_at(f.chain.now);
    assert_eq!(f.deltas(), [3_000, 240_000, 240_000, 273, -523_033, 39_760]);
    f.assert_nothing_held();
}

/// Case B: the customer's checklist was dishonest (the mediator says so): the customer is
/// fined; slot 0's γ opens Γ^m_0 and is paid, slot 1's opens nothing and is not (its V to
/// the treasury, its deposit back). More rows in `false_checklist.rs`.
#[test]
fn g4_case_b_dishonest_checklist() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    f.post(1, &tests(true));
    let med = f.mediation_call(false);
    f.chain.ok(&f.mediator, med);
    f.clear_at(f.chain.now);
    assert_eq!(f.deltas(), [3_000, 240_000, 0, 273, -523_033, 279_760]);
}

/// Case B: customer and both replicas wrong, each differently.
#[test]
fn g4_case_b_everyone_faulty() {
    let mut f = Fixture::running_with(&tests(true));
    let r = f.reveal_call(&tests(true));
    f.chain.ok_at(END, &f.customer, r);
    let lazy = skipped();
    f.post(0, &lazy);
    f.post(1, &lazy[..6]);
    let med = f.mediation_call(true);
    f.chain.ok(&f.mediator, med);
    f.clear_at(f.chain.now);
    assert_eq!(
        f.deltas(),
        [3_000, -20_000, -20_000, 273, -523_033, 559_760]
    );
    f.assert_nothing_held();
}

/// Case F: slot 1 never signs; after D_sign anyone refunds every hold, the allocator unpaid.
#[test]
fn g4_case_f_cancelled() {
    let mut f = Fixture::signing();
    let (m, c, s) = (
        f.sign_mediator(),
        f.sign_customer(&tests(false)),
        f.sign_supplier(),
    );
    f.chain.ok(&f.mediator, m);
    f.chain.ok(&f.customer, c);
    f.chain.ok(&f.suppliers[0], s);
    assert_eq!(f.deltas(), [0, -20_000, 0, 0, -523_033, 0]);
    let cancel = C::ReturnDeposits {
        market: 0,
        allocation: A,
    };
    let d_sign = 200 + 30_000;
    assert_eq!(
        f.chain.refused_at(d_sign - 1, &f.other, cancel.clone()),
        "not_due"
    );
    f.chain.ok_at(d_sign, &f.other, cancel);
    assert_eq!(f.chain.allocation(A).outcome, Some(Outcome::Cancelled));
    assert_eq!(f.deltas(), [0; 6]);
    f.assert_nothing_held();
}
