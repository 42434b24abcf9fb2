//! The compact energy model against the literal pairwise one, and its answers against the
//! ledger's verification.

use agora_energy::{Group, Offer, Side};
use agora_solver::energy::{
    pairwise_lp_optimum, solve, AssetHolding, EnergyInstance, SolveOptions,
};
use agora_types::Address;
use proptest::prelude::*;

fn account(i: u8) -> Address {
    Address([i; 32])
}

fn offer(
    id: u64,
    acc: u8,
    side: Side,
    group: u32,
    energy: u64,
    intervals: Vec<u32>,
    price: u64,
) -> Offer {
    Offer {
        id,
        account: account(acc),
        side,
        group,
        energy,
        intervals,
        price,
        finalized: 0,
        hold: None,
        open: true,
    }
}

/// Assets that cover every offer (as posting requires).
fn covering_assets(offers: &[Offer]) -> Vec<AssetHolding> {
    let mut held = std::collections::BTreeMap::new();
    for o in offers {
        for t in &o.intervals {
            *held.entry((o.account, o.side, o.group, *t)).or_insert(0) += o.energy;
        }
    }
    held.into_iter()
        .map(|((account, side, group, interval), energy)| AssetHolding {
            account,
            side,
            group,
            interval,
            energy,
        })
        .collect()
}

#[test]
fn hand_made_instance_trades_what_limits_allow() {
    let offers = vec![
        offer(0, 1, Side::Sell, 0, 50, vec![3, 4], 10),
        offer(1, 2, Side::Buy, 0, 30, vec![3], 20),
        offer(2, 3, Side::Buy, 1, 40, vec![3, 4], 12),
        offer(3, 4, Side::Buy, 1, 40, vec![4], 9),
    ];
    let instance = EnergyInstance {
        next_final: 3,
        assets: covering_assets(&offers),
        offers,
        groups: vec![
            Group {
                id: 0,
                feeders: vec![1],
                c_int: 100,
                c_ext: 25,
            },
            Group {
                id: 1,
                feeders: vec![2],
                c_int: 100,
                c_ext: 100,
            },
        ],
        feeders: Vec::new(),
    };
    let solution = solve(&instance, &SolveOptions::default()).unwrap();
    // The seller has 50 Wh; its group may export at most 25 Wh per interval to group 1, and
    // offer 3 (price 9) is below the seller's price.
    assert_eq!(solution.objective, 50);
    assert!(solution.trades.iter().all(|t| t.buy != 3));
    let pairwise = pairwise_lp_optimum(&instance, &SolveOptions::default()).unwrap();
    assert!((pairwise - solution.lp_objective).abs() < 1e-6);
}

#[test]
fn horizon_prunes_later_intervals() {
    let offers = vec![
        offer(0, 1, Side::Sell, 0, 10, vec![5, 40], 1),
        offer(1, 2, Side::Buy, 0, 10, vec![40], 2),
    ];
    let instance = EnergyInstance {
        next_final: 5,
        assets: covering_assets(&offers),
        offers,
        groups: vec![Group {
            id: 0,
            feeders: vec![1],
            c_int: 100,
            c_ext: 100,
        }],
        feeders: Vec::new(),
    };
    let near = SolveOptions {
        horizon: Some(30),
        ..Default::default()
    };
    assert_eq!(solve(&instance, &near).unwrap().objective, 0);
    assert_eq!(
        solve(&instance, &SolveOptions::default())
            .unwrap()
            .objective,
        10
    );
}

/// Finding 2 of issue 12: a seller fully traded but still open gave a buyer below every live
/// seller a variable no price level bounded, so the LP bound was overstated.
#[test]
fn a_fully_traded_open_offer_gives_no_free_buyer() {
    let mut spent = offer(0, 1, Side::Sell, 0, 20, vec![3], 5);
    spent.finalized = 20;
    let offers = vec![
        spent,
        offer(1, 2, Side::Sell, 0, 20, vec![3], 10),
        offer(2, 3, Side::Buy, 0, 20, vec![3], 7),
        offer(3, 4, Side::Buy, 1, 20, vec![3], 12),
    ];
    let group = |id, c_ext| Group {
        id,
        feeders: vec![id],
        c_int: 100,
        c_ext,
    };
    let instance = EnergyInstance {
        next_final: 3,
        assets: covering_assets(&offers),
        offers,
        // Group 0 may not export: its seller trades only if its own buyer (who can buy from
        // no live seller) takes as much.
        groups: vec![group(0, 0), group(1, 100)],
        feeders: Vec::new(),
    };
    let options = SolveOptions::default();
    let solution = solve(&instance, &options).unwrap();
    let pairwise = pairwise_lp_optimum(&instance, &options).unwrap();
    assert_eq!(pairwise, 0.0);
    assert_eq!(solution.lp_objective, pairwise);
    assert_eq!(solution.objective, 0);
}

fn instances() -> impl Strategy<Value = EnergyInstance> {
    // (account, sell, group, energy, intervals, price, finalized, backed in percent)
    let spec = (
        0u8..5,
        any::<bool>(),
        0u32..3,
        1u64..60,
        proptest::collection::btree_set(0u32..4, 1..3),
        0u64..8,
        0u64..80,
        prop_oneof![Just(100u64), 0u64..100],
    );
    (
        proptest::collection::vec(spec, 1..14),
        proptest::collection::vec((0u64..120, 0u64..80), 3),
    )
        .prop_map(|(specs, limits)| {
            let mut backing = Vec::new();
            let offers: Vec<Offer> = specs
                .into_iter()
                .enumerate()
                .map(
                    |(id, (acc, sell, group, energy, intervals, price, finalized, backed))| {
                        let mut o = offer(
                            id as u64,
                            acc,
                            if sell { Side::Sell } else { Side::Buy },
                            group,
                            energy,
                            intervals.into_iter().collect(),
                            price,
                        );
                        // Some offers fully traded yet open, some partly.
                        o.finalized = finalized.min(energy);
                        backing.push(backed);
                        o
                    },
                )
                .collect();
            // Assets that cover only part of some offers (traded assets have moved away).
            let mut assets = covering_assets(&offers);
            for a in &mut assets {
                let backed = offers
                    .iter()
                    .zip(&backing)
                    .filter(|(o, _)| {
                        o.account == a.account && o.side == a.side && o.group == a.group
                    })
                    .map(|(_, b)| *b)
                    .min()
                    .unwrap_or(100);
                a.energy = a.energy * backed / 100;
            }
            EnergyInstance {
                next_final: 0,
                assets,
                offers,
                groups: limits
                    .into_iter()
                    .enumerate()
                    .map(|(i, (c_int, c_ext))| Group {
                        id: i as u32,
                        feeders: vec![i as u32],
                        c_int,
                        c_ext,
                    })
                    .collect(),
                feeders: Vec::new(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn compact_model_matches_pairwise_and_answers_verify(instance in instances()) {
        let options = SolveOptions::default();
        // `solve` only returns answers that pass the ledger's verification.
        let solution = solve(&instance, &options).unwrap();
        let pairwise = pairwise_lp_optimum(&instance, &options).unwrap();
        prop_assert!((solution.lp_objective - pairwise).abs() < 1e-6, "compact {} vs pairwise {}", solution.lp_objective, pairwise);
        prop_assert!(solution.objective as f64 <= pairwise + 1e-6);
        // Reproducible.
        prop_assert_eq!(solve(&instance, &options).unwrap().trades, solution.trades);
    }
}
