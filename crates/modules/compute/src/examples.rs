//! Spec G4's worked example (`shared/specs/compute.md`): a market, its parties registered and
//! trusting each other, a job offer, a resource offer and their match. The module's tests, the
//! fuzz seeds and the explorer's tests start from it, so its numbers live in one place.

use crate::{
    ComputeCall as C, JobSpec, MarketId, MarketParams, Prices, Resources, RuntimeId, TrustKind,
};
use agora_types::Address;

/// The runtime the resource provider and the mediator run.
pub const RUNTIME: RuntimeId = [7; 32];
/// The job's module and input bytes at the directory (120 + 80).
pub const JOB_BYTES: u64 = 200;

/// Who signs a call of the example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    JobCreator,
    ResourceProvider,
    Mediator,
    Directory,
}

/// The market: θ = 50, n = 2, windows of 1,000 ms, incentive floor 10.
pub fn params() -> MarketParams {
    MarketParams {
        penalty_rate: 50,
        verification_count: 2,
        reaction_window_ms: 1_000,
        mediation_window_ms: 1_000,
        min_match_incentive: 10,
    }
}

/// Every party registered on `market` (the RP at 1,000,000 instructions/s, the mediator at
/// q_I = 3, q_B = 2, f_M = 30, the directory at f_D = 20), the JC and the RP trusting the
/// mediator, the three of them the directory, and the RP and the mediator running [`RUNTIME`].
pub fn registrations(market: MarketId, mediator: &Address, directory: &Address) -> Vec<(Party, C)> {
    use Party::*;
    let trust = |kind, target: &Address| C::SetTrust {
        market,
        kind,
        target: *target,
        trusted: true,
    };
    let runtime = C::SetRuntime {
        market,
        runtime: RUNTIME,
        supported: true,
    };
    vec![
        (JobCreator, C::RegisterJobCreator { market }),
        (
            ResourceProvider,
            C::RegisterResourceProvider {
                market,
                instructions_per_sec: 1_000_000,
            },
        ),
        (
            Mediator,
            C::RegisterMediator {
                market,
                prices: Prices {
                    instruction: 3,
                    bandwidth: 2,
                },
                availability_fee: 30,
            },
        ),
        (
            Directory,
            C::RegisterDirectory {
                market,
                availability_fee: 20,
                endpoint: "http://127.0.0.1:7000".into(),
            },
        ),
        (JobCreator, trust(TrustKind::Mediator, mediator)),
        (ResourceProvider, trust(TrustKind::Mediator, mediator)),
        (JobCreator, trust(TrustKind::Directory, directory)),
        (ResourceProvider, trust(TrustKind::Directory, directory)),
        (Mediator, trust(TrustKind::Directory, directory)),
        (ResourceProvider, runtime.clone()),
        (Mediator, runtime),
    ]
}

/// The job offer: L_I = 1,000, L_B = 500, P_I = 4, P_B = 2, i_J = 10, deposit = dmin_J, due at
/// `deadline_ms`.
pub fn job_offer(market: MarketId, directory: &Address, deadline_ms: u64) -> C {
    C::PostJobOffer {
        market,
        job: JobSpec {
            module: [1; 32],
            input: [2; 32],
            module_bytes: 120,
            input_bytes: JOB_BYTES - 120,
            runtime: RUNTIME,
            directory: *directory,
        },
        limits: Resources {
            instructions: 1_000,
            memory: 65_536,
            storage: 200,
            bandwidth: 500,
        },
        max_prices: Prices {
            instruction: 4,
            bandwidth: 2,
        },
        completion_deadline_ms: deadline_ms,
        match_incentive: 10,
        deposit: 260_060,
    }
}

/// The resource offer: p_I = 3, p_B = 1, caps above the job's limits, i_R = 10, deposit
/// 300,000.
pub fn resource_offer(market: MarketId) -> C {
    C::PostResourceOffer {
        market,
        caps: Resources {
            instructions: 10_000,
            memory: 1 << 20,
            storage: 1_000,
            bandwidth: 1_000,
        },
        prices: Prices {
            instruction: 3,
            bandwidth: 1,
        },
        match_incentive: 10,
        deposit: 300_000,
    }
}

/// The match of job offer 0 and resource offer 1 through `mediator`.
pub fn post_match(market: MarketId, mediator: &Address) -> C {
    C::PostMatch {
        market,
        job_offer: 0,
        resource_offer: 1,
        mediator: *mediator,
    }
}
