//! Calls, records and enums of the compute market (spec §8.2).
//!
//! Units: money in the bank's smallest unit, instructions in wasmtime fuel units, sizes in
//! bytes, time in ms on the block clock. Every quantity is an unsigned integer.

use agora_types::{record, token, Address};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

pub type MarketId = u64;
pub type OfferId = u64;
pub type MatchId = u64;
/// A sha256 digest: a blob's address at the directory.
pub type Hash = [u8; 32];
/// The exact execution environment (engine, config, host ABI, target): replaces the seed's
/// architecture and base Docker layer.
pub type RuntimeId = [u8; 32];

/// Longest directory endpoint URL.
pub const MAX_ENDPOINT_BYTES: usize = 256;

token! {
    /// Which trust list an edge belongs to.
    pub enum TrustKind {
        Mediator,
        Directory,
    }
    /// The RP's (and the mediator's) result status (spec §2.4; stable discriminants 0-8).
    pub enum ResultStatus {
        Completed,
        JobNotFound,
        JobDescriptionError,
        MemoryExceeded,
        StorageExceeded,
        InstructionsExceeded,
        BandwidthExceeded,
        ExceptionOccurred,
        DirectoryUnavailable,
    }
    /// The JC's claim when it rejects a result.
    pub enum RejectReason {
        WrongResults,
        ResultNotFound,
        TooMuchCost,
        InvalidResultStatus,
        DirectoryUnavailable,
    }
    /// The mediator's finding; the ledger derives the faulty party from it.
    pub enum Verdict {
        CorrectResults,
        NonDeterministic,
        WrongResults,
        TooMuchCost,
        InvalidResultStatus,
        ResultNotFound,
        DirectoryUnavailable,
    }
    /// The two parties who post deposits.
    pub enum Party {
        JobCreator,
        ResourceProvider,
    }
    /// How a match ended.
    pub enum Outcome {
        /// The JC accepted.
        Accepted,
        /// Someone else accepted after the JC's reaction window.
        AcceptedByDeadline,
        JcFault(Verdict),
        RpFault(Verdict),
        DirectoryFault,
        ResultTimedOut,
        MediationTimedOut,
    }
    pub enum OfferState {
        Open,
        Canceled,
        Matched(MatchId),
        Expired,
    }
    pub enum MatchState {
        AwaitingResult,
        AwaitingReaction,
        InMediation,
        Closed(Outcome),
    }
}

impl Verdict {
    /// The party the verdict faults; `None` for a directory fault (spec §2.4).
    pub fn faulty(self) -> Option<Party> {
        match self {
            Self::CorrectResults | Self::NonDeterministic => Some(Party::JobCreator),
            Self::WrongResults
            | Self::TooMuchCost
            | Self::InvalidResultStatus
            | Self::ResultNotFound => Some(Party::ResourceProvider),
            Self::DirectoryUnavailable => None,
        }
    }
}

record! {
    /// Fixed when the market is created (spec §2.1).
    pub struct MarketParams {
        /// θ, multiplies the JC's estimate in the deposit (>= 1).
        pub penalty_rate: u64,
        /// n, times the mediator re-executes a disputed job (>= 1).
        pub verification_count: u32,
        /// Time the JC has to accept or reject after a result.
        pub reaction_window_ms: u64,
        /// Time the mediator has to post a verdict.
        pub mediation_window_ms: u64,
        /// Floor of each offer's payment to the solver.
        pub min_match_incentive: u64,
    }

    pub struct Market {
        pub id: MarketId,
        pub creator: Address,
        pub params: MarketParams,
        pub next_offer: OfferId,
        pub next_match: MatchId,
    }

    pub struct ResourceProvider {
        /// Declared speed, used by the deadline check at match.
        pub instructions_per_sec: u64,
    }

    /// A pair of unit prices: per instruction and per byte of bandwidth.
    #[derive(Copy, Default)]
    pub struct Prices {
        pub instruction: u64,
        pub bandwidth: u64,
    }

    pub struct Mediator {
        /// q_I, q_B: what a mediation run costs per unit.
        pub prices: Prices,
        /// f_M, paid by each party on every closed job.
        pub availability_fee: u64,
    }

    pub struct Directory {
        /// f_D, paid by each party on every closed job.
        pub availability_fee: u64,
        pub endpoint: String,
    }

    /// Limits of a job or caps of a resource offer.
    #[derive(Copy, Default)]
    pub struct Resources {
        pub instructions: u64,
        pub memory: u64,
        pub storage: u64,
        pub bandwidth: u64,
    }

    /// What the RP downloads: content-addressed blobs at a directory, and the runtime they need.
    pub struct JobSpec {
        pub module: Hash,
        pub input: Hash,
        pub module_bytes: u64,
        pub input_bytes: u64,
        pub runtime: RuntimeId,
        pub directory: Address,
    }

    pub struct ResourceOffer {
        pub id: OfferId,
        pub owner: Address,
        pub caps: Resources,
        /// p_I, p_B: the RP's ask.
        pub prices: Prices,
        pub match_incentive: u64,
        pub deposit: u64,
        pub hold: u64,
        pub state: OfferState,
    }

    pub struct JobOffer {
        pub id: OfferId,
        pub owner: Address,
        pub job: JobSpec,
        pub limits: Resources,
        /// P_I, P_B: the JC's bid.
        pub max_prices: Prices,
        pub completion_deadline_ms: u64,
        pub match_incentive: u64,
        pub deposit: u64,
        pub hold: u64,
        pub state: OfferState,
    }

    /// A run's outcome as the RP (or the mediator) reports it.
    pub struct ExecReport {
        pub status: ResultStatus,
        pub output: Option<Hash>,
        pub output_bytes: u64,
        pub instructions: u64,
    }

    /// Everything a match's payouts depend on, copied at match time so later changes to
    /// registrations or offers cannot move money of a running job.
    pub struct Terms {
        pub penalty_rate: u64,
        pub verification_count: u32,
        /// E = L_I·P_I + L_B·P_B (F1).
        pub estimate: u64,
        pub limits: Resources,
        /// Module plus input bytes (F8's fixed part).
        pub job_bytes: u64,
        pub rp_prices: Prices,
        pub mediator_prices: Prices,
        pub mediator_fee: u64,
        pub directory_fee: u64,
    }

    pub struct Match {
        pub id: MatchId,
        pub job_offer: OfferId,
        pub resource_offer: OfferId,
        pub jc: Address,
        pub rp: Address,
        pub mediator: Address,
        pub directory: Address,
        pub solver: Address,
        pub jc_hold: u64,
        pub rp_hold: u64,
        pub terms: Terms,
        pub completion_deadline_ms: u64,
        pub matched_at: u64,
        pub result: Option<ExecReport>,
        pub result_at: Option<u64>,
        pub reason: Option<RejectReason>,
        pub rejected_at: Option<u64>,
        pub verdict: Option<Verdict>,
        pub state: MatchState,
    }
}

/// The calls of the compute module (borsh), in protocol order (spec §2.3).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum ComputeCall {
    CreateMarket(MarketParams),
    RegisterJobCreator {
        market: MarketId,
    },
    RegisterResourceProvider {
        market: MarketId,
        instructions_per_sec: u64,
    },
    RegisterMediator {
        market: MarketId,
        prices: Prices,
        availability_fee: u64,
    },
    RegisterDirectory {
        market: MarketId,
        availability_fee: u64,
        endpoint: String,
    },
    SetTrust {
        market: MarketId,
        kind: TrustKind,
        target: Address,
        trusted: bool,
    },
    SetRuntime {
        market: MarketId,
        runtime: RuntimeId,
        supported: bool,
    },
    PostResourceOffer {
        market: MarketId,
        caps: Resources,
        prices: Prices,
        match_incentive: u64,
        deposit: u64,
    },
    PostJobOffer {
        market: MarketId,
        job: JobSpec,
        limits: Resources,
        max_prices: Prices,
        completion_deadline_ms: u64,
        match_incentive: u64,
        deposit: u64,
    },
    CancelJobOffer {
        market: MarketId,
        offer: OfferId,
    },
    CancelResourceOffer {
        market: MarketId,
        offer: OfferId,
    },
    ExpireJobOffer {
        market: MarketId,
        offer: OfferId,
    },
    PostMatch {
        market: MarketId,
        job_offer: OfferId,
        resource_offer: OfferId,
        mediator: Address,
    },
    PostResult {
        market: MarketId,
        match_id: MatchId,
        report: ExecReport,
    },
    AcceptResult {
        market: MarketId,
        match_id: MatchId,
    },
    RejectResult {
        market: MarketId,
        match_id: MatchId,
        reason: RejectReason,
    },
    PostMediationResult {
        market: MarketId,
        match_id: MatchId,
        verdict: Verdict,
        execution: Option<ExecReport>,
    },
    Timeout {
        market: MarketId,
        match_id: MatchId,
    },
    MediationTimeout {
        market: MarketId,
        match_id: MatchId,
    },
}
