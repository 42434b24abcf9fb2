//! The mediator: for each match in its queue follows the table of spec §4.4 and posts the
//! verdict with its own run.

use super::workload::{fetch_job, Executor};
use super::{chain_time, query, stopped, Account, Observed, Stop, POLL};
use crate::energy::SimError;
use agora_compute::{
    ComputeCall, ExecReport, JobOffer, Match, RejectReason, ResultStatus, Verdict,
};
use agora_directory::BlobHash;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use tracing::warn;

pub(super) struct MediatorAgent {
    pub account: Account,
    pub market: u64,
    pub dir: agora_directory::Client,
    pub exec: Executor,
    /// n, the market's verification count.
    pub runs: u32,
    pub observed: Arc<Observed>,
}

/// The verdict on `rp`'s report from the mediator's `runs` (spec §4.4, first row): any two
/// runs differing is non-determinism; else the first run against the RP's.
pub(super) fn judge(rp: &ExecReport, runs: &[ExecReport]) -> (Verdict, Option<ExecReport>) {
    let Some(first) = runs.first() else {
        return (Verdict::DirectoryUnavailable, None);
    };
    if runs.iter().any(|r| r != first) {
        // F6 bills the largest count of the runs.
        let largest = runs.iter().max_by_key(|r| r.instructions).cloned();
        return (Verdict::NonDeterministic, largest);
    }
    let verdict = if (first.status, first.output) != (rp.status, rp.output) {
        if rp.status == ResultStatus::Completed {
            Verdict::WrongResults
        } else {
            Verdict::InvalidResultStatus
        }
    } else if rp.instructions > first.instructions {
        Verdict::TooMuchCost
    } else {
        Verdict::CorrectResults
    };
    (verdict, Some(first.clone()))
}

impl MediatorAgent {
    /// Mediates every match assigned to it until `stop`.
    pub async fn run(mut self, stop: Stop) -> Result<(), SimError> {
        let mut done = BTreeSet::new();
        while !stopped(&stop) {
            let queue: Vec<Match> = query(
                &self.account.client,
                "mediations",
                json!({"market": self.market, "mediator": self.account.address()}),
            )
            .await?;
            let fresh: Vec<Match> = queue
                .into_iter()
                .filter(|m| !done.contains(&m.id))
                .collect();
            for m in fresh {
                done.insert(m.id);
                let (verdict, execution) = self.decide(&m).await?;
                let receipt = self
                    .account
                    .submit(ComputeCall::PostMediationResult {
                        market: self.market,
                        match_id: m.id,
                        verdict,
                        execution,
                    })
                    .await?;
                if let Some(reason) = receipt.reason {
                    warn!(match_id = m.id, ?verdict, reason, "verdict refused");
                }
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Whether the directory's signed record shows it up throughout `[from, to]`; a directory
    /// that does not answer is down.
    async fn available(&self, m: &Match, from: u64, to: u64) -> bool {
        match self.dir.availability(&m.directory, from, to).await {
            Ok(record) => record.covers(from, to),
            Err(_) => false,
        }
    }

    async fn decide(&mut self, m: &Match) -> Result<(Verdict, Option<ExecReport>), SimError> {
        let corrupt = || SimError::Unexpected(format!("match {} in mediation lacks data", m.id));
        let rp = m.result.clone().ok_or_else(corrupt)?;
        let reason = m.reason.ok_or_else(corrupt)?;
        let (rejected_at, result_at) = (
            m.rejected_at.ok_or_else(corrupt)?,
            m.result_at.ok_or_else(corrupt)?,
        );
        let down = (Verdict::DirectoryUnavailable, None);
        Ok(match (reason, rp.status) {
            (RejectReason::ResultNotFound, _) => {
                let output = rp.output.ok_or_else(corrupt)?;
                if self.dir.get(&BlobHash(output)).await.is_ok() {
                    (Verdict::CorrectResults, None)
                } else if self
                    .available(m, m.matched_at, chain_time(&self.account.client).await?)
                    .await
                {
                    (Verdict::ResultNotFound, None)
                } else {
                    down
                }
            }
            (RejectReason::DirectoryUnavailable, _) => {
                if self.available(m, m.matched_at, rejected_at).await {
                    (Verdict::CorrectResults, None)
                } else {
                    down
                }
            }
            (RejectReason::InvalidResultStatus, ResultStatus::DirectoryUnavailable) => {
                if self.available(m, m.matched_at, result_at).await {
                    (Verdict::InvalidResultStatus, None)
                } else {
                    down
                }
            }
            (RejectReason::InvalidResultStatus, ResultStatus::JobNotFound) => {
                let job = self.job(m).await?;
                if fetch_job(&self.dir, &job.job).await.is_ok() {
                    (Verdict::InvalidResultStatus, None)
                } else if self.available(m, m.matched_at, result_at).await {
                    (Verdict::CorrectResults, None)
                } else {
                    down
                }
            }
            _ => {
                let job = self.job(m).await?;
                match fetch_job(&self.dir, &job.job).await {
                    Ok((module, input)) => {
                        let runs: Vec<ExecReport> = (0..self.runs)
                            .map(|_| {
                                let run = self.exec.run(&job.job, &module, &input, &job.limits);
                                self.observed.mediator_ms.add(m.id, run.ms);
                                run.report
                            })
                            .collect();
                        judge(&rp, &runs)
                    }
                    // The blobs the RP ran are gone: the directory failed the job.
                    Err(_) => down,
                }
            }
        })
    }

    async fn job(&self, m: &Match) -> Result<JobOffer, SimError> {
        query(
            &self.account.client,
            "job_offer",
            json!({"market": self.market, "offer": m.job_offer}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: ResultStatus, output: Option<u8>, instructions: u64) -> ExecReport {
        ExecReport {
            status,
            output: output.map(|o| [o; 32]),
            output_bytes: u64::from(output.is_some()),
            instructions,
        }
    }

    #[test]
    fn verdicts_follow_the_mediation_table() {
        use ResultStatus::*;
        let good = report(Completed, Some(1), 100);
        let v = |rp: &ExecReport, runs: &[ExecReport]| judge(rp, runs).0;
        assert_eq!(
            v(&good, &[good.clone(), good.clone()]),
            Verdict::CorrectResults
        );
        assert_eq!(
            v(
                &report(Completed, Some(1), 90),
                &[good.clone(), good.clone()]
            ),
            Verdict::CorrectResults
        );
        assert_eq!(
            v(
                &report(Completed, Some(1), 120),
                &[good.clone(), good.clone()]
            ),
            Verdict::TooMuchCost
        );
        assert_eq!(
            v(
                &report(Completed, Some(2), 100),
                &[good.clone(), good.clone()]
            ),
            Verdict::WrongResults
        );
        assert_eq!(
            v(
                &report(ExceptionOccurred, None, 5),
                &[good.clone(), good.clone()]
            ),
            Verdict::InvalidResultStatus
        );
        let other = report(Completed, Some(3), 100);
        let (verdict, execution) = judge(&good, &[report(Completed, Some(1), 80), other]);
        assert_eq!(verdict, Verdict::NonDeterministic);
        assert_eq!(execution.unwrap().instructions, 100);
    }
}
