//! The role × call table (spec §8.3): for each call, every actor outside its allowed senders is
//! refused with the role's reason code, state unchanged, and then an allowed sender succeeds in
//! the same state (so each refusal is about the sender alone).

use agora_compute::{ComputeCall as C, RejectReason as R, Verdict as V, *};
use agora_types::Keypair;

mod common;
use common::*;

/// Which actors (by name) may send the call; every other one is refused with `code`.
struct Row {
    call: &'static str,
    setup: fn(&Actors) -> Chain,
    make: fn(&Actors) -> ComputeCall,
    allowed: &'static [&'static str],
    code: &'static str,
}

fn actor<'a>(a: &'a Actors, name: &str) -> &'a Keypair {
    match name {
        "jc" => &a.jc,
        "rp" => &a.rp,
        "med" => &a.med,
        "dir" => &a.dir,
        "solver" => &a.solver,
        "other" => &a.other,
        _ => unreachable!("unknown actor {name}"),
    }
}

const NAMES: [&str; 6] = ["jc", "rp", "med", "dir", "solver", "other"];

fn resulted_800(a: &Actors) -> Chain {
    resulted(a, completed(800, 9))
}

fn rejected_800(a: &Actors) -> Chain {
    rejected(a, completed(800, 9), R::WrongResults)
}

fn table() -> Vec<Row> {
    vec![
        Row {
            call: "SetTrust(Mediator)",
            setup: registered,
            make: |a| trust(TrustKind::Mediator, &a.med, false),
            allowed: &["jc", "rp"],
            code: "not_registered",
        },
        Row {
            call: "SetTrust(Directory)",
            setup: registered,
            make: |a| trust(TrustKind::Directory, &a.dir, false),
            allowed: &["jc", "rp", "med"],
            code: "not_registered",
        },
        Row {
            call: "SetRuntime",
            setup: registered,
            make: |_| runtime(false),
            allowed: &["rp", "med"],
            code: "not_registered",
        },
        Row {
            call: "PostJobOffer",
            setup: registered,
            make: |a| job_offer(&a.dir),
            allowed: &["jc"],
            code: "not_job_creator",
        },
        Row {
            call: "PostResourceOffer",
            setup: registered,
            make: |_| resource_offer(),
            allowed: &["rp"],
            code: "not_resource_provider",
        },
        Row {
            call: "CancelJobOffer",
            setup: offered,
            make: |_| C::CancelJobOffer {
                market: M,
                offer: 0,
            },
            allowed: &["jc"],
            code: "not_offer_owner",
        },
        Row {
            call: "CancelResourceOffer",
            setup: offered,
            make: |_| C::CancelResourceOffer {
                market: M,
                offer: 1,
            },
            allowed: &["rp"],
            code: "not_offer_owner",
        },
        Row {
            call: "PostResult",
            setup: matched,
            make: |_| post_result(completed(800, 9)),
            allowed: &["rp"],
            code: "not_resource_provider",
        },
        Row {
            call: "AcceptResult (within the window)",
            setup: resulted_800,
            make: |_| ACCEPT,
            allowed: &["jc"],
            code: "not_job_creator",
        },
        Row {
            call: "RejectResult",
            setup: resulted_800,
            make: |_| reject(R::WrongResults),
            allowed: &["jc"],
            code: "not_job_creator",
        },
        Row {
            call: "PostMediationResult",
            setup: rejected_800,
            make: |_| mediate(V::CorrectResults, None),
            allowed: &["med"],
            code: "not_mediator",
        },
    ]
}

#[test]
fn wrong_roles_are_refused_on_every_call() {
    let a = Actors::new();
    for row in table() {
        let mut chain = (row.setup)(&a);
        for name in NAMES.iter().filter(|n| !row.allowed.contains(n)) {
            let code = chain.refused(actor(&a, name), (row.make)(&a));
            assert_eq!(code, row.code, "{} by {name}", row.call);
        }
        for name in row.allowed {
            // Each allowed sender in a fresh copy of the state.
            let mut chain = (row.setup)(&a);
            chain.ok(actor(&a, name), (row.make)(&a));
        }
        chain.ok(actor(&a, row.allowed[0]), (row.make)(&a));
    }
}

/// Calls anyone may make once due: every actor succeeds, each in its own copy of the state.
#[test]
fn open_calls_accept_every_sender() {
    let a = Actors::new();
    type Case = (fn(&Actors) -> Chain, fn(&Actors) -> ComputeCall, u64);
    let cases: [Case; 6] = [
        (|a| Chain::new(&a.all()), |_| C::CreateMarket(params()), 1),
        (offered, post_match, 1),
        (
            offered,
            |_| C::ExpireJobOffer {
                market: M,
                offer: 0,
            },
            DEADLINE + 1,
        ),
        (matched, |_| TIMEOUT, DEADLINE + 1),
        (resulted_800, |_| ACCEPT, 1_000_000),
        (rejected_800, |_| MEDIATION_TIMEOUT, 1_000_000),
    ];
    for (setup, make, at) in cases {
        for name in NAMES {
            let mut chain = setup(&a);
            let at = at.max(chain.now + 1);
            chain.ok_at(at, actor(&a, name), make(&a));
        }
    }
}

#[test]
fn each_role_registers_once() {
    let a = Actors::new();
    let mut chain = registered(&a);
    let again = [
        (&a.jc, C::RegisterJobCreator { market: M }),
        (
            &a.rp,
            C::RegisterResourceProvider {
                market: M,
                instructions_per_sec: 1,
            },
        ),
        (
            &a.med,
            C::RegisterMediator {
                market: M,
                prices: Prices::default(),
                availability_fee: 0,
            },
        ),
        (
            &a.dir,
            C::RegisterDirectory {
                market: M,
                availability_fee: 0,
                endpoint: String::new(),
            },
        ),
    ];
    for (who, call) in again {
        assert_eq!(chain.refused(who, call.clone()), "already_registered");
        // Any other account may still take the role.
        chain.ok(&a.other, call);
    }
}
