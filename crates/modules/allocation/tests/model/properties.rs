//! The spec's properties (section 3.3), one named predicate each, over a state or over a
//! transition (pre-state, action, receipt, post-state). CTL's AG is "on every explored state
//! or transition"; the transition predicates read the pre-state, which is what the seed's
//! `A[¬x W guard]` formulas, as corrected, mean.

use super::alphabet::Action;
use super::harness::{Actor, View};
use agora_allocation::{reference::by_definition, AllocationCall as C, *};
use agora_types::{Receipt, TxStatus};

/// A transition: what the predicates see.
pub struct Step<'a> {
    pub pre: &'a View,
    pub action: &'a Action,
    /// `None` for a clock step.
    pub receipt: Option<&'a Receipt>,
    pub post: &'a View,
}

impl Step<'_> {
    fn call(&self) -> Option<(Actor, &C)> {
        match self.action {
            Action::Call(actor, call) => Some((*actor, call)),
            Action::Tick => None,
        }
    }

    /// The call, if it succeeded.
    fn succeeded(&self) -> Option<(Actor, &C)> {
        let ok = self.receipt.is_some_and(|r| r.status == TxStatus::Success);
        self.call().filter(|_| ok)
    }
}

pub type Check = Result<(), String>;

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Check {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

fn phase(v: &View) -> Option<Phase> {
    v.market.as_ref().map(|m| m.phase)
}

fn market(v: &View) -> &Market {
    v.market.as_ref().expect("a market")
}

/// Fig. 6.3's transition of a call: the states it leaves from and goes to (`None` = Init).
/// `ReleaseOffer` is Agora's and keeps the phase.
pub fn lts_label(call: &C, before: Option<Phase>) -> (Option<Phase>, Option<Phase>) {
    use Phase::*;
    match call {
        C::CreateMarket(_) => (None, Some(Receive)),
        C::SetZone { .. }
        | C::CreateOffer { .. }
        | C::UpdateOffer { .. }
        | C::PostOffer { .. }
        | C::CancelOffer { .. }
        | C::PlaceOffer { .. } => (Some(Receive), Some(Receive)),
        C::Close { .. } => (Some(Receive), Some(Solve)),
        C::CreateSolution { .. } | C::AddAssignments { .. } | C::SubmitSolution { .. } => {
            (Some(Solve), Some(Solve))
        }
        C::Finalize { .. } => (Some(Solve), Some(Receive)),
        C::ReleaseOffer { .. } => (before, before),
    }
}

/// LTS refinement: every successful call is a transition of Fig. 6.3 from the phase before to
/// the phase after.
pub fn lts(s: &Step) -> Check {
    let Some((_, call)) = s.succeeded() else {
        return Ok(());
    };
    let (from, to) = lts_label(call, phase(s.pre));
    ensure(from == phase(s.pre) && to == phase(s.post), || {
        format!(
            "{call:?} went {:?} -> {:?}, Fig. 6.3 says {from:?} -> {to:?}",
            phase(s.pre),
            phase(s.post)
        )
    })
}

/// A refused call changes nothing (the ledger state, nonces aside, is the same).
pub fn refused_changes_nothing(s: &Step) -> Check {
    let refused = s.receipt.is_some_and(|r| r.status == TxStatus::Failed);
    ensure(!refused || s.pre.id == s.post.id, || {
        "a refused call changed the state".into()
    })
}

/// P1 (deadlock-freedom as phase progress, P1b): once the phase is due, `Close` (Receive) and
/// `Finalize` (Solve) succeed whatever offers and solutions exist. With the clock step always
/// offered before the due time, every reachable state reaches the next cycle's Receive.
pub fn p1_progress(s: &Step) -> Check {
    let (Some((_, call)), Some(m), Some(due)) = (s.call(), s.pre.market.as_ref(), s.pre.due())
    else {
        return Ok(());
    };
    let expected = match (m.phase, call) {
        (Phase::Receive, C::Close { .. }) | (Phase::Solve, C::Finalize { .. }) => true,
        _ => return Ok(()),
    };
    ensure(
        s.pre.clock < due || s.succeeded().is_some() == expected,
        || format!("{call:?} refused at {} though due at {due}", s.pre.clock),
    )
}

/// P2 (corrected: `AG(close -> AX A[¬(postOffer ∨ cancelOffer) W finalize])`, strengthened):
/// no offer call succeeds outside Receive, and no transition from Solve changes the cycle's
/// posted offers or their alternatives.
pub fn p2_offers_frozen_in_solve(s: &Step) -> Check {
    if let Some((_, call)) = s.succeeded() {
        let offer_call = matches!(
            call,
            C::CreateOffer { .. }
                | C::UpdateOffer { .. }
                | C::PostOffer { .. }
                | C::CancelOffer { .. }
                | C::PlaceOffer { .. }
                | C::SetZone { .. }
        );
        ensure(!offer_call || phase(s.pre) == Some(Phase::Receive), || {
            format!("{call:?} succeeded in {:?}", phase(s.pre))
        })?;
    }
    if phase(s.pre) != Some(Phase::Solve) {
        return Ok(());
    }
    let cycle = market(s.pre).cycle;
    ensure(s.pre.posted(cycle) == s.post.posted(cycle), || {
        format!("the posted offers of cycle {cycle} changed in Solve")
    })
}

/// P3 (corrected: `AG(postOffer(ID) -> pre: exists ∧ ¬posted ∧ owner = sender)`): a posted
/// offer was, before, an unposted offer of the cycle owned by the signer (or is new, placed by
/// it); `OfferPosted` comes from nothing else.
pub fn p3_owner_posts_once(s: &Step) -> Check {
    let posted_event = s
        .receipt
        .is_some_and(|r| r.events.iter().any(|e| e.name == "OfferPosted"));
    let Some((actor, call)) = s.succeeded() else {
        return ensure(!posted_event, || "OfferPosted from a refused call".into());
    };
    match call {
        C::PostOffer { offer, .. } => {
            let pre = s.pre.offers.get(offer);
            ensure(
                pre.is_some_and(|o| {
                    !o.posted && o.owner == actor.address() && o.cycle == market(s.pre).cycle
                }),
                || format!("offer {offer} posted by {actor:?} from {pre:?}"),
            )
        }
        C::PlaceOffer { .. } => {
            let id = market(s.pre).next_offer;
            let new = s.post.offers.get(&id);
            ensure(
                new.is_some_and(|o| o.posted && o.owner == actor.address()),
                || format!("PlaceOffer by {actor:?} left {new:?}"),
            )
        }
        _ => ensure(!posted_event, || format!("{call:?} emitted OfferPosted")),
    }
}

/// P4 (corrected: `AG(cancelOffer(ID) -> pre: exists ∧ posted ∧ owner = sender)`).
pub fn p4_owner_cancels_posted(s: &Step) -> Check {
    let canceled_event = s
        .receipt
        .is_some_and(|r| r.events.iter().any(|e| e.name == "OfferCanceled"));
    match s.succeeded() {
        Some((actor, C::CancelOffer { offer, .. })) => {
            let pre = s.pre.offers.get(offer);
            ensure(
                pre.is_some_and(|o| {
                    o.posted && o.owner == actor.address() && o.cycle == market(s.pre).cycle
                }),
                || format!("offer {offer} canceled by {actor:?} from {pre:?}"),
            )
        }
        _ => ensure(!canceled_event, || "OfferCanceled from another call".into()),
    }
}

/// P5 (corrected, and for the first cycle too): solutions are created and extended only in
/// Solve.
pub fn p5_solutions_only_in_solve(s: &Step) -> Check {
    let Some((_, call)) = s.succeeded() else {
        return Ok(());
    };
    let solution_call = matches!(
        call,
        C::CreateSolution { .. } | C::AddAssignments { .. } | C::SubmitSolution { .. }
    );
    ensure(!solution_call || phase(s.pre) == Some(Phase::Solve), || {
        format!("{call:?} succeeded in {:?}", phase(s.pre))
    })
}

/// P6: the candidate re-verifies from scratch, with the module's `verify` and with the
/// by-definition reference, to exactly its stored score.
pub fn p6_candidate_feasible(v: &View) -> Check {
    let Some(m) = &v.market else {
        return Ok(());
    };
    let Some(s) = m.candidate.solution else {
        return ensure(m.candidate.score == Score::default(), || {
            "the empty allocation has a score".into()
        });
    };
    let solution = v
        .solutions
        .get(&s)
        .ok_or_else(|| format!("candidate {s} missing"))?;
    let cx = Context {
        params: &m.params,
        cycle: m.cycle,
        offers: &v.offers,
        zones: &v.zones,
    };
    let checked = verify(&cx, &solution.assignments);
    let reference = by_definition(&cx, &solution.assignments);
    ensure(
        checked == Ok(m.candidate.score) && reference == Some(m.candidate.score),
        || {
            format!(
                "candidate {s} scored {:?}: verify {checked:?}, reference {reference:?}",
                m.candidate.score
            )
        },
    )
}

/// P7: within a cycle the candidate's score never decreases, and the candidate changes only to
/// a strictly better solution.
pub fn p7_candidate_monotone(s: &Step) -> Check {
    let (Some(a), Some(b)) = (&s.pre.market, &s.post.market) else {
        return Ok(());
    };
    if a.cycle != b.cycle {
        return Ok(());
    }
    let (x, y) = (&a.candidate, &b.candidate);
    ensure(y.score >= x.score, || {
        format!("score fell from {:?} to {:?}", x.score, y.score)
    })?;
    ensure(x.solution == y.solution || y.score > x.score, || {
        format!(
            "candidate {:?} -> {:?} at equal score {:?}",
            x.solution, y.solution, y.score
        )
    })
}

/// P8: right after `Finalize` the candidate is empty with score (0, 0), the cycle grew by one,
/// and the market is in Receive (the prototype kept the stale best).
pub fn p8_finalize_resets(s: &Step) -> Check {
    let Some((_, C::Finalize { .. })) = s.succeeded() else {
        return Ok(());
    };
    let (a, b) = (market(s.pre), market(s.post));
    ensure(
        b.candidate.solution.is_none()
            && b.candidate.score == Score::default()
            && b.cycle == a.cycle + 1
            && b.phase == Phase::Receive,
        || {
            format!(
                "after Finalize: cycle {} candidate {:?}",
                b.cycle, b.candidate
            )
        },
    )
}

/// P9: `Finalize` records exactly the candidate's assignments (or none), once per cycle, and
/// a finalized record never changes afterwards.
pub fn p9_finalize_records_candidate(s: &Step) -> Check {
    for (cycle, record) in &s.pre.finals {
        ensure(s.post.finals.get(cycle) == Some(record), || {
            format!("the record of cycle {cycle} changed")
        })?;
    }
    let finalized = matches!(s.succeeded(), Some((_, C::Finalize { .. })));
    ensure(
        s.post.finals.len() == s.pre.finals.len() + usize::from(finalized),
        || "a record appeared without Finalize".into(),
    )?;
    if !finalized {
        return Ok(());
    }
    let m = market(s.pre);
    let expected = match m.candidate.solution {
        Some(id) => s.pre.solutions[&id].assignments.clone(),
        None => Vec::new(),
    };
    let got = s.post.finals.get(&m.cycle);
    ensure(
        got.is_some_and(|f| {
            f.record.solution == m.candidate.solution
                && f.record.score == m.candidate.score
                && f.assignments == expected
        }),
        || {
            format!(
                "cycle {} recorded {got:?}, candidate {:?}",
                m.cycle, m.candidate
            )
        },
    )
}

/// P10: the time guards: `Close` only from `phase_since + receive_ms`, `Finalize` only from
/// `phase_since + solve_ms`.
pub fn p10_time_guards(s: &Step) -> Check {
    let guarded = matches!(
        s.succeeded(),
        Some((_, C::Close { .. })) | Some((_, C::Finalize { .. }))
    );
    let due = s.pre.due();
    ensure(
        !guarded || due.is_some_and(|due| s.pre.clock >= due),
        || format!("phase ended at {} before its due time {due:?}", s.pre.clock),
    )
}

/// P11: offers are changed only by their owner, solutions extended only by their creator,
/// zones set only by the admin; a release pays the hold to the offer's owner, whoever calls.
pub fn p11_access_from_signer(s: &Step) -> Check {
    let Some((actor, call)) = s.succeeded() else {
        return Ok(());
    };
    let me = actor.address();
    let owner = |o: &OfferId| s.pre.offers.get(o).map(|o| o.owner);
    match call {
        C::UpdateOffer { offer, .. }
        | C::PostOffer { offer, .. }
        | C::CancelOffer { offer, .. } => ensure(owner(offer) == Some(me), || {
            format!("{actor:?} changed offer {offer}")
        }),
        C::AddAssignments { solution, .. } => {
            let creator = s.pre.solutions.get(solution).map(|x| x.creator);
            ensure(creator == Some(me), || {
                format!("{actor:?} extended solution {solution}")
            })
        }
        C::SetZone { .. } => ensure(market(s.pre).admin == me, || {
            format!("{actor:?} set a zone")
        }),
        C::ReleaseOffer { offer, .. } => {
            let o = &s.pre.offers[offer];
            let held = o
                .hold
                .and_then(|h| s.pre.holds.get(&h))
                .map_or(0, |h| h.amount);
            let ok = s.post.balances.iter().all(|(a, after)| {
                let paid = if a.address() == o.owner { held } else { 0 };
                *after == s.pre.balances[a] + paid
            });
            ensure(ok, || format!("release of offer {offer} paid someone else"))
        }
        _ => Ok(()),
    }
}

/// P12: every assignment of every solution names offers of that solution's cycle.
pub fn p12_assignments_of_own_cycle(v: &View) -> Check {
    for (id, s) in &v.solutions {
        for a in &s.assignments {
            let of_cycle = |o| v.offers.get(o).is_some_and(|o| o.cycle == s.cycle);
            ensure(of_cycle(&a.provider) && of_cycle(&a.consumer), || {
                format!("solution {id} of cycle {} names {a:?}", s.cycle)
            })?;
        }
    }
    Ok(())
}

/// The most a consumption offer can owe: max_t o_Q(t) · o_V(t) (fact F1).
fn worst_case(o: &Offer) -> u64 {
    o.alternatives
        .iter()
        .map(|a| a.quantity * a.value)
        .max()
        .unwrap_or(0)
}

/// P13 with settlement: balances plus holds equal the supply; every hold the module controls
/// belongs to exactly one offer of its owner; a posted consumption offer of the open cycle
/// holds its worst case, any other offer of it nothing; an offer of a finalized cycle holds
/// its worst case less what the cycle's record made it pay (nothing is left once released).
pub fn p13_conservation_and_holds(v: &View) -> Check {
    v.conservation.clone()?;
    let Some(m) = &v.market else {
        return Ok(());
    };
    for h in v.holds.values() {
        let owners: Vec<&Offer> = v.offers.values().filter(|o| o.hold == Some(h.id)).collect();
        ensure(owners.len() == 1 && owners[0].owner == h.owner, || {
            format!("hold {} belongs to {} offers", h.id, owners.len())
        })?;
    }
    for o in v.offers.values() {
        let held = o.hold.and_then(|h| v.holds.get(&h)).map_or(0, |h| h.amount);
        let expected = if o.cycle == m.cycle {
            if o.posted && o.side == Side::Consume {
                worst_case(o)
            } else {
                0
            }
        } else if o.hold.is_none() {
            0
        } else {
            let paid: u64 = v.finals[&o.cycle]
                .assignments
                .iter()
                .filter(|a| a.consumer == o.id)
                .map(|a| a.quantity * a.price)
                .sum();
            worst_case(o) - paid
        };
        ensure(held == expected, || {
            format!("offer {} holds {held}, expected {expected}", o.id)
        })?;
    }
    Ok(())
}

pub type StatePredicate = fn(&View) -> Check;
pub type StepPredicate = fn(&Step) -> Check;

/// The state properties, by the spec's numbering.
pub const STATE_PROPERTIES: &[(&str, StatePredicate)] = &[
    ("P6 candidate feasible", p6_candidate_feasible),
    (
        "P12 assignments of their cycle",
        p12_assignments_of_own_cycle,
    ),
    ("P13 conservation and holds", p13_conservation_and_holds),
];

/// The transition properties, by the spec's numbering.
pub const STEP_PROPERTIES: &[(&str, StepPredicate)] = &[
    ("P1 phase progress", p1_progress),
    ("P2 offers frozen in Solve", p2_offers_frozen_in_solve),
    ("P3 only the owner posts, once", p3_owner_posts_once),
    (
        "P4 only the owner cancels a posted offer",
        p4_owner_cancels_posted,
    ),
    ("P5 solutions only in Solve", p5_solutions_only_in_solve),
    ("P7 candidate monotone", p7_candidate_monotone),
    ("P8 finalize resets", p8_finalize_resets),
    (
        "P9 finalize records the candidate",
        p9_finalize_records_candidate,
    ),
    ("P10 time guards", p10_time_guards),
    ("P11 access from the signer", p11_access_from_signer),
    ("LTS refinement of Fig. 6.3", lts),
    ("refused calls change nothing", refused_changes_nothing),
];

/// Non-vacuity: each must happen on some explored transition.
pub const SOMETIMES: &[(&str, StepPredicate)] = &[
    ("cycle 0 finalized with score > 0", |s| {
        finalized_positive(s, 0)
    }),
    ("cycle 1 finalized with score > 0", |s| {
        finalized_positive(s, 1)
    }),
    ("an offer canceled and posted again", |s| {
        let reposted = match s.succeeded() {
            Some((_, C::PostOffer { offer, .. })) => s.pre.offers[offer].scale != 0,
            _ => false,
        };
        ensure(reposted, String::new)
    }),
    ("a candidate replaced by a better solution", |s| {
        let (a, b) = (s.pre.market.as_ref(), s.post.market.as_ref());
        let replaced = a.zip(b).is_some_and(|(a, b)| {
            a.cycle == b.cycle
                && a.candidate.solution.is_some()
                && b.candidate.solution != a.candidate.solution
        });
        ensure(replaced, String::new)
    }),
    (
        "a feasible solution that is not better stays non-candidate",
        |s| {
            let kept = match s.succeeded() {
                Some((_, C::AddAssignments { solution, .. })) => {
                    market(s.post).candidate.solution != Some(*solution)
                }
                _ => false,
            };
            ensure(kept, String::new)
        },
    ),
    ("Close refused before its due time", |s| {
        refused_early(s, true)
    }),
    ("Finalize refused before its due time", |s| {
        refused_early(s, false)
    }),
    ("a settled payment from a hold", |s| {
        let paid = s
            .receipt
            .is_some_and(|r| r.events.iter().any(|e| e.name == "Slashed"));
        ensure(paid, String::new)
    }),
    ("a hold released to its owner after Finalize", |s| {
        let released = matches!(s.succeeded(), Some((_, C::ReleaseOffer { .. })));
        ensure(released, String::new)
    }),
];

fn finalized_positive(s: &Step, cycle: u64) -> Check {
    let ok = matches!(s.succeeded(), Some((_, C::Finalize { .. })))
        && market(s.pre).cycle == cycle
        && market(s.pre).candidate.score.primary > 0;
    ensure(ok, String::new)
}

fn refused_early(s: &Step, close: bool) -> Check {
    let refused = s
        .receipt
        .is_some_and(|r| r.reason.as_deref() == Some("not_due"));
    let right_call = matches!(
        (s.call(), close),
        (Some((_, C::Close { .. })), true) | (Some((_, C::Finalize { .. })), false)
    );
    ensure(refused && right_call, String::new)
}
