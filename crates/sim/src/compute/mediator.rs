//! The mediator: for each match in its queue follows the table of spec §4.4 and posts the
//! verdict with its own run.

use super::workload::{fetch_job, Executor};
use super::{chain_time, query, stopped, Account, Observed, Stop, POLL};
use crate::energy::SimError;
use agora_compute::{
    ComputeCall, ExecReport, JobOffer, Match, RejectReason, ResultStatus, Verdict, NAME,
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
            let queue = self
                .account
                .client
                .query_all(
                    NAME,
                    "mediations",
                    json!({"market": self.market, "mediator": self.account.address()}),
                    "matches",
                )
                .await?;
            let queue: Vec<Match> = serde_json::from_value(queue.into())
                .map_err(|e| SimError::Unexpected(format!("mediations: {e}")))?;
            let fresh: Vec<Match> = queue
                .into_iter()
                .filter(|m| !done.contains(&m.id))
                .collect();
            for m in fresh {
                done.insert(m.id);
                let job: JobOffer = query(
                    &self.account.client,
                    "job_offer",
                    json!({"market": self.market, "offer": m.job_offer}),
                )
                .await?;
                let now = chain_time(&self.account.client).await?;
                let (verdict, execution) = self.decide(&m, &job, now).await?;
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

    /// The verdict on match `m` of `job` at block time `now` (spec §4.4, row by row).
    async fn decide(
        &mut self,
        m: &Match,
        job: &JobOffer,
        now: u64,
    ) -> Result<(Verdict, Option<ExecReport>), SimError> {
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
                } else if self.available(m, m.matched_at, now).await {
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
                if fetch_job(&self.dir, &job.job).await.is_ok() {
                    (Verdict::InvalidResultStatus, None)
                } else if self.available(m, m.matched_at, result_at).await {
                    (Verdict::CorrectResults, None)
                } else {
                    down
                }
            }
            _ => {
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

/// The rows of spec §4.4 that read the directory, against a real one.
#[cfg(test)]
mod directory_rows {
    use super::*;
    use crate::compute::test_support::matched;
    use crate::compute::workload::{job_source, JOB_MEMORY_BYTES};
    use agora_compute::{JobSpec, MatchState, OfferState, Resources};
    use agora_directory::{Availability, BlobStore, StoreConfig};
    use agora_types::Keypair;

    struct Fixture {
        mediator: MediatorAgent,
        job: JobOffer,
        honest: ExecReport,
        key: Keypair,
        server: tokio::task::JoinHandle<std::io::Result<()>>,
        _root: tempfile::TempDir,
    }

    /// A directory up over [1,000, 2,000] and [6,000, 6,500] (block-clock ms), holding a real
    /// job; a mediator that reaches it.
    async fn fixture() -> Fixture {
        let key = Keypair::from_seed(41);
        let log = Arc::new(Availability::new(key.clone(), 1_000));
        for t in [1_000, 1_500, 2_000, 6_000, 6_500] {
            log.beat(t);
        }
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::open(StoreConfig {
            root: root.path().to_path_buf(),
            max_blob_bytes: 1 << 20,
            max_total_bytes: 1 << 24,
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(agora_directory::serve(listener, store, Some(log)));
        let dir = agora_directory::Client::new(base, 1 << 20);
        let (_, source, input) = job_source(3, 7);
        let spec = JobSpec {
            module: dir.put(source.as_bytes()).await.unwrap().0,
            input: dir.put(&input).await.unwrap().0,
            module_bytes: source.len() as u64,
            input_bytes: input.len() as u64,
            runtime: agora_exec::runtime_id(),
            directory: key.address(),
        };
        let limits = Resources {
            instructions: 1 << 30,
            memory: JOB_MEMORY_BYTES,
            storage: 1 << 16,
            bandwidth: 1 << 20,
        };
        let mut exec = Executor::new().unwrap();
        let honest = exec.run(&spec, source.as_bytes(), &input, &limits);
        dir.put(&honest.output).await.unwrap();
        let job = JobOffer {
            id: 0,
            owner: key.address(),
            job: spec,
            limits,
            max_prices: Default::default(),
            completion_deadline_ms: 10_000,
            match_incentive: 0,
            deposit: 1,
            hold: 0,
            state: OfferState::Matched(0),
        };
        let client = agora_client::Client::new("http://127.0.0.1:1").unwrap();
        Fixture {
            mediator: MediatorAgent {
                account: Account::new(Keypair::from_seed(42), client),
                market: 3,
                dir,
                exec,
                runs: 2,
                observed: Arc::default(),
            },
            job,
            honest: honest.report,
            key,
            server,
            _root: root,
        }
    }

    impl Fixture {
        /// The verdict on a rejection with `reason` of `rp`, for a match made at `matched_at`,
        /// with result and rejection at `at`, decided at `now`.
        async fn verdict(
            &mut self,
            reason: RejectReason,
            rp: ExecReport,
            matched_at: u64,
            at: u64,
            now: u64,
        ) -> (Verdict, Option<ExecReport>) {
            let mut m = matched(MatchState::InMediation);
            m.directory = self.key.address();
            m.matched_at = matched_at;
            m.result = Some(rp);
            m.result_at = Some(at);
            m.rejected_at = Some(at);
            m.reason = Some(reason);
            let job = self.job.clone();
            self.mediator.decide(&m, &job, now).await.unwrap()
        }
    }

    fn missing(status: ResultStatus) -> ExecReport {
        ExecReport {
            status,
            output: Some([9; 32]),
            output_bytes: 1,
            instructions: 1,
        }
    }

    #[tokio::test]
    async fn the_mediator_reads_the_directory_as_the_table_says() {
        use RejectReason as R;
        use ResultStatus::*;
        let mut f = fixture().await;
        let honest = f.honest.clone();
        let v = |x: (Verdict, Option<ExecReport>)| x.0;
        // ResultNotFound: the output is there; missing while the directory was up; missing
        // across an outage.
        assert_eq!(
            v(
                f.verdict(R::ResultNotFound, honest.clone(), 1_000, 1_800, 1_900)
                    .await
            ),
            Verdict::CorrectResults
        );
        assert_eq!(
            v(
                f.verdict(R::ResultNotFound, missing(Completed), 1_000, 1_800, 1_900)
                    .await
            ),
            Verdict::ResultNotFound
        );
        assert_eq!(
            v(
                f.verdict(R::ResultNotFound, missing(Completed), 1_500, 1_800, 6_200)
                    .await
            ),
            Verdict::DirectoryUnavailable
        );
        // The JC's DirectoryUnavailable: up over [matched, rejected] or not.
        assert_eq!(
            v(
                f.verdict(R::DirectoryUnavailable, honest.clone(), 1_000, 1_900, 1_900)
                    .await
            ),
            Verdict::CorrectResults
        );
        assert_eq!(
            v(
                f.verdict(R::DirectoryUnavailable, honest.clone(), 1_500, 6_200, 6_200)
                    .await
            ),
            Verdict::DirectoryUnavailable
        );
        // The RP's DirectoryUnavailable while the directory was up is a false status.
        let unavailable = crate::compute::workload::failure(DirectoryUnavailable, 0);
        assert_eq!(
            v(f.verdict(
                R::InvalidResultStatus,
                unavailable.clone(),
                1_000,
                1_900,
                1_900
            )
            .await),
            Verdict::InvalidResultStatus
        );
        assert_eq!(
            v(
                f.verdict(R::InvalidResultStatus, unavailable, 1_500, 6_200, 6_200)
                    .await
            ),
            Verdict::DirectoryUnavailable
        );
        // The RP's JobNotFound while the job is retrievable is a false status.
        let not_found = crate::compute::workload::failure(JobNotFound, 0);
        assert_eq!(
            v(f.verdict(
                R::InvalidResultStatus,
                not_found.clone(),
                1_000,
                1_900,
                1_900
            )
            .await),
            Verdict::InvalidResultStatus
        );
        // A forged output is caught by the runs, which become the verdict's execution.
        let (verdict, execution) = f
            .verdict(R::WrongResults, missing(Completed), 1_000, 1_900, 1_900)
            .await;
        assert_eq!(
            (verdict, execution),
            (Verdict::WrongResults, Some(honest.clone()))
        );
        assert_eq!(
            v(
                f.verdict(R::WrongResults, honest.clone(), 1_000, 1_900, 1_900)
                    .await
            ),
            Verdict::CorrectResults
        );
        // The job's input gone while the directory was up: the RP's JobNotFound stands.
        f.job.job.input = [8; 32];
        assert_eq!(
            v(
                f.verdict(R::InvalidResultStatus, not_found, 1_000, 1_900, 1_900)
                    .await
            ),
            Verdict::CorrectResults
        );
        // A directory that does not answer is down.
        f.server.abort();
        let _ = (&mut f.server).await;
        assert_eq!(
            v(
                f.verdict(R::ResultNotFound, missing(Completed), 1_000, 1_800, 1_900)
                    .await
            ),
            Verdict::DirectoryUnavailable
        );
    }
}
