//! Validation of a market's parameters and of an allocation's terms, and the quantities the
//! module derives from them (spec 3.2, 3.3). Pure, so the allocator agent checks a draft with
//! the same rules the ledger applies.

use crate::types::{Derived, StreamParams, Terms, BPS, CHECKS_CAP, REPLICAS_CAP};

/// Why terms are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    #[error("bad terms: {0}")]
    Bad(&'static str),
    #[error("amount overflows")]
    Overflow,
}

/// Checks a market's parameters (spec 3.2): ρ ≥ 2, positive time-outs, fines at most 100 %,
/// bounds within the caps that keep a call's cost bounded.
pub fn check_params(p: &StreamParams) -> Result<(), &'static str> {
    if p.penalty_rate < 2 {
        return Err("penalty_rate must be at least 2");
    }
    if [
        p.sign_timeout_ms,
        p.reveal_timeout_ms,
        p.post_timeout_ms,
        p.mediation_timeout_ms,
    ]
    .contains(&0)
    {
        return Err("time-outs must be positive");
    }
    if p.supplier_timeout_fine_bps > BPS || p.customer_timeout_fine_bps > BPS {
        return Err("a time-out fine is at most 10000 bps");
    }
    if p.max_replicas == 0 || p.max_replicas > REPLICAS_CAP {
        return Err("max_replicas must be in 1..=64");
    }
    if p.max_checks == 0 || p.max_checks > CHECKS_CAP {
        return Err("max_checks must be in 1..=4096");
    }
    if p.max_open_per_allocator == 0 {
        return Err("max_open_per_allocator must be positive");
    }
    Ok(())
}

fn mul(a: u64, b: u64) -> Result<u64, TermsError> {
    a.checked_mul(b).ok_or(TermsError::Overflow)
}

fn add(a: u64, b: u64) -> Result<u64, TermsError> {
    a.checked_add(b).ok_or(TermsError::Overflow)
}

/// The derived quantities of spec 3.3, refusing terms the protocol cannot run:
/// - N = λ_milli·Δ_ms / 10^6 exactly, N ≥ 1 (every replica sees a whole number of inputs);
/// - π_s = I_c·π_x ≥ 1 and V = N·π_s fit u64;
/// - n = ⌈N/ρ⌉ with n ≤ min(N, max_checks) and n < ρ: eq. 4.4's sufficient condition for the
///   customer to commit honestly, and it makes every full fine (ρ·π_s) cover the mediator's
///   n·π_s;
/// - 1 ≤ r ≤ max_replicas, mediator ≠ customer.
pub fn derive(p: &StreamParams, t: &Terms) -> Result<Derived, TermsError> {
    if t.start_ms >= t.end_ms {
        return Err(TermsError::Bad("start_ms must precede end_ms"));
    }
    if t.replicas == 0 || t.replicas > p.max_replicas {
        return Err(TermsError::Bad("replicas outside 1..=max_replicas"));
    }
    if t.mediator == t.customer {
        return Err(TermsError::Bad("the mediator cannot be the customer"));
    }
    let span = u128::from(t.end_ms - t.start_ms) * u128::from(t.rate_milli);
    if span % 1_000_000 != 0 {
        return Err(TermsError::Bad(
            "rate × duration is not a whole number of inputs",
        ));
    }
    let inputs = u64::try_from(span / 1_000_000).map_err(|_| TermsError::Overflow)?;
    if inputs == 0 {
        return Err(TermsError::Bad("no inputs"));
    }
    let price_per_input = mul(t.instructions, t.price)?;
    if price_per_input == 0 {
        return Err(TermsError::Bad("the price per input must be positive"));
    }
    let value = mul(inputs, price_per_input)?;
    let checks = inputs.div_ceil(p.penalty_rate);
    if checks > p.max_checks || checks >= p.penalty_rate {
        return Err(TermsError::Bad(
            "n = ceil(N/rho) must be below rho and max_checks",
        ));
    }
    let supplier_fine = mul(p.penalty_rate, price_per_input)?;
    let replicas = u64::from(t.replicas);
    let customer_fine = mul(replicas, supplier_fine)?;
    let escrow = add(add(mul(replicas, value)?, p.allocator_fee)?, p.mediator_fee)?;
    Ok(Derived {
        inputs,
        price_per_input,
        value,
        checks,
        supplier_fine,
        customer_fine,
        escrow,
        mediation_fee: mul(checks, price_per_input)?,
    })
}

/// τ·F in basis points, floored.
pub fn share(amount: u64, bps: u64) -> u64 {
    // bps ≤ 10 000, so the product fits u128 and the result is at most `amount`.
    (u128::from(amount) * u128::from(bps) / u128::from(BPS)) as u64
}
