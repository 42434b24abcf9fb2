//! Every precondition of the calls up to PostMatch (spec §2.3, §3; the later ones are in
//! `result_guards.rs`), each refused with its reason code by a call that violates it and
//! nothing else: the same call with that one input fixed succeeds.

use agora_compute::{ComputeCall as C, *};

mod common;
use agora_types::Keypair;
use common::*;

/// The fields of G4's job offer, to change one at a time.
struct JobFields {
    job: JobSpec,
    limits: Resources,
    max_prices: Prices,
    completion_deadline_ms: u64,
    match_incentive: u64,
    deposit: u64,
}

fn job_with(a: &Actors, f: impl FnOnce(&mut JobFields)) -> ComputeCall {
    let C::PostJobOffer {
        job,
        limits,
        max_prices,
        completion_deadline_ms,
        match_incentive,
        deposit,
        ..
    } = job_offer(&a.dir)
    else {
        unreachable!()
    };
    let mut j = JobFields {
        job,
        limits,
        max_prices,
        completion_deadline_ms,
        match_incentive,
        deposit,
    };
    f(&mut j);
    C::PostJobOffer {
        market: M,
        job: j.job,
        limits: j.limits,
        max_prices: j.max_prices,
        completion_deadline_ms: j.completion_deadline_ms,
        match_incentive: j.match_incentive,
        deposit: j.deposit,
    }
}

/// A change to a resource offer's caps, prices, incentive and deposit.
type ResTweak = fn(&mut Resources, &mut Prices, &mut u64, &mut u64);

/// A refused case: the change and the reason code.
type Case<T> = (T, &'static str);

/// G4's resource offer with caps, prices, incentive and deposit changed by `f`.
fn res_with(f: impl FnOnce(&mut Resources, &mut Prices, &mut u64, &mut u64)) -> ComputeCall {
    let C::PostResourceOffer {
        mut caps,
        mut prices,
        mut match_incentive,
        mut deposit,
        ..
    } = resource_offer()
    else {
        unreachable!()
    };
    f(&mut caps, &mut prices, &mut match_incentive, &mut deposit);
    C::PostResourceOffer {
        market: M,
        caps,
        prices,
        match_incentive,
        deposit,
    }
}

#[test]
fn market_parameters() {
    let a = Actors::new();
    let mut chain = Chain::new(&a.all());
    let bad: [fn(&mut MarketParams); 4] = [
        |p| p.penalty_rate = 0,
        |p| p.verification_count = 0,
        |p| p.reaction_window_ms = 0,
        |p| p.mediation_window_ms = 0,
    ];
    for f in bad {
        let mut p = params();
        f(&mut p);
        assert_eq!(
            chain.refused(&a.other, C::CreateMarket(p)),
            "invalid_params"
        );
    }
    chain.ok(&a.other, C::CreateMarket(params()));
}

#[test]
fn registrations() {
    let a = Actors::new();
    let mut chain = Chain::new(&a.all());
    assert_eq!(
        chain.refused(&a.jc, C::RegisterJobCreator { market: M }),
        "unknown_market"
    );
    chain.ok(&a.other, C::CreateMarket(params()));
    let rp = |ips| C::RegisterResourceProvider {
        market: M,
        instructions_per_sec: ips,
    };
    assert_eq!(chain.refused(&a.rp, rp(0)), "invalid_call");
    chain.ok(&a.rp, rp(1));
    let dir = |len| C::RegisterDirectory {
        market: M,
        availability_fee: 0,
        endpoint: "x".repeat(len),
    };
    assert_eq!(chain.refused(&a.dir, dir(257)), "invalid_call");
    chain.ok(&a.dir, dir(256));
}

#[test]
fn trust_targets_must_hold_the_role() {
    let a = Actors::new();
    let mut chain = registered(&a);
    // The directory is not a mediator, the mediator not a directory.
    assert_eq!(
        chain.refused(&a.jc, trust(TrustKind::Mediator, &a.dir, true)),
        "target_not_registered"
    );
    assert_eq!(
        chain.refused(&a.jc, trust(TrustKind::Directory, &a.med, true)),
        "target_not_registered"
    );
    // Removing an edge to anyone is allowed (the text's "remove a cheater").
    chain.ok(&a.jc, trust(TrustKind::Directory, &a.med, false));
}

#[test]
fn resource_offer_preconditions() {
    let a = Actors::new();
    let mut chain = registered(&a);
    let cases: [Case<ResTweak>; 3] = [
        (|_, _, i, _| *i = 9, "incentive_too_small"),
        (|_, _, i, d| (*i, *d) = (20, 19), "deposit_too_small"),
        (|_, _, _, d| *d = FUNDS + 1, "insufficient_funds"),
    ];
    for (f, code) in cases {
        assert_eq!(chain.refused(&a.rp, res_with(f)), code);
    }
    chain.ok(&a.rp, res_with(|_, _, i, d| (*i, *d) = (20, 20)));
}

#[test]
fn job_offer_preconditions() {
    let a = Actors::new();
    let mut chain = registered(&a);
    // Eq. 3.2 without f_M (unknown before match): 52·5,000 + f_D 20 + i_J 10.
    let at_posting = 260_030;
    let cases: [Case<fn(&mut JobFields)>; 7] = [
        (
            |j| j.job.directory = agora_types::Address([9; 32]),
            "unknown_directory",
        ),
        (|j| j.job.runtime = [0; 32], "invalid_call"),
        (|j| j.limits.bandwidth = JOB_BYTES - 1, "limits_below_job"),
        (|j| j.completion_deadline_ms = 0, "deadline_passed"),
        (|j| j.match_incentive = 9, "incentive_too_small"),
        (|j| j.deposit = 260_029, "deposit_too_small"),
        (|j| j.max_prices.instruction = u64::MAX, "overflow"),
    ];
    for (f, code) in cases {
        assert_eq!(chain.refused(&a.jc, job_with(&a, f)), code);
    }
    chain.ok(&a.jc, job_with(&a, |j| j.deposit = at_posting));
}

#[test]
fn cancel_and_expire_preconditions() {
    let a = Actors::new();
    let mut chain = offered(&a);
    let cancel = |offer| C::CancelJobOffer { market: M, offer };
    let expire = C::ExpireJobOffer {
        market: M,
        offer: 0,
    };
    assert_eq!(chain.refused(&a.jc, cancel(7)), "unknown_offer");
    // A resource offer is not a job offer.
    assert_eq!(chain.refused(&a.jc, cancel(1)), "unknown_offer");
    assert_eq!(
        chain.refused_at(DEADLINE, &a.other, expire.clone()),
        "not_due"
    );
    chain.ok(&a.jc, cancel(0));
    assert_eq!(chain.refused(&a.jc, cancel(0)), "offer_not_open");
    assert_eq!(chain.refused(&a.other, expire), "offer_not_open");
}

/// One case of the match's feasibility: what changes from G4's registered market, offers and
/// match.
enum Tweak {
    /// G4's resource offer, changed.
    Resource(ResTweak),
    /// G4's job offer, changed (given the chain's clock).
    Job(fn(&mut JobFields, u64)),
    /// One more call before the offers: who makes it, and the call.
    Before(fn(&Actors) -> (&Keypair, ComputeCall)),
    /// Another match, after its set-up.
    Match(fn(&Actors, &mut Chain) -> ComputeCall),
}

/// Registers `who` as a mediator with instruction price `q_i` (bandwidth 2, fee 30), trusted by
/// the JC and the RP and running the runtime; returns G4's match through it.
fn another_mediator(a: &Actors, chain: &mut Chain, who: &Keypair, q_i: u64) -> ComputeCall {
    chain.ok(
        who,
        C::RegisterMediator {
            market: M,
            prices: Prices {
                instruction: q_i,
                bandwidth: 2,
            },
            availability_fee: 30,
        },
    );
    for k in [&a.jc, &a.rp] {
        chain.ok(k, trust(TrustKind::Mediator, who, true));
    }
    chain.ok(who, runtime(true));
    match_via(who)
}

#[test]
fn every_feasibility_constraint_refuses_alone() {
    use Tweak::*;
    let cases: Vec<(Tweak, &str)> = vec![
        (
            Resource(|c, _, _, _| c.instructions = 999),
            "infeasible_instructions",
        ),
        (
            Resource(|c, _, _, _| c.memory = 65_535),
            "infeasible_memory",
        ),
        (Resource(|c, _, _, _| c.storage = 199), "infeasible_storage"),
        (
            Resource(|c, _, _, _| c.bandwidth = 499),
            "infeasible_bandwidth",
        ),
        (
            Resource(|_, p, _, _| p.instruction = 5),
            "infeasible_instruction_price",
        ),
        (
            Resource(|_, p, _, _| p.bandwidth = 3),
            "infeasible_bandwidth_price",
        ),
        (Before(|a| (&a.rp, runtime(false))), "infeasible_runtime_rp"),
        (
            Before(|a| (&a.med, runtime(false))),
            "infeasible_runtime_mediator",
        ),
        (
            Before(|a| (&a.jc, trust(TrustKind::Mediator, &a.med, false))),
            "infeasible_jc_trusts_mediator",
        ),
        (
            Before(|a| (&a.rp, trust(TrustKind::Mediator, &a.med, false))),
            "infeasible_rp_trusts_mediator",
        ),
        (
            Before(|a| (&a.jc, trust(TrustKind::Directory, &a.dir, false))),
            "infeasible_jc_trusts_directory",
        ),
        (
            Before(|a| (&a.rp, trust(TrustKind::Directory, &a.dir, false))),
            "infeasible_rp_trusts_directory",
        ),
        (
            Before(|a| (&a.med, trust(TrustKind::Directory, &a.dir, false))),
            "infeasible_mediator_trusts_directory",
        ),
        // 1,000 instructions at 1,000,000/s need 1 ms: a deadline 1 ms after the match fails.
        (
            Job(|j, now| j.completion_deadline_ms = now + 3),
            "infeasible_deadline",
        ),
        (
            Match(|a, c| {
                let m = another_mediator(a, c, &a.other, 5);
                c.ok(&a.other, trust(TrustKind::Directory, &a.dir, true));
                m
            }),
            "infeasible_mediator_prices",
        ),
        (
            Match(|a, c| another_mediator(a, c, &a.jc, 3)),
            "infeasible_self_mediation",
        ),
        (Job(|j, _| j.deposit = 260_059), "infeasible_deposit_jc"),
        (Resource(|_, _, _, d| *d = 260_059), "infeasible_deposit_rp"),
        (Match(|a, _| match_via(&a.dir)), "unknown_mediator"),
    ];
    let a = Actors::new();
    for (tweak, code) in cases {
        let mut chain = registered(&a);
        let (mut job, mut res, mut m) = (job_offer(&a.dir), resource_offer(), post_match(&a));
        match tweak {
            Resource(f) => res = res_with(f),
            Job(f) => {
                let now = chain.now;
                job = job_with(&a, |j| f(j, now));
            }
            Before(f) => {
                let (who, call) = f(&a);
                chain.ok(who, call);
            }
            Match(f) => m = f(&a, &mut chain),
        }
        chain.ok(&a.jc, job);
        chain.ok(&a.rp, res);
        assert_eq!(chain.refused(&a.solver, m), code);
    }
    // Unchanged, the same calls match; then neither offer is open any more.
    let mut chain = offered(&a);
    chain.ok(&a.solver, post_match(&a));
    assert_eq!(
        chain.refused(&a.solver, post_match(&a)),
        "infeasible_job_not_open"
    );
    let mut chain = offered(&a);
    chain.ok(&a.jc, job_offer(&a.dir));
    chain.ok(&a.solver, post_match(&a));
    let second = C::PostMatch {
        market: M,
        job_offer: 2,
        resource_offer: 1,
        mediator: a.med.address(),
    };
    assert_eq!(
        chain.refused(&a.solver, second),
        "infeasible_resource_not_open"
    );
}
