//! The matching solver against the ledger's feasibility check and a brute-force optimum.

use agora_compute::feasibility::{self, Proposal, Snapshot};
use agora_compute::*;
use agora_sim::compute::matching::{solve, OpenProblem, Participant};
use agora_types::Address;
use proptest::prelude::*;
use std::collections::BTreeMap;

const RUNTIME: [u8; 32] = [7; 32];

fn addr(i: u8) -> Address {
    Address([i; 32])
}

const DIRECTORY: u8 = 200;

/// A problem and the registry facts the test keeps on its own.
#[derive(Debug)]
struct Instance {
    problem: OpenProblem,
    registry: Snapshot,
}

fn params(theta: u64, n: u32) -> MarketParams {
    MarketParams {
        penalty_rate: theta,
        verification_count: n,
        reaction_window_ms: 1_000,
        mediation_window_ms: 1_000,
        min_match_incentive: 0,
    }
}

fn job(id: u64, owner: u8, limits: Resources, max: Prices, deposit: u64) -> JobOffer {
    JobOffer {
        id,
        owner: addr(owner),
        job: JobSpec {
            module: [1; 32],
            input: [2; 32],
            module_bytes: 1,
            input_bytes: 1,
            runtime: RUNTIME,
            directory: addr(DIRECTORY),
        },
        limits,
        max_prices: max,
        completion_deadline_ms: 1_000_000,
        match_incentive: 1,
        deposit,
        hold: id,
        state: OfferState::Open,
    }
}

fn resource(id: u64, owner: u8, caps: Resources, prices: Prices, deposit: u64) -> ResourceOffer {
    ResourceOffer {
        id,
        owner: addr(owner),
        caps,
        prices,
        match_incentive: 1,
        deposit,
        hold: id,
        state: OfferState::Open,
    }
}

fn mediator(fee: u64, price: u64) -> Mediator {
    Mediator {
        prices: Prices {
            instruction: price,
            bandwidth: price,
        },
        availability_fee: fee,
    }
}

/// Builds the participants from the offers, the mediators and the trust and runtime sets.
fn instance(
    params: MarketParams,
    jobs: Vec<JobOffer>,
    resources: Vec<ResourceOffer>,
    mediators: Vec<(u8, Mediator)>,
    registry: Snapshot,
) -> Instance {
    let mut people: BTreeMap<Address, Participant> = BTreeMap::new();
    fn entry(people: &mut BTreeMap<Address, Participant>, a: Address) -> &mut Participant {
        people.entry(a).or_insert_with(|| Participant {
            address: a,
            ..Participant::default()
        })
    }
    for j in &jobs {
        entry(&mut people, j.owner).job_creator = true;
    }
    for r in &resources {
        entry(&mut people, r.owner).resource_provider = Some(ResourceProvider {
            instructions_per_sec: 1_000,
        });
    }
    for (m, record) in &mediators {
        entry(&mut people, addr(*m)).mediator = Some(record.clone());
    }
    entry(&mut people, addr(DIRECTORY)).directory = Some(Directory {
        availability_fee: 1,
        endpoint: "http://d".into(),
    });
    for (owner, kind, target) in &registry.trust {
        let p = entry(&mut people, *owner);
        match kind {
            TrustKind::Mediator => p.trusted_mediators.push(*target),
            TrustKind::Directory => p.trusted_directories.push(*target),
        }
    }
    for (owner, runtime) in &registry.runtimes {
        entry(&mut people, *owner)
            .runtimes
            .push(hex::encode(runtime));
    }
    Instance {
        problem: OpenProblem {
            market: Market {
                id: 0,
                creator: addr(0),
                params,
                next_offer: 0,
                next_match: 0,
            },
            job_offers: jobs,
            resource_offers: resources,
            participants: people.into_values().collect(),
        },
        registry,
    }
}

/// Whether the ledger would take (job, resource, mediator) now.
fn feasible(inst: &Instance, j: &JobOffer, r: &ResourceOffer, m: &Address) -> bool {
    let find = |a: &Address| inst.problem.participants.iter().find(|p| p.address == *a);
    let (Some(rp), Some(med), Some(dir)) = (
        find(&r.owner).and_then(|p| p.resource_provider.clone()),
        find(m).and_then(|p| p.mediator.clone()),
        find(&j.job.directory).and_then(|p| p.directory.clone()),
    ) else {
        return false;
    };
    let proposal = Proposal {
        params: &inst.problem.market.params,
        job: j,
        resource: r,
        rp: &rp,
        mediator_address: m,
        mediator: &med,
        directory: &dir,
        now_ms: 0,
    };
    feasibility::check(&proposal, &inst.registry).is_ok()
}

/// The largest matching and its least cost, by trying every matching.
fn brute_force(inst: &Instance) -> (usize, u64) {
    let p = &inst.problem;
    let mediators: Vec<Address> = p
        .participants
        .iter()
        .filter(|x| x.mediator.is_some())
        .map(|x| x.address)
        .collect();
    let cost: Vec<Vec<Option<u64>>> = p
        .job_offers
        .iter()
        .map(|j| {
            p.resource_offers
                .iter()
                .map(|r| {
                    mediators.iter().any(|m| feasible(inst, j, r, m)).then(|| {
                        payout::price(j.limits.instructions, j.limits.bandwidth, r.prices).unwrap()
                    })
                })
                .collect()
        })
        .collect();
    fn go(j: usize, used: &mut Vec<bool>, cost: &[Vec<Option<u64>>]) -> (usize, u64) {
        if j == cost.len() {
            return (0, 0);
        }
        let mut best = go(j + 1, used, cost);
        for r in 0..used.len() {
            if let (false, Some(c)) = (used[r], cost[j][r]) {
                used[r] = true;
                let (n, total) = go(j + 1, used, cost);
                used[r] = false;
                let candidate = (n + 1, total + c);
                if candidate.0 > best.0 || (candidate.0 == best.0 && candidate.1 < best.1) {
                    best = candidate;
                }
            }
        }
        best
    }
    go(0, &mut vec![false; p.resource_offers.len()], &cost)
}

fn res(instructions: u64, bandwidth: u64) -> Resources {
    Resources {
        instructions,
        memory: 4,
        storage: 4,
        bandwidth,
    }
}

fn trust_all(owners: &[u8], mediators: &[u8]) -> Snapshot {
    let mut s = Snapshot::default();
    for o in owners {
        for m in mediators {
            s.trust.insert((addr(*o), TrustKind::Mediator, addr(*m)));
        }
        s.trust
            .insert((addr(*o), TrustKind::Directory, addr(DIRECTORY)));
        s.runtimes.insert((addr(*o), RUNTIME));
    }
    for m in mediators {
        s.trust
            .insert((addr(*m), TrustKind::Directory, addr(DIRECTORY)));
        s.runtimes.insert((addr(*m), RUNTIME));
    }
    s
}

const BID: Prices = Prices {
    instruction: 5,
    bandwidth: 5,
};
const RICH: u64 = 1_000_000;

#[test]
fn maximum_cardinality_beats_the_cheapest_first_pick() {
    // Job 0 can run on both offers and is cheapest on offer 10; job 1 fits only offer 10.
    // Greedy cheapest-first matches one job; the solver must match both.
    let cheap = Prices {
        instruction: 1,
        bandwidth: 1,
    };
    let dear = Prices {
        instruction: 4,
        bandwidth: 4,
    };
    let inst = instance(
        params(1, 1),
        vec![
            job(0, 1, res(5, 5), BID, RICH),
            job(1, 1, res(50, 5), BID, RICH),
        ],
        vec![
            resource(10, 2, res(100, 10), cheap, RICH),
            resource(11, 3, res(10, 10), dear, RICH),
        ],
        vec![(9, mediator(1, 1))],
        trust_all(&[1, 2, 3], &[9]),
    );
    let pairs = solve(&inst.problem, 0).unwrap();
    let got: Vec<(u64, u64)> = pairs
        .iter()
        .map(|p| (p.job_offer, p.resource_offer))
        .collect();
    assert_eq!(got, vec![(0, 11), (1, 10)]);
    assert_eq!(pairs[0].cost, 5 * 4 + 5 * 4);
}

#[test]
fn among_maximum_matchings_the_cheapest_then_the_lowest_offer_id() {
    let price = |p| Prices {
        instruction: p,
        bandwidth: p,
    };
    let inst = instance(
        params(1, 1),
        vec![job(0, 1, res(5, 5), BID, RICH)],
        vec![
            resource(10, 2, res(10, 10), price(3), RICH),
            resource(11, 3, res(10, 10), price(2), RICH),
            resource(12, 4, res(10, 10), price(2), RICH),
        ],
        vec![(9, mediator(1, 1))],
        trust_all(&[1, 2, 3, 4], &[9]),
    );
    let pairs = solve(&inst.problem, 0).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!((pairs[0].resource_offer, pairs[0].cost), (11, 20));
}

#[test]
fn each_edge_takes_the_mediator_with_the_lowest_fee_that_is_feasible() {
    // Mediator 8 is cheapest but the RP does not trust it; 9 beats 7 on fees.
    let mut registry = trust_all(&[1, 2], &[7, 8, 9]);
    registry
        .trust
        .remove(&(addr(2), TrustKind::Mediator, addr(8)));
    let inst = instance(
        params(1, 1),
        vec![job(0, 1, res(5, 5), BID, RICH)],
        vec![resource(10, 2, res(10, 10), BID, RICH)],
        vec![
            (7, mediator(5, 1)),
            (8, mediator(1, 1)),
            (9, mediator(2, 1)),
        ],
        registry,
    );
    let pairs = solve(&inst.problem, 0).unwrap();
    assert_eq!(pairs[0].mediator, addr(9));
}

#[test]
fn a_deposit_below_eq_3_2_or_a_passed_deadline_gives_no_edge() {
    let inst = instance(
        params(2, 1),
        vec![job(0, 1, res(5, 5), BID, 10)],
        vec![resource(10, 2, res(10, 10), BID, RICH)],
        vec![(9, mediator(1, 1))],
        trust_all(&[1, 2], &[9]),
    );
    assert!(solve(&inst.problem, 0).unwrap().is_empty());
    let inst = instance(
        params(2, 1),
        vec![job(0, 1, res(5, 5), BID, RICH)],
        vec![resource(10, 2, res(10, 10), BID, RICH)],
        vec![(9, mediator(1, 1))],
        trust_all(&[1, 2], &[9]),
    );
    assert_eq!(solve(&inst.problem, 0).unwrap().len(), 1);
    assert!(solve(&inst.problem, 1_000_000).unwrap().is_empty());
}

#[test]
fn a_malformed_runtime_id_is_an_error_not_a_panic() {
    let mut inst = instance(
        params(1, 1),
        vec![],
        vec![],
        vec![(9, mediator(1, 1))],
        Snapshot::default(),
    );
    inst.problem.participants[0].runtimes.push("zz".into());
    assert!(solve(&inst.problem, 0).is_err());
}

fn arb_instance() -> impl Strategy<Value = Instance> {
    let limits = (1u64..12, 1u64..4, 1u64..4, 2u64..12).prop_map(|(i, m, s, b)| Resources {
        instructions: i,
        memory: m,
        storage: s,
        bandwidth: b,
    });
    let prices = (1u64..4, 1u64..4).prop_map(|(i, b)| Prices {
        instruction: i,
        bandwidth: b,
    });
    let jobs = prop::collection::vec((limits.clone(), prices.clone(), 0u64..2_000, 0u8..3), 0..5);
    let resources = prop::collection::vec((limits, prices.clone(), 0u64..2_000, 0u8..3), 0..5);
    let mediators = prop::collection::vec((0u64..4, 1u64..4), 1..3);
    // Trust and runtime edges missing at random (1 in 8).
    let holes = prop::collection::vec(0u8..8, 64);
    (1u64..3, 1u32..3, jobs, resources, mediators, holes).prop_map(
        |(theta, n, jobs, resources, mediators, holes)| {
            let jobs: Vec<JobOffer> = jobs
                .into_iter()
                .enumerate()
                .map(|(i, (l, p, d, o))| job(i as u64, 1 + o, l, p, d))
                .collect();
            let resources: Vec<ResourceOffer> = resources
                .into_iter()
                .enumerate()
                .map(|(i, (c, p, d, o))| resource(100 + i as u64, 10 + o, c, p, d))
                .collect();
            let mediators: Vec<(u8, Mediator)> = mediators
                .into_iter()
                .enumerate()
                .map(|(i, (f, p))| (20 + i as u8, mediator(f, p)))
                .collect();
            let ids: Vec<u8> = mediators.iter().map(|m| m.0).collect();
            let mut registry = trust_all(&[1, 2, 3, 10, 11, 12], &ids);
            let mut k = 0;
            let mut keep = || {
                k += 1;
                holes[k % holes.len()] != 0
            };
            registry.trust.retain(|_| keep());
            registry.runtimes.retain(|_| keep());
            instance(params(theta, n), jobs, resources, mediators, registry)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_match_is_feasible_and_the_matching_is_a_cheapest_maximum_one(inst in arb_instance()) {
        let pairs = solve(&inst.problem, 0).unwrap();
        let mut jobs_used = std::collections::BTreeSet::new();
        let mut res_used = std::collections::BTreeSet::new();
        let mut total = 0;
        for p in &pairs {
            prop_assert!(jobs_used.insert(p.job_offer));
            prop_assert!(res_used.insert(p.resource_offer));
            let j = inst.problem.job_offers.iter().find(|j| j.id == p.job_offer).unwrap();
            let r = inst.problem.resource_offers.iter().find(|r| r.id == p.resource_offer).unwrap();
            prop_assert!(feasible(&inst, j, r, &p.mediator));
            total += p.cost;
        }
        let (size, cost) = brute_force(&inst);
        prop_assert_eq!(pairs.len(), size);
        prop_assert_eq!(total, cost);
    }
}
