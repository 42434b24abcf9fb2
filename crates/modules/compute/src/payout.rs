//! Prices, deposits and the payout table (spec §2.2, §2.5) as pure integer functions.
//!
//! Every product is computed in `u128` and refused with [`Overflow`] if it leaves `u64`. The
//! only rounding is floor(E/2) at a mediation timeout.

use crate::types::{ExecReport, Party, Prices, ResultStatus, Terms};
use serde::Serialize;

/// A quantity left `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount overflows u64")]
pub struct Overflow;

fn fit(x: u128) -> Result<u64, Overflow> {
    u64::try_from(x).map_err(|_| Overflow)
}

/// Sum of checked terms.
fn sum(terms: &[u64]) -> Result<u64, Overflow> {
    fit(terms.iter().map(|&t| u128::from(t)).sum())
}

/// `instructions·prices.instruction + bandwidth·prices.bandwidth`: eq. 3.1 for a job price
/// (F2, F5) and F1 for the JC's estimate.
pub fn price(instructions: u64, bandwidth: u64, prices: Prices) -> Result<u64, Overflow> {
    fit(u128::from(instructions) * u128::from(prices.instruction)
        + u128::from(bandwidth) * u128::from(prices.bandwidth))
}

/// (θ + n)·E: the penalty plus mediation reserve of eq. 3.2.
pub fn penalty_and_reserve(
    penalty_rate: u64,
    verification_count: u32,
    estimate: u64,
) -> Result<u64, Overflow> {
    let factor = u128::from(penalty_rate) + u128::from(verification_count);
    fit(factor * u128::from(estimate))
}

/// Eq. 3.2, dmin = θ·E + n·E + π_a with π_a = f_M + f_D + i (F3, F4).
pub fn min_deposit(
    penalty_rate: u64,
    verification_count: u32,
    estimate: u64,
    mediator_fee: u64,
    directory_fee: u64,
    incentive: u64,
) -> Result<u64, Overflow> {
    sum(&[
        penalty_and_reserve(penalty_rate, verification_count, estimate)?,
        mediator_fee,
        directory_fee,
        incentive,
    ])
}

/// Bytes billed for a report (F8): the job's blobs plus the output, or nothing when the job
/// could not be fetched or nothing was delivered.
pub fn bandwidth(job_bytes: u64, report: &ExecReport) -> Result<u64, Overflow> {
    match report.status {
        ResultStatus::JobNotFound | ResultStatus::DirectoryUnavailable => Ok(0),
        _ => sum(&[job_bytes, report.output_bytes]),
    }
}

/// πc (eq. 3.1) of a report at the RP's prices.
pub fn job_price(terms: &Terms, report: &ExecReport) -> Result<u64, Overflow> {
    price(
        report.instructions,
        bandwidth(terms.job_bytes, report)?,
        terms.rp_prices,
    )
}

/// πm (F6): n runs at the mediator's prices, for the usage of its run.
pub fn mediation_price(terms: &Terms, execution: &ExecReport) -> Result<u64, Overflow> {
    let once = price(
        execution.instructions,
        bandwidth(terms.job_bytes, execution)?,
        terms.mediator_prices,
    )?;
    fit(u128::from(terms.verification_count) * u128::from(once))
}

/// Who receives a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Payee {
    JobCreator,
    ResourceProvider,
    Mediator,
    Directory,
    Sink,
}

/// Why a payment is made (the `cause` of `MatchClosed.payouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    JobPayment,
    MediatorAvailability,
    DirectoryAvailability,
    Compensation,
    MediationCost,
    ResultTimeoutCompensation,
    MediationTimeoutPayment,
    Penalty,
}

/// One slash of a party's hold; whatever is left afterwards goes back to the party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub from: Party,
    pub to: Payee,
    pub amount: u64,
    pub cause: Cause,
}

fn pay(from: Party, to: Payee, amount: u64, cause: Cause) -> Payment {
    Payment {
        from,
        to,
        amount,
        cause,
    }
}

/// Both availability fees from one party's hold.
fn availability(terms: &Terms, from: Party) -> [Payment; 2] {
    [
        pay(
            from,
            Payee::Mediator,
            terms.mediator_fee,
            Cause::MediatorAvailability,
        ),
        pay(
            from,
            Payee::Directory,
            terms.directory_fee,
            Cause::DirectoryAvailability,
        ),
    ]
}

/// Row "Accept": the JC pays πc to the RP; each party pays f_M and f_D.
pub fn accept(terms: &Terms, job_price: u64) -> Vec<Payment> {
    let mut out = vec![pay(
        Party::JobCreator,
        Payee::ResourceProvider,
        job_price,
        Cause::JobPayment,
    )];
    out.extend(availability(terms, Party::JobCreator));
    out.extend(availability(terms, Party::ResourceProvider));
    out
}

/// Rows "Mediated, JC faulty" and "Mediated, RP faulty": the faulty party pays πd to the
/// other, πm to the mediator and the rest of (θ + n)·E to the sink (F7), so it loses exactly
/// dmin; both pay their availability fees.
pub fn mediated(
    terms: &Terms,
    faulty: Party,
    compensation: u64,
    mediation: u64,
) -> Result<Vec<Payment>, Overflow> {
    let forfeit =
        penalty_and_reserve(terms.penalty_rate, terms.verification_count, terms.estimate)?;
    let sink = forfeit
        .checked_sub(compensation)
        .and_then(|rest| rest.checked_sub(mediation))
        .ok_or(Overflow)?;
    let wronged = match faulty {
        Party::JobCreator => Payee::ResourceProvider,
        Party::ResourceProvider => Payee::JobCreator,
    };
    let mut out = vec![
        pay(faulty, wronged, compensation, Cause::Compensation),
        pay(faulty, Payee::Mediator, mediation, Cause::MediationCost),
    ];
    out.extend(availability(terms, Party::JobCreator));
    out.extend(availability(terms, Party::ResourceProvider));
    out.push(pay(faulty, Payee::Sink, sink, Cause::Penalty));
    Ok(out)
}

/// Row "Mediated, Directory at fault": no one is fined, the directory is not paid, the
/// mediator gets its availability fee from both.
pub fn directory_fault(terms: &Terms) -> Vec<Payment> {
    [Party::JobCreator, Party::ResourceProvider]
        .into_iter()
        .map(|from| {
            pay(
                from,
                Payee::Mediator,
                terms.mediator_fee,
                Cause::MediatorAvailability,
            )
        })
        .collect()
}

/// Row "Result timeout": the silent RP pays the JC its estimate E; fees as usual.
pub fn result_timeout(terms: &Terms) -> Vec<Payment> {
    let mut out = vec![pay(
        Party::ResourceProvider,
        Payee::JobCreator,
        terms.estimate,
        Cause::ResultTimeoutCompensation,
    )];
    out.extend(availability(terms, Party::JobCreator));
    out.extend(availability(terms, Party::ResourceProvider));
    out
}

/// Row "Mediation timeout": the RP gets floor(E/2) from the JC, the directory its fees, the
/// mediator nothing.
pub fn mediation_timeout(terms: &Terms) -> Vec<Payment> {
    vec![
        pay(
            Party::JobCreator,
            Payee::ResourceProvider,
            terms.estimate / 2,
            Cause::MediationTimeoutPayment,
        ),
        pay(
            Party::JobCreator,
            Payee::Directory,
            terms.directory_fee,
            Cause::DirectoryAvailability,
        ),
        pay(
            Party::ResourceProvider,
            Payee::Directory,
            terms.directory_fee,
            Cause::DirectoryAvailability,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Resources;

    /// Spec §9 G4's match.
    fn g4() -> Terms {
        Terms {
            penalty_rate: 50,
            verification_count: 2,
            estimate: price(
                1_000,
                500,
                Prices {
                    instruction: 4,
                    bandwidth: 2,
                },
            )
            .unwrap(),
            limits: Resources {
                instructions: 1_000,
                memory: 0,
                storage: 300,
                bandwidth: 500,
            },
            job_bytes: 0,
            rp_prices: Prices {
                instruction: 3,
                bandwidth: 1,
            },
            mediator_prices: Prices {
                instruction: 3,
                bandwidth: 2,
            },
            mediator_fee: 30,
            directory_fee: 20,
        }
    }

    fn total(payments: &[Payment], from: Party) -> u64 {
        payments
            .iter()
            .filter(|p| p.from == from)
            .map(|p| p.amount)
            .sum()
    }

    #[test]
    fn g4_estimate_and_min_deposit() {
        let t = g4();
        assert_eq!(t.estimate, 5_000);
        assert_eq!(min_deposit(50, 2, 5_000, 30, 20, 10), Ok(260_060));
    }

    #[test]
    fn g5_mediated_amounts() {
        let t = g4();
        let run = ExecReport {
            status: ResultStatus::Completed,
            output: Some([1; 32]),
            output_bytes: 300,
            instructions: 800,
        };
        assert_eq!(job_price(&t, &run), Ok(2_700));
        assert_eq!(mediation_price(&t, &run), Ok(6_000));
        let p = mediated(&t, Party::ResourceProvider, 2_700, 6_000).unwrap();
        let sink: u64 = p
            .iter()
            .filter(|p| p.to == Payee::Sink)
            .map(|p| p.amount)
            .sum();
        assert_eq!(sink, 251_300);
        // The faulty RP pays (θ + n)·E + f_M + f_D; with i_R that is dmin_R.
        assert_eq!(total(&p, Party::ResourceProvider), 260_050);
        assert_eq!(total(&p, Party::JobCreator), 50);
    }

    #[test]
    fn mediation_timeout_rounds_down() {
        let mut t = g4();
        t.estimate = 5_001;
        assert_eq!(mediation_timeout(&t)[0].amount, 2_500);
    }

    #[test]
    fn products_past_u64_overflow() {
        assert_eq!(
            price(
                u64::MAX,
                0,
                Prices {
                    instruction: 2,
                    bandwidth: 0
                }
            ),
            Err(Overflow)
        );
        assert_eq!(penalty_and_reserve(u64::MAX, 1, 1), Err(Overflow));
        assert_eq!(min_deposit(1, 1, u64::MAX / 2, 2, 0, 0), Err(Overflow));
    }

    #[test]
    fn compensation_beyond_the_forfeit_is_refused() {
        let t = g4();
        assert_eq!(mediated(&t, Party::JobCreator, 260_000, 1), Err(Overflow));
    }
}
