//! The verified state machine (spec section 3; seed Fig. 6.3 and section 6.4.4.1): a
//! breadth-first exploration of every call sequence of a small alphabet (`model/alphabet.rs`)
//! through the real executor and the module's real code (`model/harness.rs`), up to the bound
//! of two finalized cycles, with the spec's properties P1-P13 checked on every reachable state
//! and transition (`model/properties.rs`) and their non-vacuity on some.

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
