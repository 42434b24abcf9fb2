//! The matching solver (spec `compute.md` §4.1): open job offers on the left, open resource
//! offers on the right, an edge where some registered mediator makes the triple pass the
//! ledger's own [`feasibility::check`], so a posted match is refused only if the chain moved
//! on. Objective: maximum cardinality (Hopcroft-Karp), then the lowest total RP price
//! `L_I·p_I + L_B·p_B` among maximum matchings (successive shortest augmenting paths), ties
//! by resource offer id. Pure: no chain, no clock.
//!
//! It lives in `agora-sim` rather than `agora-solver` so that the HiGHS crate does not gain
//! a dependency on the compute module.

use agora_compute::feasibility::{self, Proposal, Snapshot};
use agora_compute::{
    payout, Directory, JobOffer, Market, Mediator, OfferId, ResourceOffer, ResourceProvider,
    TrustKind,
};
use agora_types::Address;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// One account of the compute module's `open_problem` answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Participant {
    pub address: Address,
    #[serde(default)]
    pub job_creator: bool,
    pub resource_provider: Option<ResourceProvider>,
    pub mediator: Option<Mediator>,
    pub directory: Option<Directory>,
    #[serde(default)]
    pub trusted_mediators: Vec<Address>,
    #[serde(default)]
    pub trusted_directories: Vec<Address>,
    /// Runtime ids, hex.
    #[serde(default)]
    pub runtimes: Vec<String>,
}

/// The compute module's `open_problem` answer: what the solver reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenProblem {
    pub market: Market,
    pub job_offers: Vec<JobOffer>,
    pub resource_offers: Vec<ResourceOffer>,
    pub participants: Vec<Participant>,
}

/// A match to post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pairing {
    pub job_offer: OfferId,
    pub resource_offer: OfferId,
    pub mediator: Address,
    /// What the RP would charge for the job's limits: `L_I·p_I + L_B·p_B`.
    pub cost: u64,
}

/// An `open_problem` the solver cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    #[error("participant {0} lists a runtime id that is not 32 bytes of hex")]
    BadRuntime(Address),
}

/// The registry facts of the problem as the feasibility check reads them.
fn snapshot(problem: &OpenProblem) -> Result<Snapshot, ProblemError> {
    let mut s = Snapshot::default();
    for p in &problem.participants {
        for m in &p.trusted_mediators {
            s.trust.insert((p.address, TrustKind::Mediator, *m));
        }
        for d in &p.trusted_directories {
            s.trust.insert((p.address, TrustKind::Directory, *d));
        }
        for r in &p.runtimes {
            let mut id = [0u8; 32];
            hex::decode_to_slice(r, &mut id).map_err(|_| ProblemError::BadRuntime(p.address))?;
            s.runtimes.insert((p.address, id));
        }
    }
    Ok(s)
}

/// An edge's cost: the RP's price, then the resource offer's rank (ties by offer id).
/// Componentwise sums compared lexicographically, so shortest paths stay well defined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Cost(i128, i64);

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost(self.0 + o.0, self.1 + o.1)
    }
}

impl std::ops::Neg for Cost {
    type Output = Cost;
    fn neg(self) -> Cost {
        Cost(-self.0, -self.1)
    }
}

/// A feasible (job, resource) pair with its cheapest mediator.
struct Edge {
    resource: usize,
    mediator: Address,
    price: u64,
}

/// Every feasible pair of the problem at block time `now_ms`, per job (in the order of
/// `jobs`), picking for each the mediator with the lowest `2·f_M`, then prices, then address.
fn edges(
    problem: &OpenProblem,
    jobs: &[&JobOffer],
    resources: &[&ResourceOffer],
    now_ms: u64,
) -> Result<Vec<Vec<Edge>>, ProblemError> {
    let registry = snapshot(problem)?;
    let by_address: BTreeMap<Address, &Participant> = problem
        .participants
        .iter()
        .map(|p| (p.address, p))
        .collect();
    let mut mediators: Vec<(&Address, &Mediator)> = problem
        .participants
        .iter()
        .filter_map(|p| p.mediator.as_ref().map(|m| (&p.address, m)))
        .collect();
    mediators.sort_by_key(|(a, m)| {
        (
            u128::from(m.availability_fee) * 2,
            m.prices.instruction,
            m.prices.bandwidth,
            **a,
        )
    });
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut row = Vec::new();
        let directory = by_address
            .get(&job.job.directory)
            .and_then(|p| p.directory.as_ref());
        for (ri, res) in resources.iter().enumerate() {
            let (Some(directory), Some(rp)) = (
                directory,
                by_address
                    .get(&res.owner)
                    .and_then(|p| p.resource_provider.as_ref()),
            ) else {
                continue;
            };
            let feasible = mediators.iter().find(|(address, mediator)| {
                let proposal = Proposal {
                    params: &problem.market.params,
                    job,
                    resource: res,
                    rp,
                    mediator_address: address,
                    mediator,
                    directory,
                    now_ms,
                };
                feasibility::check(&proposal, &registry).is_ok()
            });
            // A feasible proposal's estimate fits u64 and the RP's prices are within the bids.
            if let (Some((address, _)), Ok(price)) = (
                feasible,
                payout::price(job.limits.instructions, job.limits.bandwidth, res.prices),
            ) {
                row.push(Edge {
                    resource: ri,
                    mediator: **address,
                    price,
                });
            }
        }
        out.push(row);
    }
    Ok(out)
}

/// Hopcroft-Karp: the size of a maximum matching of `adj` (left to right indices).
fn maximum_cardinality(adj: &[Vec<usize>], right: usize) -> usize {
    const FREE: usize = usize::MAX;
    let (mut left_of, mut right_of) = (vec![FREE; right], vec![FREE; adj.len()]);
    let mut size = 0;
    loop {
        // Layers by BFS from the free left vertices.
        let mut dist = vec![usize::MAX; adj.len()];
        let mut queue: VecDeque<usize> = (0..adj.len()).filter(|&l| right_of[l] == FREE).collect();
        for &l in &queue {
            dist[l] = 0;
        }
        let mut found = false;
        while let Some(l) = queue.pop_front() {
            for &r in &adj[l] {
                match left_of[r] {
                    FREE => found = true,
                    next if dist[next] == usize::MAX => {
                        dist[next] = dist[l] + 1;
                        queue.push_back(next);
                    }
                    _ => {}
                }
            }
        }
        if !found {
            return size;
        }
        // Vertex-disjoint shortest augmenting paths along the layers.
        fn augment(
            l: usize,
            adj: &[Vec<usize>],
            dist: &mut [usize],
            left_of: &mut [usize],
            right_of: &mut [usize],
        ) -> bool {
            for &r in &adj[l] {
                let next = left_of[r];
                if next == FREE
                    || (dist[next] == dist[l] + 1 && augment(next, adj, dist, left_of, right_of))
                {
                    left_of[r] = l;
                    right_of[l] = r;
                    return true;
                }
            }
            dist[l] = usize::MAX;
            false
        }
        for l in 0..adj.len() {
            if right_of[l] == FREE && augment(l, adj, &mut dist, &mut left_of, &mut right_of) {
                size += 1;
            }
        }
    }
}

/// Successive shortest augmenting paths, `target` times: after k augmentations the matching
/// is a cheapest one of size k, so stopping at the maximum cardinality gives the cheapest
/// maximum matching. Returns `right_of` per left vertex.
fn cheapest_matching(edges: &[Vec<Edge>], right: usize, target: usize) -> Vec<Option<usize>> {
    let mut right_of: Vec<Option<usize>> = vec![None; edges.len()];
    let mut left_of: Vec<Option<usize>> = vec![None; right];
    let cost = |e: &Edge| Cost(i128::from(e.price), e.resource as i64);
    for _ in 0..target {
        // Bellman-Ford (queue-based) over the residual graph: unmatched edges left to right at
        // +cost, matched edges right to left at -cost; sources are the free left vertices.
        let mut dist_l: Vec<Option<Cost>> = right_of
            .iter()
            .map(|r| r.is_none().then(Cost::default))
            .collect();
        let mut dist_r: Vec<Option<Cost>> = vec![None; right];
        let mut via: Vec<usize> = vec![usize::MAX; right];
        let mut queue: VecDeque<usize> =
            (0..edges.len()).filter(|&l| dist_l[l].is_some()).collect();
        let mut queued: Vec<bool> = dist_l.iter().map(Option::is_some).collect();
        while let Some(l) = queue.pop_front() {
            queued[l] = false;
            let Some(dl) = dist_l[l] else { continue };
            for e in &edges[l] {
                if right_of[l] == Some(e.resource) {
                    continue;
                }
                let d = dl + cost(e);
                if dist_r[e.resource].is_none_or(|old| d < old) {
                    dist_r[e.resource] = Some(d);
                    via[e.resource] = l;
                    if let Some(next) = left_of[e.resource] {
                        let matched = edges[next]
                            .iter()
                            .find(|m| m.resource == e.resource)
                            .map(cost)
                            .unwrap_or_default();
                        let dn = d + -matched;
                        if dist_l[next].is_none_or(|old| dn < old) {
                            dist_l[next] = Some(dn);
                            if !queued[next] {
                                queued[next] = true;
                                queue.push_back(next);
                            }
                        }
                    }
                }
            }
        }
        let end = (0..right)
            .filter(|&r| left_of[r].is_none())
            .filter_map(|r| dist_r[r].map(|d| (d, r)))
            .min();
        let Some((_, mut r)) = end else { break };
        // Flip the path back to its free left vertex.
        loop {
            let l = via[r];
            let previous = right_of[l];
            right_of[l] = Some(r);
            left_of[r] = Some(l);
            match previous {
                Some(p) => r = p,
                None => break,
            }
        }
    }
    right_of
}

/// The matches to post for `problem` at block time `now_ms` (use the latest block's time plus
/// a margin for inclusion): a maximum matching of least total RP price, in job offer order.
pub fn solve(problem: &OpenProblem, now_ms: u64) -> Result<Vec<Pairing>, ProblemError> {
    let mut jobs: Vec<&JobOffer> = problem.job_offers.iter().collect();
    jobs.sort_by_key(|j| j.id);
    let mut resources: Vec<&ResourceOffer> = problem.resource_offers.iter().collect();
    resources.sort_by_key(|r| r.id);
    let edges = edges(problem, &jobs, &resources, now_ms)?;
    let adj: Vec<Vec<usize>> = edges
        .iter()
        .map(|row| row.iter().map(|e| e.resource).collect())
        .collect();
    let size = maximum_cardinality(&adj, resources.len());
    let right_of = cheapest_matching(&edges, resources.len(), size);
    Ok(right_of
        .iter()
        .enumerate()
        .filter_map(|(l, r)| {
            let r = (*r)?;
            let e = edges[l].iter().find(|e| e.resource == r)?;
            Some(Pairing {
                job_offer: jobs[l].id,
                resource_offer: resources[r].id,
                mediator: e.mediator,
                cost: e.price,
            })
        })
        .collect())
}
