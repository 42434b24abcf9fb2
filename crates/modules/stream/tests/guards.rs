//! Every call's guards, each refused with its reason code by a call that breaks it alone; the
//! role × call authorization table; several allocations in a row.

use agora_stream::{StreamCall as C, *};
use agora_types::{Call, Keypair};

mod common;
use common::*;

const D_SIGN: u64 = 200 + 30_000;

#[test]
fn create_market_refuses_bad_parameters() {
    let mut f = Fixture::new();
    type Change = fn(&mut StreamParams);
    let bad: [Change; 12] = [
        |p| p.penalty_rate = 1,
        |p| p.sign_timeout_ms = 0,
        |p| p.reveal_timeout_ms = 0,
        |p| p.post_timeout_ms = 0,
        |p| p.mediation_timeout_ms = 0,
        |p| p.supplier_timeout_fine_bps = 10_001,
        |p| p.customer_timeout_fine_bps = 10_001,
        |p| p.max_replicas = 0,
        |p| p.max_replicas = 65,
        |p| p.max_checks = 0,
        |p| p.max_checks = 4_097,
        |p| p.max_open_per_allocator = 0,
    ];
    for change in bad {
        let mut p = params();
        change(&mut p);
        assert_eq!(
            f.chain.refused(&f.other, C::CreateMarket(p)),
            "invalid_params"
        );
    }
    let none = f
        .chain
        .exec
        .query("stream", "market", &serde_json::json!({"market": 1}));
    assert!(none.is_err(), "refused markets are not created");
}

#[test]
fn malformed_payloads_are_refused() {
    let mut f = Fixture::new();
    let call = Call {
        module: "stream".into(),
        payload: vec![200, 1, 2].into(),
    };
    let r = f.chain.raw_at(100, &f.other, call);
    assert_eq!(r.reason.as_deref(), Some("malformed_call"));
}

#[test]
fn create_allocation_refuses_bad_terms() {
    let mut f = Fixture::new();
    let base = terms(&f.customer, &f.mediator);
    type Change = fn(&mut Terms);
    let bad: [(Change, &str); 11] = [
        (|t| t.start_ms = t.end_ms, "bad_terms"),
        (|t| t.replicas = 0, "bad_terms"),
        (|t| t.replicas = 17, "bad_terms"),
        (|t| t.mediator = t.customer, "bad_terms"),
        // 20.001/s for 600 s is not a whole number of inputs.
        (|t| t.rate_milli = 20_001, "bad_terms"),
        (|t| t.rate_milli = 0, "bad_terms"),
        (|t| t.price = 0, "bad_terms"),
        // N = 1 200 000: n = 1 200 > max_checks (1 024) and ≥ ρ.
        (|t| t.rate_milli = 2_000_000, "bad_terms"),
        (|t| t.instructions = u64::MAX, "overflow"),
        // V = N·π_s fits, the fine ρ·π_s does not.
        (|t| t.price = u64::MAX / 12_000, "overflow"),
        // The window ended.
        (|t| (t.start_ms, t.end_ms) = (50, 150), "too_late"),
    ];
    for (change, reason) in bad {
        let mut t = base.clone();
        change(&mut t);
        let call = C::CreateAllocation {
            market: 0,
            terms: t.clone(),
        };
        assert_eq!(f.chain.refused_at(150, &f.allocator, call), reason, "{t:?}");
    }
    let call = C::CreateAllocation {
        market: 9,
        terms: base,
    };
    assert_eq!(f.chain.refused(&f.allocator, call), "unknown_market");
}

#[test]
fn an_allocator_has_at_most_max_open_allocations() {
    let mut p = params();
    p.max_open_per_allocator = 1;
    let mut f = Fixture::signing_with(p);
    let again = C::CreateAllocation {
        market: 0,
        terms: terms(&f.customer, &f.mediator),
    };
    assert_eq!(
        f.chain.refused(&f.allocator, again.clone()),
        "too_many_open"
    );
    // Another allocator is not limited by this one's allocations.
    f.chain.ok(&f.other, again.clone());
    // Closing frees the place.
    let cancel = C::ReturnDeposits {
        market: 0,
        allocation: A,
    };
    f.chain.ok_at(D_SIGN, &f.other, cancel);
    f.chain.ok(&f.allocator, again);
}

#[test]
fn add_supplier_refuses_each_broken_guard() {
    let mut f = Fixture::new();
    f.create();
    let add = |who: &Keypair, done| C::AddSupplier {
        market: 0,
        allocation: A,
        supplier: who.address(),
        offer_hash: [0; 32],
        done,
    };
    let unknown = C::AddSupplier {
        market: 0,
        allocation: 5,
        supplier: f.suppliers[0].address(),
        offer_hash: [0; 32],
        done: false,
    };
    assert_eq!(f.chain.refused(&f.allocator, unknown), "unknown_allocation");
    let s0 = add(&f.suppliers[0], false);
    assert_eq!(f.chain.refused(&f.other, s0.clone()), "not_allocator");
    for party in [&f.customer, &f.mediator] {
        let c = add(party, false);
        assert_eq!(f.chain.refused(&f.allocator, c), "duplicate_party");
    }
    assert_eq!(
        f.chain.refused(&f.allocator, add(&f.suppliers[0], true)),
        "replicas_mismatch"
    );
    f.chain.ok(&f.allocator, s0.clone());
    assert_eq!(
        f.chain.refused(&f.allocator, add(&f.suppliers[0], true)),
        "duplicate_party"
    );
    assert_eq!(
        f.chain.refused(&f.allocator, add(&f.suppliers[1], false)),
        "replicas_mismatch"
    );
    let last = add(&f.suppliers[1], true);
    assert_eq!(
        f.chain.refused_at(D_SIGN, &f.allocator, last.clone()),
        "too_late"
    );

    let mut g = Fixture::signing();
    let more = add(&g.other, true);
    assert_eq!(g.chain.refused(&g.allocator, more), "wrong_state");
}

#[test]
fn signatures_refuse_each_broken_guard() {
    let mut f = Fixture::new();
    f.create();
    let early = C::MediatorSign {
        market: 0,
        allocation: A,
        terms_hash: [0; 32],
    };
    assert_eq!(f.chain.refused(&f.mediator, early), "wrong_state");

    let mut f = Fixture::signing();
    let th = f.terms_hash();
    let wrong = [9; 32];
    let m = |terms_hash| C::MediatorSign {
        market: 0,
        allocation: A,
        terms_hash,
    };
    let c = |terms_hash, commitments| C::CustomerSign {
        market: 0,
        allocation: A,
        terms_hash,
        commitments,
    };
    let s = |terms_hash| C::SupplierSign {
        market: 0,
        allocation: A,
        terms_hash,
    };
    let good = f.commitments(&tests(false));

    assert_eq!(f.chain.refused(&f.mediator, m(wrong)), "terms_mismatch");
    assert_eq!(
        f.chain.refused(&f.customer, c(wrong, good.clone())),
        "terms_mismatch"
    );
    assert_eq!(f.chain.refused(&f.suppliers[0], s(wrong)), "terms_mismatch");
    assert_eq!(
        f.chain.refused(&f.customer, c(th, good[..1].to_vec())),
        "bad_commitment"
    );
    let three = vec![good[0]; 3];
    assert_eq!(f.chain.refused(&f.customer, c(th, three)), "bad_commitment");
    for call in [m(th), c(th, good.clone()), s(th)] {
        assert_eq!(f.chain.refused_at(D_SIGN, &f.other, call), "too_late");
    }

    let mut f = Fixture::signing();
    f.chain.ok(&f.mediator, m(th));
    f.chain.ok(&f.customer, c(th, good.clone()));
    f.chain.ok(&f.suppliers[0], s(th));
    assert_eq!(f.chain.refused(&f.mediator, m(th)), "already_signed");
    assert_eq!(
        f.chain.refused(&f.customer, c(th, good.clone())),
        "already_signed"
    );
    assert_eq!(f.chain.refused(&f.suppliers[0], s(th)), "already_signed");
    for call in [m(th), c(th, good.clone()), s(th)] {
        assert_eq!(f.chain.refused_at(D_SIGN, &f.mediator, call), "too_late");
    }
}

#[test]
fn signers_without_funds_are_refused() {
    let mut f = Fixture::new();
    let mut t = terms(&f.customer, &f.mediator);
    // π_s = 20 000: V = 240 M exceeds the customer's funds, F_s = 20 M a supplier's.
    t.price = 20_000;
    f.chain.ok_at(
        200,
        &f.allocator,
        C::CreateAllocation {
            market: 0,
            terms: t,
        },
    );
    let (a0, a1) = (f.add(0, false), f.add(1, true));
    f.chain.ok(&f.allocator, a0);
    f.chain.ok(&f.allocator, a1);
    let (c, s) = (f.sign_customer(&tests(false)), f.sign_supplier());
    assert_eq!(f.chain.refused(&f.customer, c), "insufficient_funds");
    assert_eq!(f.chain.refused(&f.suppliers[0], s), "insufficient_funds");
}

#[test]
fn reveal_refuses_each_broken_guard() {
    let mut f = Fixture::signing();
    let good = f.reveal_call(&tests(false));
    assert_eq!(
        f.chain.refused_at(END, &f.customer, good.clone()),
        "wrong_state"
    );

    let mut f = Fixture::running();
    assert_eq!(
        f.chain.refused_at(END - 1, &f.customer, good.clone()),
        "not_due"
    );
    assert_eq!(
        f.chain.refused_at(END, &f.mediator, good.clone()),
        "not_customer"
    );
    let mut short = tests(false);
    short.pop();
    let eleven = f.reveal_call(&short);
    assert_eq!(f.chain.refused(&f.customer, eleven), "bad_checklist");
    let C::RevealChecklist { hashes, .. } = &good else {
        unreachable!()
    };
    let mut dup = hashes.clone();
    dup[1] = dup[0];
    let dup = C::RevealChecklist {
        market: 0,
        allocation: A,
        hashes: dup,
    };
    assert_eq!(f.chain.refused(&f.customer, dup), "bad_checklist");
    assert_eq!(
        f.chain.refused_at(D_REVEAL, &f.customer, good.clone()),
        "too_late"
    );

    let mut f = Fixture::revealed();
    assert_eq!(f.chain.refused(&f.customer, good), "already_revealed");
}

#[test]
fn post_output_refuses_each_broken_guard() {
    let mut f = Fixture::signing();
    let g = f.gamma(0, &tests(false));
    assert_eq!(
        f.chain.refused(&f.suppliers[0], Fixture::post_call(g)),
        "wrong_state"
    );

    let mut f = Fixture::running();
    assert_eq!(
        f.chain
            .refused_at(END, &f.suppliers[0], Fixture::post_call(g)),
        "not_revealed"
    );

    let mut f = Fixture::revealed();
    assert_eq!(
        f.chain.refused(&f.customer, Fixture::post_call(g)),
        "not_supplier"
    );
    assert_eq!(
        f.chain
            .refused_at(D_POST, &f.suppliers[0], Fixture::post_call(g)),
        "too_late"
    );
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    assert_eq!(
        f.chain.refused(&f.suppliers[0], Fixture::post_call(g)),
        "already_posted"
    );
}

#[test]
fn post_mediation_refuses_each_broken_guard() {
    let mut f = Fixture::signing();
    let med = f.mediation_call(true);
    assert_eq!(f.chain.refused(&f.mediator, med.clone()), "wrong_state");

    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    assert_eq!(
        f.chain.refused(&f.mediator, med.clone()),
        "mediation_not_requested"
    );
    f.post(1, &tests(true));
    let requested = f.chain.now;
    assert_eq!(f.chain.refused(&f.customer, med.clone()), "not_mediator");
    let short = C::PostMediation {
        market: 0,
        allocation: A,
        gamma_gammas: vec![[0; 32]],
        checklist_ok: true,
    };
    assert_eq!(f.chain.refused(&f.mediator, short), "bad_mediation");
    assert_eq!(
        f.chain
            .refused_at(requested + 60_000, &f.mediator, med.clone()),
        "too_late"
    );

    let mut f = Fixture::revealed();
    f.post(1, &tests(true));
    f.chain.ok(&f.mediator, med.clone());
    assert_eq!(f.chain.refused(&f.mediator, med), "mediation_done");
}

#[test]
fn clearing_and_cancelling_refuse_each_broken_guard() {
    let mut f = Fixture::signing();
    let cancel = C::ReturnDeposits {
        market: 0,
        allocation: A,
    };
    assert_eq!(
        f.chain.refused_at(D_SIGN - 1, &f.other, cancel.clone()),
        "not_due"
    );
    assert_eq!(
        f.chain.refused_at(D_POST, &f.other, Fixture::clear_call()),
        "wrong_state"
    );

    let mut f = Fixture::running();
    assert_eq!(
        f.chain.refused_at(END, &f.other, Fixture::clear_call()),
        "not_due"
    );
    assert_eq!(f.chain.refused_at(D_POST, &f.other, cancel), "wrong_state");
    let unknown = C::ClearMarket {
        market: 0,
        allocation: 3,
    };
    assert_eq!(f.chain.refused(&f.other, unknown), "unknown_allocation");
    let unknown = C::ClearMarket {
        market: 4,
        allocation: 0,
    };
    assert_eq!(f.chain.refused(&f.other, unknown), "unknown_market");
}

/// Who may make each call. Every row is played by every role in the state where the call is
/// otherwise valid: the one role allowed succeeds and the others get the row's code, or
/// everyone succeeds (time-outs).
#[test]
fn role_by_call_authorization_table() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Who {
        Allocator,
        Customer,
        Mediator,
        Supplier,
        Outsider,
    }
    use Who::*;
    #[derive(Clone, Copy)]
    enum Allowed {
        Only(Who, &'static str),
        Anyone,
    }
    use Allowed::*;
    /// The state the call is played in, and the call.
    type Setup = (fn() -> Fixture, fn(&mut Fixture) -> StreamCall);
    let rows: [(&str, Setup, Allowed); 9] = [
        (
            "AddSupplier",
            (
                || {
                    let mut f = Fixture::new();
                    f.create();
                    let a0 = f.add(0, false);
                    f.chain.ok(&f.allocator, a0);
                    f
                },
                |f| f.add(1, true),
            ),
            Only(Allocator, "not_allocator"),
        ),
        (
            "MediatorSign",
            (Fixture::signing, |f| f.sign_mediator()),
            Only(Mediator, "not_mediator"),
        ),
        (
            "CustomerSign",
            (Fixture::signing, |f| f.sign_customer(&tests(false))),
            Only(Customer, "not_customer"),
        ),
        (
            "SupplierSign",
            (Fixture::signing, |f| f.sign_supplier()),
            Only(Supplier, "not_supplier"),
        ),
        (
            "RevealChecklist",
            (
                || {
                    let mut f = Fixture::running();
                    f.chain.now = END;
                    f
                },
                |f| f.reveal_call(&tests(false)),
            ),
            Only(Customer, "not_customer"),
        ),
        (
            "PostOutput",
            (Fixture::revealed, |f| {
                Fixture::post_call(f.gamma(0, &tests(false)))
            }),
            Only(Supplier, "not_supplier"),
        ),
        (
            "PostMediation",
            (
                || {
                    let mut f = Fixture::revealed();
                    f.post(1, &tests(true));
                    f
                },
                |f| f.mediation_call(true),
            ),
            Only(Mediator, "not_mediator"),
        ),
        (
            "ClearMarket",
            (
                || {
                    let mut f = Fixture::revealed();
                    f.post(0, &tests(false));
                    f.post(1, &tests(false));
                    f
                },
                |_| Fixture::clear_call(),
            ),
            Anyone,
        ),
        (
            "ReturnDeposits",
            (
                || {
                    let mut f = Fixture::signing();
                    f.chain.now = D_SIGN;
                    f
                },
                |_| C::ReturnDeposits {
                    market: 0,
                    allocation: A,
                },
            ),
            Anyone,
        ),
    ];
    for (name, (state, call), allowed) in rows {
        for who in [Allocator, Customer, Mediator, Supplier, Outsider] {
            let want = match allowed {
                Only(role, refusal) if role != who => refusal,
                _ => "ok",
            };
            let mut f = state();
            let call = call(&mut f);
            let key = match who {
                Allocator => &f.allocator,
                Customer => &f.customer,
                Mediator => &f.mediator,
                Supplier => &f.suppliers[0],
                Outsider => &f.other,
            };
            let now = f.chain.now;
            let r = f.chain.at(now, key, call);
            let got = r.reason.unwrap_or_else(|| "ok".into());
            assert_eq!(got, want, "{name} by {who:?}");
        }
    }
}

/// Several allocations in a row on one market, each closing on time (the prototype's phases
/// never closed), with the balances of G4's case A each time.
#[test]
fn consecutive_allocations_each_close() {
    let mut f = Fixture::revealed();
    f.post(0, &tests(false));
    f.post(1, &tests(false));
    f.clear_at(f.chain.now);
    for round in 1..4u64 {
        let shift = round * 1_000_000;
        let mut t = terms(&f.customer, &f.mediator);
        (t.start_ms, t.end_ms) = (START + shift, END + shift);
        f.chain.ok_at(
            200 + shift,
            &f.allocator,
            C::CreateAllocation {
                market: 0,
                terms: t,
            },
        );
        let id = round;
        let sup = |i: usize, done| C::AddSupplier {
            market: 0,
            allocation: id,
            supplier: f.suppliers[i].address(),
            offer_hash: [0; 32],
            done,
        };
        let (s0, s1) = (sup(0, false), sup(1, true));
        f.chain.ok(&f.allocator, s0);
        f.chain.ok(&f.allocator, s1);
        let a = f.chain.allocation(id);
        let th = a.terms_hash.unwrap();
        let gamma = |i: usize| {
            agora_stream::hashing::gamma(0, id, &f.suppliers[i].address(), &outputs(&tests(false)))
        };
        let commitments = (0..2)
            .map(|i| agora_stream::hashing::double(&gamma(i)))
            .collect();
        f.chain.ok(
            &f.mediator,
            C::MediatorSign {
                market: 0,
                allocation: id,
                terms_hash: th,
            },
        );
        f.chain.ok(
            &f.customer,
            C::CustomerSign {
                market: 0,
                allocation: id,
                terms_hash: th,
                commitments,
            },
        );
        for i in 0..2 {
            f.chain.ok(
                &f.suppliers[i],
                C::SupplierSign {
                    market: 0,
                    allocation: id,
                    terms_hash: th,
                },
            );
        }
        let hashes = agora_stream::hashing::alpha(0, id, &outputs(&tests(false)));
        f.chain.ok_at(
            END + shift,
            &f.customer,
            C::RevealChecklist {
                market: 0,
                allocation: id,
                hashes,
            },
        );
        for i in 0..2 {
            f.chain.ok(
                &f.suppliers[i],
                C::PostOutput {
                    market: 0,
                    allocation: id,
                    gamma: gamma(i),
                },
            );
        }
        f.chain.ok(
            &f.other,
            C::ClearMarket {
                market: 0,
                allocation: id,
            },
        );
        let n = (round + 1) as i64;
        assert_eq!(
            f.deltas(),
            [3_000 * n, 240_000 * n, 240_000 * n, 33 * n, -483_033 * n, 0]
        );
    }
    let open = f.chain.query("open", serde_json::json!({"market": 0}));
    assert_eq!(open, serde_json::json!({"allocations": [], "next": null}));
    let mine = f.chain.query(
        "allocations_of",
        serde_json::json!({"market": 0, "account": f.suppliers[1].address()}),
    );
    assert_eq!(
        mine,
        serde_json::json!({"allocations": [0, 1, 2, 3], "next": null})
    );
}
