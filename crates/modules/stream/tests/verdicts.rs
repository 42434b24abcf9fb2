//! The verdict rule over random allocations at close (honest, lazy, copying and silent
//! replicas; honest and lying customers; no, silent, true-checklist and false-checklist
//! mediation; random fees, fines and time-out shares): no payment exceeds its hold (tokens are
//! conserved: the rest is released), and no replica is paid for a γ that opens no hash the
//! ledger checked.

use agora_stream::verdict::{closing_case, settle, Case, Payee, Source, Verdict};
use agora_stream::{hashing, terms, *};
use agora_types::Address;
use proptest::prelude::*;

mod common;
use common::{outputs, skipped, tests};

/// What a replica posted.
#[derive(Clone, Copy, Debug)]
enum Post {
    Silent,
    Honest,
    /// γ over outputs of skipped inputs (or nothing found in a random checklist).
    Lazy,
    /// Slot `j`'s honest γ.
    Copy(usize),
}

/// What the mediator did once asked.
#[derive(Clone, Copy, Debug)]
enum Report {
    Silent,
    /// Γ^m_i over the true tests (`truth`) or zeros (the customer did not answer).
    Posted {
        truth: bool,
        checklist_ok: bool,
    },
}

#[derive(Clone, Debug)]
struct World {
    params: StreamParams,
    inputs: u64,
    price: u64,
    replicas: usize,
    honest_customer: bool,
    revealed: bool,
    posts: Vec<Post>,
    report: Report,
}

fn post() -> impl Strategy<Value = Post> {
    prop_oneof![
        Just(Post::Silent),
        Just(Post::Honest),
        Just(Post::Lazy),
        (0..4usize).prop_map(Post::Copy),
    ]
}

fn report() -> impl Strategy<Value = Report> {
    prop_oneof![
        Just(Report::Silent),
        (any::<bool>(), any::<bool>()).prop_map(|(truth, checklist_ok)| Report::Posted {
            truth,
            checklist_ok
        }),
    ]
}

fn world() -> impl Strategy<Value = World> {
    (
        // N < ρ(ρ−1), so that n = ⌈N/ρ⌉ < ρ: every drawn allocation is valid.
        (2..60u64)
            .prop_flat_map(|rho| (Just(rho), 1..rho * (rho - 1)))
            .prop_flat_map(|(rho, n)| (Just(rho), Just(n), 1..50u64, 0..=BPS, 0..=BPS)),
        (0..5_000u64, 0..5_000u64),
        (1..=4usize, any::<bool>(), any::<bool>()),
        prop::collection::vec(post(), 4),
        report(),
    )
        .prop_map(
            |(
                (rho, inputs, price, tau_s, tau_c),
                (fee_a, fee_m),
                (r, honest, revealed),
                posts,
                report,
            )| {
                let params = StreamParams {
                    penalty_rate: rho,
                    allocator_fee: fee_a,
                    mediator_fee: fee_m,
                    sign_timeout_ms: 1,
                    reveal_timeout_ms: 1,
                    post_timeout_ms: 1,
                    mediation_timeout_ms: 1,
                    supplier_timeout_fine_bps: tau_s,
                    customer_timeout_fine_bps: tau_c,
                    max_replicas: 16,
                    max_checks: 1_024,
                    max_open_per_allocator: 1_000,
                };
                World {
                    params,
                    inputs,
                    price,
                    replicas: r,
                    honest_customer: honest,
                    revealed,
                    posts: posts[..r].to_vec(),
                    report,
                }
            },
        )
}

/// The allocation as `ClearMarket` finds it (`None` if the terms are invalid).
fn allocation(w: &World) -> Option<Allocation> {
    let supplier = |i: usize| Address([i as u8 + 1; 32]);
    let t = Terms {
        customer: Address([100; 32]),
        mediator: Address([101; 32]),
        customer_offer: [0; 32],
        service: [0; 32],
        start_ms: 0,
        end_ms: 1_000,
        rate_milli: w.inputs * 1_000,
        instructions: 1,
        price: w.price,
        replicas: w.replicas as u32,
    };
    let derived = terms::derive(&w.params, &t).ok()?;
    let (truth, wrong, lazy) = (tests(false), tests(true), skipped());
    let gamma = |i: usize, o: &[(u64, Vec<u8>)]| hashing::gamma(0, 0, &supplier(i), &outputs(o));
    let honest = |i: usize| gamma(i, &truth);
    let commitments: Vec<Hash> = (0..w.replicas)
        .map(|i| hashing::double(&gamma(i, if w.honest_customer { &truth } else { &wrong })))
        .collect();
    let slots: Vec<Slot> = (0..w.replicas)
        .map(|i| {
            let posted = match w.posts[i] {
                _ if !w.revealed => None,
                Post::Silent => None,
                Post::Honest => Some(honest(i)),
                Post::Lazy => Some(gamma(i, &lazy)),
                Post::Copy(j) => Some(honest(j)),
            };
            Slot {
                supplier: supplier(i),
                offer: [0; 32],
                hold: Some(10 + i as u64),
                matches: posted.is_some_and(|g| hashing::double(&g) == commitments[i]),
                gamma: posted,
            }
        })
        .collect();
    let requested = slots.iter().any(|s| s.gamma.is_some() && !s.matches);
    let mediation = requested.then(|| {
        let (gamma_gammas, checklist_ok) = match w.report {
            Report::Silent => (None, false),
            Report::Posted {
                truth,
                checklist_ok,
            } => {
                let gg = (0..w.replicas)
                    .map(|i| {
                        if truth {
                            hashing::double(&honest(i))
                        } else {
                            [0; 32]
                        }
                    })
                    .collect();
                (Some(gg), checklist_ok)
            }
        };
        Mediation {
            requested_ms: 1_000,
            requested_by: 0,
            gamma_gammas,
            checklist_ok,
        }
    });
    Some(Allocation {
        market: 0,
        id: 0,
        allocator: Address([102; 32]),
        terms: t,
        derived,
        created_ms: 0,
        state: State::Running,
        outcome: None,
        terms_hash: Some([0; 32]),
        mediator_signed: true,
        escrow_hold: Some(1),
        deposit_hold: Some(2),
        commitments,
        revealed: w.revealed,
        slots,
        mediation,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    #[test]
    fn payments_fit_their_holds_and_only_checked_gammas_are_paid(w in world()) {
        let a = allocation(&w).expect("valid terms");
        let p = &w.params;
        let d = &a.derived;
        // Every deadline has passed: the first closing condition that holds applies.
        let case = closing_case(&a, p, u64::MAX).expect("some case is due at the end of time");
        let s = settle(&a, p, case);
        let r = a.slots.len();

        // Holds at close: the escrow less π_A (paid at Running), F_c, and F_s per slot.
        let mut taken = vec![0u64; r + 2];
        let mut paid = vec![0u32; r];
        let mut mediator = 0;
        for pay in &s.payments {
            prop_assert!(pay.amount > 0);
            let k = match pay.from {
                Source::Escrow => 0,
                Source::Deposit => 1,
                Source::Slot(i) => 2 + i as usize,
            };
            taken[k] += pay.amount;
            match pay.to {
                Payee::Supplier(i) => {
                    prop_assert_eq!(pay.from, Source::Escrow);
                    prop_assert_eq!(pay.amount, d.value);
                    paid[i as usize] += 1;
                }
                Payee::Mediator => mediator += pay.amount,
                Payee::Treasury => {}
            }
        }
        prop_assert!(taken[0] <= d.escrow - p.allocator_fee);
        prop_assert!(taken[1] <= d.customer_fine);
        prop_assert!(taken[2..].iter().all(|&t| t <= d.supplier_fine));
        prop_assert!(mediator <= p.mediator_fee + d.mediation_fee);

        let report = a.mediation.as_ref().and_then(|m| {
            m.gamma_gammas.as_ref().map(|gg| (gg.clone(), m.checklist_ok))
        });
        for (i, slot) in a.slots.iter().enumerate() {
            prop_assert!(paid[i] <= 1);
            let opens_mediator = match (&report, slot.gamma) {
                (Some((gg, _)), Some(g)) => gg[i] == hashing::double(&g),
                _ => false,
            };
            let false_checklist = matches!(report, Some((_, false)));
            if paid[i] == 1 && case != Case::CustomerSilent {
                // Paid only for a γ whose hash the ledger checked: the mediator's Γ^m_i when it
                // reported, or the customer's own Γ_i unless a true checklist judged it.
                let checked = match &report {
                    Some((_, true)) => opens_mediator,
                    Some((_, false)) => opens_mediator || slot.matches,
                    None => slot.matches,
                };
                prop_assert!(checked, "slot {} paid in {:?}: {:?}", i, case, w);
            }
            // A replica whose work the mediator confirmed, or any replica that posted against a
            // false checklist, is never fined.
            if case == Case::Mediated && slot.gamma.is_some() && (opens_mediator || false_checklist) {
                prop_assert_eq!(taken[2 + i], 0, "slot {} fined: {:?}", i, w);
                prop_assert!(s.slots[i] == Verdict::Ok || s.slots[i] == Verdict::Unjudged);
            }
            // The finding: a lazy or copying replica is never paid, against a lying customer
            // too (only a customer that never revealed pays every replica, case C).
            let lazy = match w.posts[i] {
                Post::Lazy => true,
                Post::Copy(j) => j != i,
                Post::Silent | Post::Honest => false,
            };
            if lazy && case != Case::CustomerSilent {
                prop_assert_eq!(paid[i], 0, "lazy slot {} paid: {:?}", i, w);
            }
        }
        // The customer that revealed a false checklist pays F_c.
        if case == Case::Mediated && matches!(report, Some((_, false))) {
            prop_assert_eq!(s.customer, Verdict::Fault);
            prop_assert_eq!(taken[1], d.customer_fine);
        }
    }
}
