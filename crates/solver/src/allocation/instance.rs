//! The solver's input (the `open_problem` query's JSON), its validation, and the per-type order
//! books and compatible triples the formulations are built from.

use super::SolverError;
use agora_allocation::{
    params::{self, bound_of, pair_allowed, weight_of},
    Alternative, Context, MarketId, MarketParams, Objective, Offer, OfferId, PairRule, Phase,
    PriceBound, Score, Side, SolutionId, TypeId, TypeRange, Zone, MAX_ALTERNATIVES,
};
use agora_types::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One posted offer of the instance, as `open_problem` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOffer {
    pub id: OfferId,
    pub side: Side,
    #[serde(default)]
    pub owner: Address,
    /// The owner's zone (eq. 6.14); 0 if unset.
    #[serde(default)]
    pub zone: Zone,
    /// Sorted by type, distinct, quantities > 0.
    pub alternatives: Vec<Alternative>,
    /// lcm of the quantities; computed when absent, refused when wrong.
    #[serde(default)]
    pub scale: Option<u64>,
}

/// The candidate the ledger holds: a solution must beat its score to be accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCandidate {
    pub solution: Option<SolutionId>,
    pub score: Score,
}

/// One instance of the allocation problem: the `open_problem` query's answer, which is also the
/// input of `agora solve allocation` (documented in docs/allocation.md). Only `offers` is
/// required: the objective defaults to eq. 6.5, no price bounds, any pair.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AllocationInstance {
    #[serde(default)]
    pub market: MarketId,
    #[serde(default)]
    pub cycle: u64,
    #[serde(default)]
    pub phase: Option<Phase>,
    #[serde(default)]
    pub phase_since_ms: u64,
    #[serde(default)]
    pub due_ms: u64,
    #[serde(default = "quantity")]
    pub objective: Objective,
    #[serde(default)]
    pub default_bound: Option<PriceBound>,
    #[serde(default)]
    pub price_bounds: Vec<TypeRange<PriceBound>>,
    #[serde(default = "any_pair")]
    pub pairs: PairRule,
    pub offers: Vec<InstanceOffer>,
    #[serde(default)]
    pub candidate: InstanceCandidate,
}

fn quantity() -> Objective {
    Objective::Quantity
}

fn any_pair() -> PairRule {
    PairRule::Any
}

/// One side of a type's book: an offer's alternative for the type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leg {
    pub offer: OfferId,
    pub zone: Zone,
    /// o_Q(t) and o_V(t).
    pub quantity: u64,
    pub value: u64,
    /// w_o(t) = scale / o_Q(t): the leg's coefficient in its offer's row.
    pub weight: u64,
    /// The effective ask (provider: max(o_V, min_t)) or bid (consumer: min(o_V, max_t)).
    pub price: u64,
}

/// The offers of one type that can trade it (F5), each side by offer id.
pub(crate) struct Book {
    pub rtype: TypeId,
    pub providers: Vec<Leg>,
    pub consumers: Vec<Leg>,
}

/// A compatible (provider, consumer, type): an element of K (spec 4.1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Triple {
    pub provider: Leg,
    pub consumer: Leg,
    pub rtype: TypeId,
    /// g(p, c, t): the objective's weight of one unit.
    pub gain: u64,
    /// The midpoint of the price window, rounded down (spec 4.2).
    pub price: u64,
}

impl Triple {
    /// At most the smaller of the two quantities (eq. 6.1/6.2 for one assignment).
    pub fn cap(&self) -> u64 {
        self.provider.quantity.min(self.consumer.quantity)
    }
}

/// An instance checked and indexed the way the module's [`agora_allocation::verify`] reads it.
pub(crate) struct Indexed {
    pub cycle: u64,
    pub params: MarketParams,
    pub offers: BTreeMap<OfferId, Offer>,
    pub zones: BTreeMap<Address, Zone>,
    pub books: Vec<Book>,
}

fn invalid(what: String) -> SolverError {
    SolverError::Invalid(what)
}

impl Indexed {
    /// Refuses what the ledger would never list: duplicate offers, empty, unsorted or zero
    /// alternatives, a wrong or overflowing scale, an owner in two zones, malformed tables.
    pub fn new(instance: &AllocationInstance) -> Result<Self, SolverError> {
        // Only the rules matter to verify; the rest passes `params::check`.
        let params = MarketParams {
            receive_ms: 1,
            solve_ms: 1,
            max_quantity: u64::MAX,
            max_types_per_offer: MAX_ALTERNATIVES,
            objective: instance.objective.clone(),
            default_bound: instance.default_bound.clone(),
            price_bounds: instance.price_bounds.clone(),
            pairs: instance.pairs.clone(),
            settle: false,
            max_offers_per_cycle: u32::MAX,
            max_solutions_per_cycle: u32::MAX,
        };
        params::check(&params).map_err(|e| invalid(e.to_string()))?;
        let mut offers = BTreeMap::new();
        let mut zones = BTreeMap::new();
        for o in &instance.offers {
            let alts = &o.alternatives;
            if alts.is_empty() || alts.len() > MAX_ALTERNATIVES as usize {
                return Err(invalid(format!("offer {}: 1 to 1,024 alternatives", o.id)));
            }
            if alts.iter().any(|a| a.quantity == 0) {
                return Err(invalid(format!("offer {}: a zero quantity", o.id)));
            }
            if alts.windows(2).any(|w| w[0].rtype >= w[1].rtype) {
                return Err(invalid(format!(
                    "offer {}: alternatives not sorted by type and distinct",
                    o.id
                )));
            }
            let scale = params::scale(alts)
                .ok_or_else(|| invalid(format!("offer {}: the scale overflows u64", o.id)))?;
            if o.scale.is_some_and(|s| s != scale) {
                return Err(invalid(format!(
                    "offer {}: scale {:?} is not the lcm of its quantities ({scale})",
                    o.id, o.scale
                )));
            }
            if *zones.entry(o.owner).or_insert(o.zone) != o.zone {
                return Err(invalid(format!("owner {} is in two zones", o.owner)));
            }
            let offer = Offer {
                id: o.id,
                cycle: instance.cycle,
                owner: o.owner,
                side: o.side,
                misc: 0,
                alternatives: alts.clone(),
                posted: true,
                scale,
                hold: None,
            };
            if offers.insert(o.id, offer).is_some() {
                return Err(invalid(format!("offer {} is listed twice", o.id)));
            }
        }
        let books = books(&params, &offers, &zones);
        Ok(Self {
            cycle: instance.cycle,
            params,
            offers,
            zones,
            books,
        })
    }

    /// The module's verification context for this instance.
    pub fn context(&self) -> Context<'_> {
        Context {
            params: &self.params,
            cycle: self.cycle,
            offers: &self.offers,
            zones: &self.zones,
        }
    }

    /// g(p, c, t) of the market's objective.
    fn gain(&self, p: &Leg, c: &Leg, t: TypeId) -> u64 {
        match &self.params.objective {
            Objective::Quantity => 1,
            o @ Objective::TypeUtility { .. } => weight_of(o, t),
            // Legs are compatible: V_c >= bid >= ask >= V_p.
            Objective::Welfare => c.value - p.value,
        }
    }

    fn allowed(&self, p: &Leg, c: &Leg, t: TypeId) -> bool {
        p.price <= c.price && pair_allowed(&self.params.pairs, p.zone, c.zone, t)
    }

    /// K: every compatible triple, by type, then provider, then consumer.
    pub fn triples(&self) -> Vec<Triple> {
        let mut k = Vec::new();
        for b in &self.books {
            for p in &b.providers {
                for c in b.consumers.iter().filter(|c| self.allowed(p, c, b.rtype)) {
                    k.push(Triple {
                        provider: *p,
                        consumer: *c,
                        rtype: b.rtype,
                        gain: self.gain(p, c, b.rtype),
                        price: p.price + (c.price - p.price) / 2,
                    });
                }
            }
        }
        k
    }

    /// |K| without building it (pair rule aside, which only removes triples).
    pub fn pairs(&self) -> usize {
        self.books
            .iter()
            .map(|b| {
                let mut bids: Vec<u64> = b.consumers.iter().map(|c| c.price).collect();
                bids.sort_unstable();
                b.providers
                    .iter()
                    .map(|p| bids.len() - bids.partition_point(|bid| *bid < p.price))
                    .sum::<usize>()
            })
            .sum()
    }

    /// The leg of `offer` for type `t`: its weight and quantity.
    pub fn leg(&self, offer: OfferId, t: TypeId) -> Option<(&Offer, &Alternative)> {
        let o = self.offers.get(&offer)?;
        Some((o, agora_allocation::verify::alternative(o, t)?))
    }
}

/// Per type, the legs that can trade it: within the type's price bounds (F5), and only
/// providers some consumer's bid covers and consumers above the lowest ask.
fn books(
    params: &MarketParams,
    offers: &BTreeMap<OfferId, Offer>,
    zones: &BTreeMap<Address, Zone>,
) -> Vec<Book> {
    let mut by_type: BTreeMap<TypeId, Book> = BTreeMap::new();
    for o in offers.values() {
        let zone = zones.get(&o.owner).copied().unwrap_or(0);
        for a in &o.alternatives {
            let (min, max) = bound_of(params, a.rtype).map_or((0, u64::MAX), |b| (b.min, b.max));
            let price = match o.side {
                Side::Provide => a.value.max(min),
                Side::Consume => a.value.min(max),
            };
            if price < min || price > max {
                continue;
            }
            let leg = Leg {
                offer: o.id,
                zone,
                quantity: a.quantity,
                value: a.value,
                weight: o.scale / a.quantity,
                price,
            };
            let book = by_type.entry(a.rtype).or_insert_with(|| Book {
                rtype: a.rtype,
                providers: Vec::new(),
                consumers: Vec::new(),
            });
            match o.side {
                Side::Provide => book.providers.push(leg),
                Side::Consume => book.consumers.push(leg),
            }
        }
    }
    by_type
        .into_values()
        .filter_map(|mut b| {
            let best_bid = b.consumers.iter().map(|c| c.price).max()?;
            let least_ask = b.providers.iter().map(|p| p.price).min()?;
            b.providers.retain(|p| p.price <= best_bid);
            b.consumers.retain(|c| c.price >= least_ask);
            Some(b)
        })
        .collect()
}
