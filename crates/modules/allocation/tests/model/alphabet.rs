//! The alphabet: from a state, every action the exploration tries. Every `AllocationCall` is
//! in it with a few representative arguments, right and wrong: the right role and the wrong
//! one (the outsider, or a solver on another's solution), the right phase and the wrong one,
//! well-formed and malformed offers, feasible and infeasible assignments. Clock steps jump to
//! the current phase's due time, so calls run both before and at the phase boundary.

use super::harness::{Actor, View};
use agora_allocation::{AllocationCall as C, *};

/// The market the model explores: phases of 10 ms, settlement on, and caps that bound the
/// exploration (the module's own caps, so refusals at the cap are explored too).
pub fn market_params() -> MarketParams {
    MarketParams {
        receive_ms: 10,
        solve_ms: 10,
        max_quantity: 3,
        max_types_per_offer: 2,
        objective: Objective::Quantity,
        default_bound: None,
        price_bounds: vec![],
        pairs: PairRule::Any,
        settle: true,
        max_offers_per_cycle: MAX_OFFERS,
        max_solutions_per_cycle: MAX_SOLUTIONS,
    }
}

/// Bounds of the exploration: cycles finalized, offers and solutions per cycle, assignments
/// per solution.
pub const CYCLES: u64 = 2;
pub const MAX_OFFERS: u32 = 2;
pub const MAX_SOLUTIONS: u32 = 2;
pub const MAX_ASSIGNMENTS: usize = 2;
/// Holds made per cycle: each re-post of a consumption offer makes a new hold (a new id), so
/// without this bound cancel and re-post would never stop making new states.
pub const HOLDS_PER_CYCLE: u64 = 2;

#[derive(Clone, Debug)]
pub enum Action {
    /// The block clock jumps to the current phase's due time.
    Tick,
    Call(Actor, C),
}

fn alt(rtype: TypeId, quantity: u64, value: u64) -> Alternative {
    Alternative {
        rtype,
        quantity,
        value,
    }
}

/// What P1 sets on its draft: two types with unequal quantities, so the offer's scale is 6
/// and eq. 6.1 is checked with exact fractions.
fn draft_update() -> Vec<Alternative> {
    vec![alt(1, 2, 1), alt(2, 3, 1)]
}

/// What C1 places.
fn placed() -> Vec<Alternative> {
    vec![alt(1, 3, 3)]
}

/// A few assignments per (provider offer, consumer offer) of the cycle: one or two units of
/// each type both offer (type 1 if none: refused as `type_not_offered`) at the consumer's value,
/// and one priced above it (refused, eq. 6.4).
pub fn assignment_choices(view: &View) -> Vec<Assignment> {
    let offers: Vec<&Offer> = view.current_offers().collect();
    let mut out = Vec::new();
    for p in offers.iter().filter(|o| o.side == Side::Provide) {
        for c in offers.iter().filter(|o| o.side == Side::Consume) {
            let mut common: Vec<&Alternative> = c
                .alternatives
                .iter()
                .filter(|a| p.alternatives.iter().any(|b| b.rtype == a.rtype))
                .collect();
            let fallback = alt(1, 1, 1);
            if common.is_empty() {
                common.push(&fallback);
            }
            for a in &common {
                for quantity in [1, 2] {
                    out.push(Assignment {
                        provider: p.id,
                        consumer: c.id,
                        rtype: a.rtype,
                        quantity,
                        price: a.value,
                    });
                }
            }
            out.push(Assignment {
                provider: p.id,
                consumer: c.id,
                rtype: common[0].rtype,
                quantity: 1,
                price: common[0].value + 1,
            });
        }
    }
    out
}

/// Offers: P1 drafts (create, update, post), C1 places; each has at most one offer a cycle (a
/// bound of the alphabet). P2 tries to place one once the cycle has its cap (refused), C2 places
/// a malformed one (refused). C1 re-posts while the cycle's hold budget lasts. The outsider tries to change others' offers, and the owners
/// their offers of the previous cycle (refused).
fn offer_calls(view: &View, out: &mut Vec<Action>) {
    let market = 0;
    let cycle = view.market.as_ref().map_or(0, |m| m.cycle);
    let has_offer = |a: Actor| view.current_offers().any(|o| o.owner == a.address());
    if !has_offer(Actor::P1) {
        out.push(Action::Call(
            Actor::P1,
            C::CreateOffer {
                market,
                side: Side::Provide,
                misc: 0,
            },
        ));
    }
    let place = |alternatives| C::PlaceOffer {
        market,
        side: Side::Consume,
        misc: 0,
        alternatives,
    };
    if !has_offer(Actor::C1) {
        out.push(Action::Call(Actor::C1, place(placed())));
    }
    if view.current_offers().count() >= MAX_OFFERS as usize {
        out.push(Action::Call(Actor::P2, place(placed())));
    }
    out.push(Action::Call(Actor::C2, place(vec![alt(1, 0, 1)])));
    for o in view.offers.values().filter(|o| o.cycle + 1 >= cycle) {
        let owner = Actor::of(&o.owner).expect("an actor's offer");
        let offer = o.id;
        if o.cycle < cycle {
            out.push(Action::Call(owner, C::CancelOffer { market, offer }));
            continue;
        }
        for actor in [owner, Actor::Outsider] {
            if o.side == Side::Provide {
                let updates = draft_update();
                out.push(Action::Call(
                    actor,
                    C::UpdateOffer {
                        market,
                        offer,
                        updates,
                    },
                ));
            }
            let holds = o.side == Side::Consume && actor == owner;
            if !holds || view.holds_made < HOLDS_PER_CYCLE * (cycle + 1) {
                out.push(Action::Call(actor, C::PostOffer { market, offer }));
            }
            out.push(Action::Call(actor, C::CancelOffer { market, offer }));
        }
        if o.side == Side::Provide {
            let updates = vec![alt(1, 4, 1)];
            out.push(Action::Call(
                owner,
                C::UpdateOffer {
                    market,
                    offer,
                    updates,
                },
            ));
        }
    }
    let admin = match view.market.as_ref().map(|m| m.phase) {
        Some(Phase::Solve) => vec![Actor::Admin, Actor::Outsider],
        _ => vec![Actor::Outsider],
    };
    for actor in admin {
        out.push(Action::Call(
            actor,
            C::SetZone {
                market,
                account: Actor::C1.address(),
                zone: 1,
            },
        ));
    }
}

/// Solutions: the solver creates staged ones and submits whole ones, with every assignment
/// choice in Solve; the outsider tries to extend the solver's. Out of Solve, and on solutions
/// of the previous cycle, one choice is enough to see the refusal.
fn solution_calls(view: &View, out: &mut Vec<Action>) {
    let market = 0;
    let (cycle, solving) = view
        .market
        .as_ref()
        .map_or((0, false), |m| (m.cycle, m.phase == Phase::Solve));
    let mut choices = assignment_choices(view);
    if !solving {
        choices.truncate(1);
    }
    out.push(Action::Call(
        Actor::Solver,
        C::CreateSolution { market, misc: 0 },
    ));
    for a in &choices {
        out.push(Action::Call(
            Actor::Solver,
            C::SubmitSolution {
                market,
                misc: 0,
                assignments: vec![a.clone()],
            },
        ));
    }
    for (&solution, s) in &view.solutions {
        if s.assignments.len() >= MAX_ASSIGNMENTS || s.cycle + 1 < cycle {
            continue;
        }
        let creator = Actor::of(&s.creator).expect("an actor's solution");
        let n = if s.cycle == cycle { choices.len() } else { 1 };
        for a in choices.iter().take(n) {
            out.push(Action::Call(
                creator,
                C::AddAssignments {
                    market,
                    solution,
                    assignments: vec![a.clone()],
                },
            ));
        }
        if let Some(a) = choices.first() {
            out.push(Action::Call(
                Actor::Outsider,
                C::AddAssignments {
                    market,
                    solution,
                    assignments: vec![a.clone()],
                },
            ));
        }
    }
}

fn release_calls(view: &View, out: &mut Vec<Action>) {
    for o in view.offers.values().filter(|o| o.hold.is_some()) {
        out.push(Action::Call(
            Actor::Outsider,
            C::ReleaseOffer {
                market: 0,
                offer: o.id,
            },
        ));
    }
}

/// Every action tried from `view` (the admin's `SetZone` only in Solve, where it is refused:
/// a zone set in Receive would double every later state and no rule of this market reads it). Before the market exists: creating it (valid and invalid)
/// and a call to the missing market. At the cycle bound only releases, the clock step and
/// `Close` (whose success P1 needs) are tried.
pub fn actions(view: &View) -> Vec<Action> {
    let Some(market) = &view.market else {
        let invalid = MarketParams {
            receive_ms: 0,
            ..market_params()
        };
        return vec![
            Action::Call(Actor::Admin, C::CreateMarket(market_params())),
            Action::Call(Actor::Admin, C::CreateMarket(invalid)),
            Action::Call(Actor::Outsider, C::Close { market: 0 }),
        ];
    };
    let mut out = Vec::new();
    if view.due().is_some_and(|due| view.clock < due) {
        out.push(Action::Tick);
    }
    let (close, finalize) = (C::Close { market: 0 }, C::Finalize { market: 0 });
    if market.cycle >= CYCLES {
        out.push(Action::Call(Actor::Outsider, close));
        release_calls(view, &mut out);
        return out;
    }
    out.push(Action::Call(Actor::Outsider, close));
    out.push(Action::Call(Actor::Outsider, finalize));
    offer_calls(view, &mut out);
    solution_calls(view, &mut out);
    release_calls(view, &mut out);
    out
}

/// Whether the exploration goes on from a state: not past the cycle bound.
pub fn within_bound(view: &View) -> bool {
    view.market
        .as_ref()
        .is_none_or(|m| m.cycle < CYCLES || (m.cycle == CYCLES && m.phase == Phase::Receive))
}
