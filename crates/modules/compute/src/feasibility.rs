//! Whether (job offer, resource offer, mediator) may be matched (spec §2.3 item 11): every
//! check returns the named [`Violation`], in the spec's order, so a solver knows what failed.

use crate::payout::{self, Overflow};
use crate::types::*;
use agora_types::Address;

/// The first constraint a proposed match breaks. Reason codes are `infeasible_` + the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("the job offer is not open")]
    JobNotOpen,
    #[error("the resource offer is not open")]
    ResourceNotOpen,
    #[error("job limit on instructions exceeds the resource cap")]
    Instructions,
    #[error("job limit on memory exceeds the resource cap")]
    Memory,
    #[error("job limit on storage exceeds the resource cap")]
    Storage,
    #[error("job limit on bandwidth exceeds the resource cap")]
    Bandwidth,
    #[error("the RP's instruction price exceeds the JC's maximum")]
    InstructionPrice,
    #[error("the RP's bandwidth price exceeds the JC's maximum")]
    BandwidthPrice,
    #[error("the RP does not support the job's runtime")]
    RuntimeRp,
    #[error("the mediator does not support the job's runtime")]
    RuntimeMediator,
    #[error("the JC does not trust the mediator")]
    JcTrustsMediator,
    #[error("the RP does not trust the mediator")]
    RpTrustsMediator,
    #[error("the JC does not trust the directory")]
    JcTrustsDirectory,
    #[error("the RP does not trust the directory")]
    RpTrustsDirectory,
    #[error("the mediator does not trust the directory")]
    MediatorTrustsDirectory,
    #[error("the RP cannot finish the job by its completion deadline")]
    Deadline,
    #[error("the mediator's prices exceed the JC's maximum")]
    MediatorPrices,
    #[error("the mediator is the JC or the RP")]
    SelfMediation,
    #[error("the JC's deposit is below eq. 3.2")]
    DepositJc,
    #[error("the RP's deposit is below eq. 3.2")]
    DepositRp,
}

impl Violation {
    pub fn reason(self) -> &'static str {
        match self {
            Self::JobNotOpen => "infeasible_job_not_open",
            Self::ResourceNotOpen => "infeasible_resource_not_open",
            Self::Instructions => "infeasible_instructions",
            Self::Memory => "infeasible_memory",
            Self::Storage => "infeasible_storage",
            Self::Bandwidth => "infeasible_bandwidth",
            Self::InstructionPrice => "infeasible_instruction_price",
            Self::BandwidthPrice => "infeasible_bandwidth_price",
            Self::RuntimeRp => "infeasible_runtime_rp",
            Self::RuntimeMediator => "infeasible_runtime_mediator",
            Self::JcTrustsMediator => "infeasible_jc_trusts_mediator",
            Self::RpTrustsMediator => "infeasible_rp_trusts_mediator",
            Self::JcTrustsDirectory => "infeasible_jc_trusts_directory",
            Self::RpTrustsDirectory => "infeasible_rp_trusts_directory",
            Self::MediatorTrustsDirectory => "infeasible_mediator_trusts_directory",
            Self::Deadline => "infeasible_deadline",
            Self::MediatorPrices => "infeasible_mediator_prices",
            Self::SelfMediation => "infeasible_self_mediation",
            Self::DepositJc => "infeasible_deposit_jc",
            Self::DepositRp => "infeasible_deposit_rp",
        }
    }
}

/// The registry facts a match depends on, read by the caller (ledger state or a solver's
/// snapshot) so that this check stays pure.
pub trait Registry {
    /// Whether `owner` trusts `target` as `kind`.
    fn trusts(&self, owner: &Address, kind: TrustKind, target: &Address) -> bool;
    /// Whether `owner` (RP or mediator) supports `runtime`.
    fn supports(&self, owner: &Address, runtime: &RuntimeId) -> bool;
}

/// A proposed match with the records it joins.
pub struct Proposal<'a> {
    pub params: &'a MarketParams,
    pub job: &'a JobOffer,
    pub resource: &'a ResourceOffer,
    pub rp: &'a ResourceProvider,
    pub mediator_address: &'a Address,
    pub mediator: &'a Mediator,
    pub directory: &'a Directory,
    /// The block time the match executes at.
    pub now_ms: u64,
}

/// Why a proposal failed: a broken constraint, or a quantity that left `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Infeasible(#[from] Violation),
    #[error(transparent)]
    Overflow(#[from] Overflow),
}

fn require(ok: bool, v: Violation) -> Result<(), Refusal> {
    if ok {
        Ok(())
    } else {
        Err(v.into())
    }
}

/// Time the RP needs for `instructions` at its declared speed, rounded up.
fn run_time_ms(instructions: u64, per_sec: u64) -> Result<u64, Overflow> {
    let ms = (u128::from(instructions) * 1_000).div_ceil(u128::from(per_sec.max(1)));
    u64::try_from(ms).map_err(|_| Overflow)
}

/// Checks every constraint in order; on success returns the match's [`Terms`].
pub fn check(p: &Proposal<'_>, registry: &impl Registry) -> Result<Terms, Refusal> {
    let (j, r) = (p.job, p.resource);
    require(j.state == OfferState::Open, Violation::JobNotOpen)?;
    require(r.state == OfferState::Open, Violation::ResourceNotOpen)?;
    let (limits, caps) = (j.limits, r.caps);
    require(
        limits.instructions <= caps.instructions,
        Violation::Instructions,
    )?;
    require(limits.memory <= caps.memory, Violation::Memory)?;
    require(limits.storage <= caps.storage, Violation::Storage)?;
    require(limits.bandwidth <= caps.bandwidth, Violation::Bandwidth)?;
    require(
        r.prices.instruction <= j.max_prices.instruction,
        Violation::InstructionPrice,
    )?;
    require(
        r.prices.bandwidth <= j.max_prices.bandwidth,
        Violation::BandwidthPrice,
    )?;
    let runtime = &j.job.runtime;
    require(registry.supports(&r.owner, runtime), Violation::RuntimeRp)?;
    let m = p.mediator_address;
    require(registry.supports(m, runtime), Violation::RuntimeMediator)?;
    use TrustKind::{Directory as D, Mediator as M};
    let d = &j.job.directory;
    require(registry.trusts(&j.owner, M, m), Violation::JcTrustsMediator)?;
    require(registry.trusts(&r.owner, M, m), Violation::RpTrustsMediator)?;
    require(
        registry.trusts(&j.owner, D, d),
        Violation::JcTrustsDirectory,
    )?;
    require(
        registry.trusts(&r.owner, D, d),
        Violation::RpTrustsDirectory,
    )?;
    require(registry.trusts(m, D, d), Violation::MediatorTrustsDirectory)?;
    let finish = p
        .now_ms
        .checked_add(run_time_ms(limits.instructions, p.rp.instructions_per_sec)?)
        .ok_or(Overflow)?;
    require(finish <= j.completion_deadline_ms, Violation::Deadline)?;
    let q = p.mediator.prices;
    require(
        q.instruction <= j.max_prices.instruction && q.bandwidth <= j.max_prices.bandwidth,
        Violation::MediatorPrices,
    )?;
    require(*m != j.owner && *m != r.owner, Violation::SelfMediation)?;
    let (theta, n) = (p.params.penalty_rate, p.params.verification_count);
    let estimate = payout::price(limits.instructions, limits.bandwidth, j.max_prices)?;
    let (f_m, f_d) = (p.mediator.availability_fee, p.directory.availability_fee);
    let dmin = |incentive| payout::min_deposit(theta, n, estimate, f_m, f_d, incentive);
    require(j.deposit >= dmin(j.match_incentive)?, Violation::DepositJc)?;
    require(r.deposit >= dmin(r.match_incentive)?, Violation::DepositRp)?;
    Ok(Terms {
        penalty_rate: theta,
        verification_count: n,
        estimate,
        limits,
        job_bytes: j
            .job
            .module_bytes
            .checked_add(j.job.input_bytes)
            .ok_or(Overflow)?,
        rp_prices: r.prices,
        mediator_prices: q,
        mediator_fee: f_m,
        directory_fee: f_d,
    })
}

/// Trust edges and runtimes as sets: the ledger loads the few a proposal needs, a solver the
/// whole open problem.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub trust: std::collections::BTreeSet<(Address, TrustKind, Address)>,
    pub runtimes: std::collections::BTreeSet<(Address, RuntimeId)>,
}

impl Registry for Snapshot {
    fn trusts(&self, owner: &Address, kind: TrustKind, target: &Address) -> bool {
        self.trust.contains(&(*owner, kind, *target))
    }
    fn supports(&self, owner: &Address, runtime: &RuntimeId) -> bool {
        self.runtimes.contains(&(*owner, *runtime))
    }
}
