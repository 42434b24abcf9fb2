//! The spec's worked example (`shared/specs/stream.md` 3.2, G4's numbers): the test market and
//! the terms of its allocation. The module's tests, the fuzz seeds and the explorer's tests
//! start from it, so its numbers live in one place.

use crate::{StreamParams, Terms};
use agora_types::Address;

/// When G4's allocation serves: from 1 s for 10 min.
pub const START_MS: u64 = 1_000;
pub const END_MS: u64 = 601_000;

/// The market: ρ = 1,000, π_A = 3,000, π_m = 33, time-outs of 30 s (mediation 60 s), whole
/// deposits as time-out fines.
pub fn params() -> StreamParams {
    StreamParams {
        penalty_rate: 1_000,
        allocator_fee: 3_000,
        mediator_fee: 33,
        sign_timeout_ms: 30_000,
        reveal_timeout_ms: 30_000,
        post_timeout_ms: 30_000,
        mediation_timeout_ms: 60_000,
        supplier_timeout_fine_bps: 10_000,
        customer_timeout_fine_bps: 10_000,
        max_replicas: 16,
        max_checks: 1_024,
        max_open_per_allocator: 1_000,
    }
}

/// G4's terms: λ = 20/s over [`START_MS`, `END_MS`], I_c = 1, π_x = 20, r = 2.
pub fn terms(customer: &Address, mediator: &Address) -> Terms {
    Terms {
        customer: *customer,
        mediator: *mediator,
        customer_offer: [1; 32],
        service: [2; 32],
        start_ms: START_MS,
        end_ms: END_MS,
        rate_milli: 20_000,
        instructions: 1,
        price: 20,
        replicas: 2,
    }
}
