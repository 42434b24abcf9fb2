//! The compact model as a maximum flow, for its common case: objective 6.5, no pair rule, and
//! every offer with equal quantities across its alternatives (all of the seed's encodings,
//! eq. 6.6-6.9; weights 1). Then the LP is a flow problem and an integral maximum flow is its
//! optimum, found combinatorially (Dinic) in a fraction of the simplex's time.
//!
//! Network: source -> each providing offer (capacity Q_p) -> per type, the node of its ask
//! (capacity Q_p(t)); each type's ask nodes form a chain upwards by price (unbounded), so a unit
//! entering at ask a can only leave at a level >= a; the node of the highest ask <= b -> each
//! consuming offer with bid b (capacity Q_c(t)) -> sink (capacity Q_c). A path is a unit sold at
//! an ask no higher than the bid that buys it, so the per-type amounts decompose exactly as the
//! compact model's do.

use super::instance::{Indexed, Leg};
use agora_allocation::{Objective, OfferId, PairRule};
use std::collections::{BTreeMap, VecDeque};

/// Does the flow solve this instance's compact model exactly?
pub(crate) fn applies(ix: &Indexed) -> bool {
    ix.params.objective == Objective::Quantity
        && ix.params.pairs == PairRule::Any
        && ix
            .books
            .iter()
            .flat_map(|b| b.providers.iter().chain(&b.consumers))
            .all(|l| l.weight == 1)
}

/// Capacities are u128 so that no sum of u64 quantities overflows or is bounded below its size.
const UNBOUNDED: u128 = u128::MAX / 4;

/// A residual graph: edge e and its reverse e ^ 1.
struct Network {
    to: Vec<usize>,
    cap: Vec<u128>,
    adj: Vec<Vec<usize>>,
}

impl Network {
    fn new(nodes: usize) -> Self {
        Self {
            to: Vec::new(),
            cap: Vec::new(),
            adj: vec![Vec::new(); nodes],
        }
    }

    fn node(&mut self) -> usize {
        self.adj.push(Vec::new());
        self.adj.len() - 1
    }

    fn edge(&mut self, from: usize, to: usize, cap: u128) -> usize {
        let e = self.to.len();
        self.to.extend([to, from]);
        self.cap.extend([cap, 0]);
        self.adj[from].push(e);
        self.adj[to].push(e + 1);
        e
    }

    /// What went through edge e (its reverse's residual).
    fn flow(&self, e: usize) -> u128 {
        self.cap[e ^ 1]
    }

    fn levels(&self, s: usize) -> Vec<usize> {
        let mut level = vec![usize::MAX; self.adj.len()];
        level[s] = 0;
        let mut queue = VecDeque::from([s]);
        while let Some(v) = queue.pop_front() {
            for &e in &self.adj[v] {
                let w = self.to[e];
                if self.cap[e] > 0 && level[w] == usize::MAX {
                    level[w] = level[v] + 1;
                    queue.push_back(w);
                }
            }
        }
        level
    }

    /// Dinic's maximum flow from `s` to `t`, with an iterative search (no deep recursion on
    /// long price chains).
    fn max_flow(&mut self, s: usize, t: usize) -> u128 {
        let mut total = 0;
        loop {
            let mut level = self.levels(s);
            if level[t] == usize::MAX {
                return total;
            }
            let mut next = vec![0usize; self.adj.len()];
            let mut path: Vec<usize> = Vec::new();
            let mut v = s;
            loop {
                if v == t {
                    let pushed = path.iter().map(|&e| self.cap[e]).min().unwrap_or(0);
                    for &e in &path {
                        self.cap[e] -= pushed;
                        self.cap[e ^ 1] += pushed;
                    }
                    total += pushed;
                    // Back to the tail of the first saturated edge.
                    let cut = path.iter().position(|&e| self.cap[e] == 0).unwrap_or(0);
                    path.truncate(cut);
                    v = path.last().map_or(s, |&e| self.to[e]);
                    continue;
                }
                let open = |e: usize| self.cap[e] > 0 && level[self.to[e]] == level[v] + 1;
                while next[v] < self.adj[v].len() && !open(self.adj[v][next[v]]) {
                    next[v] += 1;
                }
                match self.adj[v].get(next[v]) {
                    Some(&e) => {
                        path.push(e);
                        v = self.to[e];
                    }
                    None if v == s => break,
                    None => {
                        // A dead end: never enter it again in this phase.
                        level[v] = usize::MAX;
                        path.pop();
                        v = path.last().map_or(s, |&e| self.to[e]);
                        next[v] += 1;
                    }
                }
            }
        }
    }
}

/// The flow's amounts in the compact model's column order (per book: providers, then
/// consumers), the maximum (its LP optimum), and the network's arcs and nodes.
pub(crate) fn amounts(ix: &Indexed) -> (Vec<u64>, u128, usize, usize) {
    let (s, t) = (0, 1);
    let mut net = Network::new(2);
    let mut offer_nodes: BTreeMap<OfferId, usize> = BTreeMap::new();
    let mut offer_node = |net: &mut Network, leg: &Leg, provider: bool| -> usize {
        *offer_nodes.entry(leg.offer).or_insert_with(|| {
            let n = net.node();
            let scale = ix.offers.get(&leg.offer).map_or(0, |o| o.scale);
            if provider {
                net.edge(s, n, scale.into());
            } else {
                net.edge(n, t, scale.into());
            }
            n
        })
    };
    let mut legs = Vec::new();
    for b in &ix.books {
        let mut asks: Vec<u64> = b.providers.iter().map(|p| p.price).collect();
        asks.sort_unstable();
        asks.dedup();
        let levels: Vec<usize> = asks.iter().map(|_| net.node()).collect();
        for w in levels.windows(2) {
            net.edge(w[0], w[1], UNBOUNDED);
        }
        for p in &b.providers {
            let o = offer_node(&mut net, p, true);
            let at = asks.partition_point(|a| *a < p.price);
            legs.push(net.edge(o, levels[at], p.quantity.into()));
        }
        for c in &b.consumers {
            let o = offer_node(&mut net, c, false);
            // Books keep only consumers bidding at least the lowest ask.
            let at = asks.partition_point(|a| *a <= c.price).saturating_sub(1);
            legs.push(net.edge(levels[at], o, c.quantity.into()));
        }
    }
    let value = net.max_flow(s, t);
    // A leg's flow is at most its quantity, a u64.
    let amounts = legs
        .iter()
        .map(|&e| u64::try_from(net.flow(e)).unwrap_or(u64::MAX))
        .collect();
    (amounts, value, net.to.len() / 2, net.adj.len())
}
