//! The verified state machine (spec section 3; seed Fig. 6.3 and section 6.4.4.1): a
//! breadth-first exploration of every call sequence of a small alphabet (`model/alphabet.rs`)
//! through the real executor and the module's real code (`model/harness.rs`), up to a depth
//! bound and two finalized cycles, with the spec's properties P1-P13 checked on every reachable
//! state and transition (`model/properties.rs`) and their non-vacuity on some. The bound and
//! the counts are in docs/allocation.md.

#[path = "model/alphabet.rs"]
mod alphabet;
#[path = "model/harness.rs"]
mod harness;
#[path = "model/properties.rs"]
mod properties;

use agora_allocation::Phase;
use alphabet::{actions, within_bound, Action};
use harness::{State, View};
use properties::{
    StatePredicate, Step, StepPredicate, SOMETIMES, STATE_PROPERTIES, STEP_PROPERTIES,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

type Id = [u8; 32];

/// The depth bound: every sequence of at most this many state-changing actions (clock steps
/// and successful calls; refused calls lead back to the same state). 14 reaches a second
/// finalized cycle with a positive score and keeps the test under a minute on a loaded 2-core
/// machine; `MODEL_DEPTH` overrides it.
const DEPTH: usize = 14;

/// What an exploration saw.
#[derive(Default)]
struct Report {
    states: usize,
    transitions: usize,
    /// Successful calls and clock steps that led to another state.
    moves: usize,
    depth: usize,
    /// Property name, message, and the path that reaches it.
    violations: Vec<(&'static str, String, Vec<String>)>,
    reached: BTreeSet<&'static str>,
    /// States by (cycle, phase); `None` before the market.
    by_phase: BTreeMap<Option<(u64, Phase)>, usize>,
}

struct Properties<'a> {
    states: &'a [(&'static str, StatePredicate)],
    steps: &'a [(&'static str, StepPredicate)],
    sometimes: &'a [(&'static str, StepPredicate)],
}

const SPEC: Properties<'static> = Properties {
    states: STATE_PROPERTIES,
    steps: STEP_PROPERTIES,
    sometimes: SOMETIMES,
};

/// The labels of the actions from the initial state to `id`.
fn path(parents: &HashMap<Id, (Id, String)>, mut id: Id) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((parent, label)) = parents.get(&id) {
        out.push(label.clone());
        id = *parent;
    }
    out.reverse();
    out
}

fn label(action: &Action) -> String {
    match action {
        Action::Tick => "tick".into(),
        Action::Call(actor, call) => format!("{actor:?}: {call:?}"),
    }
}

/// Explores every state reachable within the alphabet's bound (and `max_depth` actions),
/// checking `props` on each state and transition.
fn explore(props: &Properties, max_depth: usize) -> Report {
    let mut report = Report::default();
    let (mut runner, init, view) = harness::Runner::new();
    let mut parents: HashMap<Id, (Id, String)> = HashMap::new();
    let mut seen: BTreeSet<Id> = BTreeSet::from([view.id]);
    let mut queue: VecDeque<(State, View, usize)> = VecDeque::from([(init, view, 0)]);
    while let Some((state, pre, depth)) = queue.pop_front() {
        report.states += 1;
        let at = pre.market.as_ref().map(|m| (m.cycle, m.phase));
        *report.by_phase.entry(at).or_default() += 1;
        report.depth = report.depth.max(depth);
        for (name, p) in props.states {
            if let Err(why) = p(&pre) {
                report.violations.push((name, why, path(&parents, pre.id)));
            }
        }
        if !within_bound(&pre) || depth >= max_depth {
            continue;
        }
        let actions = actions(&pre);
        let calls: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Call(actor, call) => Some((*actor, call)),
                Action::Tick => None,
            })
            .collect();
        let mut results = runner.expand(&state, &calls).into_iter();
        for action in &actions {
            let (receipt, next, post) = match action {
                Action::Tick => {
                    let due = pre.due().expect("a due time");
                    let (next, post) = harness::at(&state, &pre, due);
                    (None, next, post)
                }
                Action::Call(..) => {
                    let (r, next) = results.next().expect("a result per call");
                    let post = if next.entries == state.entries {
                        pre.clone()
                    } else {
                        View::of(&next)
                    };
                    (Some(r), next, post)
                }
            };
            report.transitions += 1;
            let step = Step {
                pre: &pre,
                action,
                receipt: receipt.as_ref(),
                post: &post,
            };
            for (name, p) in props.steps {
                if let Err(why) = p(&step) {
                    let mut trace = path(&parents, pre.id);
                    trace.push(label(action));
                    report.violations.push((name, why, trace));
                }
            }
            for (name, p) in props.sometimes {
                if p(&step).is_ok() {
                    report.reached.insert(name);
                }
            }
            if post.id != pre.id {
                report.moves += 1;
            }
            if seen.insert(post.id) {
                parents.insert(post.id, (pre.id, label(action)));
                queue.push_back((next, post, depth + 1));
            }
        }
    }
    report
}

#[test]
fn every_reachable_state_and_transition_satisfies_the_spec_properties() {
    let depth = std::env::var("MODEL_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEPTH);
    let report = explore(&SPEC, depth);
    println!(
        "model: {} states, {} transitions ({} changing the state), depth {}; states by (cycle, phase): {:?}",
        report.states, report.transitions, report.moves, report.depth, report.by_phase
    );
    for (name, why, trace) in report.violations.iter().take(5) {
        println!(
            "violation of {name}: {why}\n  path: {}",
            trace.join("\n        ")
        );
    }
    assert!(
        report.violations.is_empty(),
        "{} violations",
        report.violations.len()
    );
    let missing: Vec<_> = SOMETIMES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !report.reached.contains(name))
        .collect();
    assert!(missing.is_empty(), "never reached: {missing:?}");
}

/// Each checker must be able to fail: real steps from a short run, with one thing in them
/// made wrong, must be reported.
mod checkers_fail {
    use super::*;
    use agora_allocation::{AllocationCall as C, Score, Side};
    use agora_types::Receipt;
    use harness::{Actor, Runner};
    use properties::*;

    /// A step that really happened.
    struct Taken {
        pre: View,
        action: Action,
        receipt: Option<Receipt>,
        post: View,
    }

    impl Taken {
        fn step(&self) -> Step<'_> {
            Step {
                pre: &self.pre,
                action: &self.action,
                receipt: self.receipt.as_ref(),
                post: &self.post,
            }
        }
    }

    /// Runs `actions` from the initial state; returns every step.
    fn run(actions: Vec<Action>) -> Vec<Taken> {
        let (mut runner, mut state, mut view) = Runner::new();
        let mut steps = Vec::new();
        for action in actions {
            let (receipt, next, post) = match &action {
                Action::Tick => {
                    let (next, post) = harness::at(&state, &view, view.due().unwrap());
                    (None, next, post)
                }
                Action::Call(actor, call) => {
                    let (r, next) = runner.expand(&state, &[(*actor, call)]).remove(0);
                    let post = View::of(&next);
                    (Some(r), next, post)
                }
            };
            steps.push(Taken {
                pre: view,
                action,
                receipt,
                post: post.clone(),
            });
            (state, view) = (next, post);
        }
        steps
    }

    /// One cycle with a positive candidate: its steps, the last one `Finalize`.
    fn one_cycle() -> Vec<Taken> {
        let call = |actor, call| Action::Call(actor, call);
        let (market, offer) = (0, 0);
        let steps = run(vec![
            call(Actor::Admin, C::CreateMarket(alphabet::market_params())),
            call(
                Actor::P1,
                C::CreateOffer {
                    market,
                    side: Side::Provide,
                    misc: 0,
                },
            ),
            call(
                Actor::P1,
                C::UpdateOffer {
                    market,
                    offer,
                    updates: vec![agora_allocation::Alternative {
                        rtype: 1,
                        quantity: 2,
                        value: 1,
                    }],
                },
            ),
            call(Actor::P1, C::PostOffer { market, offer }),
            call(
                Actor::C1,
                C::PlaceOffer {
                    market,
                    side: Side::Consume,
                    misc: 0,
                    alternatives: vec![agora_allocation::Alternative {
                        rtype: 1,
                        quantity: 3,
                        value: 3,
                    }],
                },
            ),
            call(Actor::Outsider, C::Close { market }),
            Action::Tick,
            call(Actor::Outsider, C::Close { market }),
            call(
                Actor::Solver,
                C::SubmitSolution {
                    market,
                    misc: 0,
                    assignments: vec![agora_allocation::Assignment {
                        provider: 0,
                        consumer: 1,
                        rtype: 1,
                        quantity: 2,
                        price: 3,
                    }],
                },
            ),
            Action::Tick,
            call(Actor::Outsider, C::Finalize { market }),
        ]);
        for s in &steps {
            for (name, p) in STEP_PROPERTIES {
                assert_eq!(p(&s.step()), Ok(()), "{name} on the real run");
            }
            for (name, p) in STATE_PROPERTIES {
                assert_eq!(p(&s.post), Ok(()), "{name} on the real run");
            }
        }
        steps
    }

    #[test]
    fn p8_reports_a_finalize_that_keeps_the_stale_candidate() {
        let mut steps = one_cycle();
        let finalize = steps.last_mut().unwrap();
        let stale = finalize.pre.market.as_ref().unwrap().candidate;
        assert!(stale.score > Score::default());
        finalize.post.market.as_mut().unwrap().candidate = stale;
        assert!(p8_finalize_resets(&finalize.step()).is_err());
    }

    #[test]
    fn p10_and_p1_report_a_time_guard_ignored_or_a_phase_stuck() {
        let mut steps = one_cycle();
        let early = &steps[5];
        assert_eq!(
            early.receipt.as_ref().unwrap().reason.as_deref(),
            Some("not_due")
        );
        let close = &mut steps[7];
        assert_eq!(p10_time_guards(&close.step()), Ok(()));
        close.pre.clock -= 1;
        assert!(p10_time_guards(&close.step()).is_err(), "closed before due");
        let mut refused = steps.remove(5);
        refused.pre.clock = refused.pre.due().unwrap();
        assert!(p1_progress(&refused.step()).is_err(), "refused though due");
    }

    #[test]
    fn p2_p5_and_p7_report_calls_out_of_phase_and_a_falling_candidate() {
        let mut steps = one_cycle();
        let post_offer = &mut steps[3];
        post_offer.pre.market.as_mut().unwrap().phase = Phase::Solve;
        assert!(p2_offers_frozen_in_solve(&post_offer.step()).is_err());
        let submit = &mut steps[8];
        submit.pre.market.as_mut().unwrap().phase = Phase::Receive;
        assert!(p5_solutions_only_in_solve(&submit.step()).is_err());
        let submit = &mut steps[8];
        submit.post.market.as_mut().unwrap().candidate.score = Score::default();
        assert!(p7_candidate_monotone(&submit.step()).is_err());
    }

    #[test]
    fn p6_and_p13_report_a_wrong_score_or_a_missing_hold() {
        let steps = one_cycle();
        let mut solving = steps[8].post.clone();
        solving.market.as_mut().unwrap().candidate.score.primary += 1;
        assert!(p6_candidate_feasible(&solving).is_err());
        let mut held = steps[8].post.clone();
        held.holds.clear();
        assert!(p13_conservation_and_holds(&held).is_err());
    }

    #[test]
    fn the_explorer_reports_a_violated_property_with_its_path() {
        let wrong: &[(&str, StepPredicate)] =
            &[("a market is never created", |s| match s.post.market {
                Some(_) => Err("created".into()),
                None => Ok(()),
            })];
        let props = Properties {
            states: &[],
            steps: wrong,
            sometimes: &[],
        };
        let report = explore(&props, 1);
        assert_eq!(report.states, 2, "Init and the new market");
        let (name, _, path) = &report.violations[0];
        assert_eq!(*name, "a market is never created");
        assert!(path[0].starts_with("Admin: CreateMarket"), "{path:?}");
    }
}
