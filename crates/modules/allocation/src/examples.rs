//! The spec's worked example's market (`shared/specs/allocation.md`, G3). The module's tests,
//! the fuzz seeds and the explorer's tests start from it, so its numbers live in one place.

use crate::{MarketParams, Objective, PairRule};

/// G3's market: phases of 1,000 ms, objective 6.5 (quantity), no bounds, no pairs, settling
/// or not.
pub fn params(settle: bool) -> MarketParams {
    MarketParams {
        receive_ms: 1_000,
        solve_ms: 1_000,
        max_quantity: 1_000,
        max_types_per_offer: 16,
        objective: Objective::Quantity,
        default_bound: None,
        price_bounds: vec![],
        pairs: PairRule::Any,
        settle,
        max_offers_per_cycle: 100,
        max_solutions_per_cycle: 100,
    }
}
