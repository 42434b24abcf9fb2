//! Calls, records and parameters of the allocation market (seed Table 6.1; spec section 7.2).
//!
//! Units are the market's own: quantities are whole units (`u64`, a finer unit gives the
//! seed's real-valued relaxation), values and prices micro-tokens per unit, time ms on the
//! block clock. Type ids are opaque `u64`.

use agora_hybrid::Candidate;
use agora_types::{record, token, Address};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

pub type MarketId = u64;
pub type OfferId = u64;
pub type SolutionId = u64;
pub type TypeId = u64;
pub type Zone = u32;

/// Most alternatives of one offer, and updates of one `UpdateOffer`.
pub const MAX_ALTERNATIVES: u32 = 1_024;
/// Most entries of a parameter table.
pub const MAX_TABLE: usize = 10_000;
/// Most assignments in one call (an assignment is 40 bytes: this fits one transaction).
pub const MAX_ASSIGNMENTS_PER_CALL: usize = 20_000;
/// Most `AddAssignments` parts of one solution (with the call above: 1.28 M assignments).
pub const MAX_PARTS: u32 = 64;

token! {
    pub enum Side {
        /// A providing offer (O_P).
        Provide,
        /// A consumption offer (O_C).
        Consume,
    }
    /// Fig. 6.3's states after `setup`; Init is "no market yet".
    pub enum Phase {
        Receive,
        Solve,
    }
}

record! {
    /// A value for the types `first..=last`.
    pub struct TypeRange<T> {
        pub first: TypeId,
        pub last: TypeId,
        pub value: T,
    }
    /// Eq. 6.13: the regulator's unit-price bounds of a type.
    pub struct PriceBound {
        pub min: u64,
        pub max: u64,
    }
    /// What a solution maximizes; every objective is tie-broken by the quantity moved (A7).
    pub enum Objective {
        /// Eq. 6.5: the quantity moved.
        Quantity,
        /// Eq. 6.10: Σ β_t · a_Q, with β from the table or the default.
        TypeUtility { default_beta: u64, betas: Vec<TypeRange<u64>> },
        /// Eq. 6.12: Σ a_Q · (V_c(t) − V_p(t)).
        Welfare,
    }
    /// Eq. 6.14 over the owners' zones (A17).
    pub enum PairRule {
        Any,
        /// Only the listed (provider zone, consumer zone, type range) may trade.
        Zones { allowed: Vec<ZoneRule> },
    }
    /// Sorted by (provider, consumer, first); ranges of one zone pair disjoint.
    pub struct ZoneRule {
        pub provider: Zone,
        pub consumer: Zone,
        pub first: TypeId,
        pub last: TypeId,
    }
    pub struct MarketParams {
        /// lengthReceive (> 0).
        pub receive_ms: u64,
        /// lengthSolve (> 0).
        pub solve_ms: u64,
        /// maxQuantity: every o_Q(t) is at most this.
        pub max_quantity: u64,
        /// Replaces the seed's numTypes (A3): alternatives per offer, 1 to 1,024.
        pub max_types_per_offer: u32,
        pub objective: Objective,
        /// Eq. 6.13 for types no range lists; `None`: unbounded.
        pub default_bound: Option<PriceBound>,
        /// Eq. 6.13 per type range: sorted by `first`, disjoint.
        pub price_bounds: Vec<TypeRange<PriceBound>>,
        pub pairs: PairRule,
        /// Consumers' offers hold their worst-case payment and `Finalize` pays providers (A5).
        pub settle: bool,
        pub max_offers_per_cycle: u32,
        pub max_solutions_per_cycle: u32,
    }
    /// One alternative of an offer: o_Q(t) units of `rtype` at unit value o_V(t).
    pub struct Alternative {
        pub rtype: TypeId,
        pub quantity: u64,
        pub value: u64,
    }
    /// a = ⟨a_OP, a_OC, a_Q, a_T, a_V⟩.
    pub struct Assignment {
        pub provider: OfferId,
        pub consumer: OfferId,
        pub rtype: TypeId,
        pub quantity: u64,
        pub price: u64,
    }
    pub struct Market {
        pub id: MarketId,
        pub admin: Address,
        pub params: MarketParams,
        pub phase: Phase,
        /// When the current phase began (block clock, ms).
        pub phase_since_ms: u64,
        pub cycle: u64,
        pub next_offer: OfferId,
        pub next_solution: SolutionId,
        pub offers_this_cycle: u32,
        pub posted_this_cycle: u32,
        pub solutions_this_cycle: u32,
        /// round = cycle; `solution: None` is the empty allocation.
        pub candidate: Candidate<Score>,
    }
    pub struct Offer {
        pub id: OfferId,
        pub cycle: u64,
        pub owner: Address,
        pub side: Side,
        pub misc: u64,
        /// Sorted by type, distinct, quantities > 0.
        pub alternatives: Vec<Alternative>,
        pub posted: bool,
        /// lcm of the quantities, set when posted: usage ≤ scale is eq. 6.1/6.2 exactly.
        pub scale: u64,
        /// Settlement: the bank hold of a posted consumption offer.
        pub hold: Option<u64>,
    }
    /// A staged solution's own state (beside `agora_hybrid::Staged`'s creator, cycle, parts).
    pub struct SolutionMeta {
        pub misc: u64,
        pub score: Score,
    }
    /// What `Finalize` committed for a cycle.
    pub struct Final {
        pub solution: Option<SolutionId>,
        pub score: Score,
        pub assignments: u64,
        pub height: u64,
    }
}

/// A solution's score: the objective, then the quantity moved, compared lexicographically (A7:
/// under eq. 6.12 with uniform prices every solution would otherwise tie at 0).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Score {
    pub primary: u128,
    pub quantity: u128,
}

/// The calls of the allocation module. Every call but `CreateMarket` names its market; who
/// calls is always the transaction's signer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum AllocationCall {
    /// `setup`: a new market in Receive, its admin the sender.
    CreateMarket(MarketParams),
    /// The admin puts an account in a zone (eq. 6.14).
    SetZone {
        market: MarketId,
        account: Address,
        zone: Zone,
    },
    CreateOffer {
        market: MarketId,
        side: Side,
        misc: u64,
    },
    /// Sets (quantity, value) per type; quantity 0 removes the type.
    UpdateOffer {
        market: MarketId,
        offer: OfferId,
        updates: Vec<Alternative>,
    },
    PostOffer {
        market: MarketId,
        offer: OfferId,
    },
    CancelOffer {
        market: MarketId,
        offer: OfferId,
    },
    /// Create, update and post in one transaction.
    PlaceOffer {
        market: MarketId,
        side: Side,
        misc: u64,
        alternatives: Vec<Alternative>,
    },
    Close {
        market: MarketId,
    },
    CreateSolution {
        market: MarketId,
        misc: u64,
    },
    AddAssignments {
        market: MarketId,
        solution: SolutionId,
        assignments: Vec<Assignment>,
    },
    /// Create and fill in one transaction; refused unless strictly better than the candidate.
    SubmitSolution {
        market: MarketId,
        misc: u64,
        assignments: Vec<Assignment>,
    },
    Finalize {
        market: MarketId,
    },
    /// Settlement: returns what is left of a consumption offer's hold once its cycle is final.
    ReleaseOffer {
        market: MarketId,
        offer: OfferId,
    },
}
