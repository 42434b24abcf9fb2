//! Random markets through the executor: whatever solvers submit (feasible or not, whole or
//! staged), only a feasible solution is finalized, it is the best accepted one, payments equal
//! Σ a_Q · a_V per provider, and tokens are conserved after every block (the chain checks).

use agora_allocation::{reference::by_definition, AllocationCall as C, *};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;

mod common;
use common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn only_feasible_solutions_finalize_and_tokens_are_conserved(
        alts in prop::collection::vec(prop::collection::vec((0..2u64, 1..7u64, 0..4u64), 1..3), 2..6),
        solutions in prop::collection::vec(
            (any::<bool>(), prop::collection::vec((0..6usize, 0..6usize, 0..3usize, 0..4u64, 0..5u64), 1..5)),
            1..5,
        ),
    ) {
        let k = keys(8);
        let mut chain = Chain::new(&k.iter().collect::<Vec<_>>());
        chain.ok_at(100, &k[0], C::CreateMarket(params(true)));
        let mut offers = BTreeMap::new();
        for (i, alts) in alts.into_iter().enumerate() {
            let (side, bump) = if i % 2 == 0 { (Side::Provide, 0) } else { (Side::Consume, 1) };
            let mut alternatives: Vec<Alternative> =
                alts.into_iter().map(|(t, q, v)| alt(t, q, v + bump)).collect();
            alternatives.sort_by_key(|a| a.rtype);
            alternatives.dedup_by_key(|a| a.rtype);
            chain.ok(&k[i], place(side, alternatives));
            let offer: Offer = serde_json::from_value(
                chain.query("offer", json!({"market": 0, "offer": i})),
            ).unwrap();
            offers.insert(i as u64, offer);
        }
        chain.ok_at(1_100, &k[7], CLOSE);
        let n = offers.len();
        let mut best = Score::default();
        for (j, (staged, picks)) in solutions.into_iter().enumerate() {
            let assignments: Vec<Assignment> = picks
                .into_iter()
                .map(|(p, c, a, quantity, price)| {
                    let (provider, consumer) = ((2 * p % n) as u64, ((2 * c + 1) % n) as u64);
                    let alts = &offers[&provider].alternatives;
                    asg(provider, consumer, alts[a % alts.len()].rtype, quantity, price)
                })
                .collect();
            let solver = &k[6 + j % 2];
            if staged {
                chain.ok(solver, C::CreateSolution { market: 0, misc: 0 });
                let id = chain.market().next_solution - 1;
                chain.send(solver, C::AddAssignments { market: 0, solution: id, assignments });
            } else {
                chain.send(solver, submit(assignments));
            }
            let candidate = chain.market().candidate.score;
            prop_assert!(candidate >= best, "the candidate's score never decreases (P7)");
            best = candidate;
        }
        chain.ok_at(2_100, &k[7], FINALIZE);
        let finalized = chain.query("finalized", json!({"market": 0, "cycle": 0}));
        let assignments: Vec<Assignment> =
            serde_json::from_value(finalized["assignments"].clone()).unwrap();
        let p = params(true);
        let zones = BTreeMap::new();
        let cx = Context { params: &p, cycle: 0, offers: &offers, zones: &zones };
        prop_assert_eq!(by_definition(&cx, &assignments), Some(best), "feasible, and the best");
        for id in offers.keys() {
            chain.send(&k[0], C::ReleaseOffer { market: 0, offer: *id });
        }
        let mut paid = vec![0i128; k.len()];
        for a in &assignments {
            let v = i128::from(a.quantity * a.price);
            paid[a.provider as usize] += v;
            paid[a.consumer as usize] -= v;
        }
        for (i, key) in k.iter().enumerate() {
            prop_assert_eq!(i128::from(chain.balance(key)), i128::from(FUNDS) + paid[i]);
        }
    }
}
