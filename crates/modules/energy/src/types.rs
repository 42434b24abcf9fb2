//! Calls, state records and units of the energy market.
//!
//! Units: energy in Wh (`u64`), prices in micro-tokens per Wh (`u64`), money in micro-tokens
//! (`u64`, the bank's unit), time in ms since the Unix epoch, intervals as indices from the
//! market's start (`u32`).

use crate::clearing::Score;
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

pub type MarketId = u64;
pub type OfferId = u64;
pub type GroupId = u32;
pub type FeederId = u32;
pub type Interval = u32;

/// Most intervals one offer or one withdrawal may name (four days of 15-minute intervals).
pub const MAX_INTERVALS_PER_CALL: usize = 384;
/// Most intervals one `finalize` call processes, so its cost stays bounded.
pub const MAX_FINALIZE_PER_CALL: u32 = 32;

#[derive(
    Clone,
    Copy,
    Debug,
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
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Production: selling offers, backed by energy production assets (EPA).
    Sell,
    /// Consumption: buying offers, backed by energy consumption assets (ECA).
    Buy,
}

impl Side {
    pub fn other(self) -> Self {
        match self {
            Side::Sell => Side::Buy,
            Side::Buy => Side::Sell,
        }
    }
}

/// The DSO's prices in one interval (micro-tokens per Wh), used for billing (eq. 2.16).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct DsoPrice {
    /// What the DSO charges for energy a prosumer consumed beyond its trades (π^B).
    pub buy: u64,
    /// What the DSO pays for energy a prosumer produced beyond its trades (π^S).
    pub sell: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MarketParams {
    /// Length Δ of an interval in ms.
    pub interval_ms: u64,
    /// Start of interval 0 (ms since the Unix epoch).
    pub start_ms: u64,
    /// T_clear: intervals between an interval's finalization and its start.
    pub t_clear: u32,
    /// The DSO's price schedule; interval t uses entry t mod len (e.g. 96 entries for a day).
    pub prices: Vec<DsoPrice>,
}

/// A trade of a solution: `energy` Wh from offer `sell` to offer `buy` in `interval` at
/// unit price `price` (ε_{s,b,t} and π_{s,b,t}).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Trade {
    pub sell: OfferId,
    pub buy: OfferId,
    pub interval: Interval,
    pub energy: u64,
    pub price: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum EnergyCall {
    /// Creates a market whose DSO is the sender.
    CreateMarket(MarketParams),
    /// DSO: a group of feeders with internal (C^i) and external (C^e) limits in Wh per
    /// interval. A group of one feeder is that feeder's own group and must exist before meters
    /// are registered on the feeder.
    DefineGroup {
        market: MarketId,
        feeders: Vec<FeederId>,
        c_int: u64,
        c_ext: u64,
    },
    /// DSO: a smart meter on `feeder`, the prosumer account the DSO certified for it, and the
    /// prosumer's production and consumption limits L⁺ and L⁻ in Wh per interval.
    RegisterSmartMeter {
        market: MarketId,
        meter: Address,
        prosumer: Address,
        feeder: FeederId,
        l_prod: u64,
        l_cons: u64,
    },
    /// The certified prosumer account binds itself to its meter.
    RegisterProsumer { market: MarketId, meter: Address },
    /// A prosumer withdraws `energy` Wh of assets of `side` in `group` for each interval of
    /// `first..=last`.
    WithdrawAssets {
        market: MarketId,
        side: Side,
        group: GroupId,
        energy: u64,
        first: Interval,
        last: Interval,
    },
    /// Moves assets to another account; they keep their group.
    TransferAssets {
        market: MarketId,
        to: Address,
        side: Side,
        group: GroupId,
        interval: Interval,
        energy: u64,
    },
    /// An offer to sell or buy `energy` Wh in any of `intervals` at reservation price `price`.
    PostOffer {
        market: MarketId,
        side: Side,
        group: GroupId,
        energy: u64,
        intervals: Vec<Interval>,
        price: u64,
    },
    /// A solution for every interval not finalized yet.
    PostSolution {
        market: MarketId,
        trades: Vec<Trade>,
    },
    /// Part `part` of a solution too large for one transaction: sorted trades continuing the
    /// previous part's. Part 0 starts (or, empty, discards) the sender's staged solution.
    StageSolution {
        market: MarketId,
        part: u32,
        trades: Vec<Trade>,
    },
    /// Posts the sender's staged solution, checked and ranked as [`EnergyCall::PostSolution`].
    PostStagedSolution { market: MarketId },
    /// Finalizes every interval that is due (at most [`MAX_FINALIZE_PER_CALL`]).
    Finalize { market: MarketId },
    /// Moves all of the sender's assets of a finalized interval to deposit address `to`,
    /// which only the prosumer and its meter can tell is theirs (see [`crate::billing`]).
    Deposit {
        market: MarketId,
        interval: Interval,
        to: Address,
    },
    /// Mixing (section 2.7.2): every input moves the same assets and funds to one of the
    /// outputs. Valid only with every input's signature of `statement` (in input order).
    Mix {
        statement: MixStatement,
        signatures: Vec<Vec<u8>>,
    },
    /// A smart meter bills billing cycle `cycle` of its prosumer: the residual production
    /// r_t in Wh (negative: residual consumption) of each interval `first`, `first + 1`, ...;
    /// the ledger prices them by eq. 2.16 and settles the total in tokens.
    PostBill {
        market: MarketId,
        cycle: u32,
        first: Interval,
        residuals: Vec<i64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Market {
    pub id: MarketId,
    pub dso: Address,
    pub params: MarketParams,
    /// t_f: the next interval to finalize; every interval before it is final.
    pub next_final: Interval,
    pub next_offer: OfferId,
    pub next_group: GroupId,
    /// Score of the candidate solution (its intervals >= `next_final`).
    pub candidate: Score,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub feeders: Vec<FeederId>,
    pub c_int: u64,
    pub c_ext: u64,
}

/// What the safety check needs of a feeder: the limits of its own group and the sum of its
/// prosumers' limits, which bound what its prosumers can trade through any group.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct FeederLimits {
    pub feeder: FeederId,
    /// The feeder's own (single-feeder) group, whose limits are the feeder's C^i_f, C^e_f.
    pub own_group: GroupId,
    pub c_int: u64,
    pub c_ext: u64,
    /// Σ L⁺_u of the feeder's meters.
    pub l_prod: u64,
    /// Σ L⁻_u of the feeder's meters.
    pub l_cons: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Meter {
    pub meter: Address,
    pub prosumer: Address,
    pub feeder: FeederId,
    pub l_prod: u64,
    pub l_cons: u64,
    pub bound: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub account: Address,
    pub side: Side,
    pub group: GroupId,
    pub energy: u64,
    /// Sorted, distinct.
    pub intervals: Vec<Interval>,
    pub price: u64,
    /// Energy of this offer in finalized trades.
    pub finalized: u64,
    /// The bank hold of a buying offer's funds (energy × price).
    pub hold: Option<u64>,
    pub open: bool,
}

/// Production (EPA) and consumption (ECA) assets of one interval in Wh: what a prosumer
/// withdrew, or what a deposit address received.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct AssetTotals {
    pub epa: u64,
    pub eca: u64,
}

/// Domain of the signatures on a [`MixStatement`].
pub const MIX_NAMESPACE: &[u8] = b"agora-energy-mix-v1";

/// What every member of a mixing session signs: each of `inputs` (registered prosumers of
/// `group`) moves `energy` Wh of `side` assets of `group` in each interval of `first..=last`,
/// and `funds` micro-tokens, to one of `outputs`. Outputs are sorted, so their order says
/// nothing about which input pays which. A session may take several runs (the mixer excludes
/// deviating members and retries), each with its own outputs; `run` names the one signed, and
/// the ledger accepts one statement per `session`, whatever its run, so a run withheld and
/// submitted late can never execute next to another.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MixStatement {
    pub market: MarketId,
    pub group: GroupId,
    pub side: Side,
    pub energy: u64,
    pub first: Interval,
    pub last: Interval,
    pub funds: u64,
    pub session: [u8; 32],
    pub run: u32,
    pub inputs: Vec<Address>,
    pub outputs: Vec<Address>,
}

impl MixStatement {
    /// The bytes each input signs under [`MIX_NAMESPACE`].
    pub fn signed_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }
}
