//! The job creator: runs its jobs one after another through the market (spec §4.5).

use super::summary::{JobRecord, TERMS};
use super::workload::{job_source, Executor, JOB_MEMORY_BYTES};
use super::{query, Account, Observed, POLL};
use crate::energy::SimError;
use agora_compute::{
    payout, ComputeCall, ExecReport, JobOffer, JobSpec, Match, MatchState, OfferState,
    RejectReason, Resources, ResultStatus,
};
use agora_directory::{BlobHash, ClientError};
use agora_types::Address;
use rand::{rngs::StdRng, Rng};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

/// Fuel of the local run that sets a job's exact limits.
const PROBE_FUEL: u64 = 1 << 40;
/// Output cap of that run.
const PROBE_OUTPUT: u64 = 1 << 20;
/// Waiting for a match or a verdict longer than this (beyond the protocol's own deadlines)
/// means an agent is stuck.
const SLACK: Duration = Duration::from_secs(30);

pub(super) struct JobCreator {
    pub account: Account,
    pub market: u64,
    pub directory: Address,
    pub dir: agora_directory::Client,
    pub exec: Executor,
    pub rng: StdRng,
    pub verify_rate: f64,
    pub completion_window_ms: u64,
    pub seed: u64,
    pub observed: Arc<Observed>,
}

/// Why the JC rejects `rp` given its own run `mine`, or `None` to accept (spec §2.4).
pub(super) fn rejection(rp: &ExecReport, mine: &ExecReport) -> Option<RejectReason> {
    if (mine.status, mine.output) != (rp.status, rp.output) {
        Some(if rp.status == ResultStatus::Completed {
            RejectReason::WrongResults
        } else {
            RejectReason::InvalidResultStatus
        })
    } else if rp.instructions > mine.instructions {
        Some(RejectReason::TooMuchCost)
    } else {
        None
    }
}

impl JobCreator {
    async fn job_offer(&self, id: u64) -> Result<JobOffer, SimError> {
        query(
            &self.account.client,
            "job_offer",
            json!({"market": self.market, "offer": id}),
        )
        .await
    }

    async fn match_record(&self, id: u64) -> Result<Match, SimError> {
        query(
            &self.account.client,
            "match",
            json!({"market": self.market, "match": id}),
        )
        .await
    }

    /// Polls the match until `done` holds, for at most `limit`.
    async fn wait_match(
        &self,
        id: u64,
        limit: Duration,
        done: impl Fn(&MatchState) -> bool,
    ) -> Result<Match, SimError> {
        let start = Instant::now();
        loop {
            let m = self.match_record(id).await?;
            if done(&m.state) {
                return Ok(m);
            }
            if start.elapsed() > limit {
                return Err(SimError::Unexpected(format!(
                    "match {id} stuck in {:?}",
                    m.state
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Plays job `index`: offer, match, result, reaction, close.
    pub async fn run_job(&mut self, index: usize) -> Result<JobRecord, SimError> {
        let (kernel, source, input) = job_source(index, self.seed);
        let module = source.as_bytes();
        let mut spec = JobSpec {
            module: BlobHash::of(module).0,
            input: BlobHash::of(&input).0,
            module_bytes: module.len() as u64,
            input_bytes: input.len() as u64,
            runtime: agora_exec::runtime_id(),
            directory: self.directory,
        };
        let job_bytes = spec.module_bytes + spec.input_bytes;
        // The exact limits: one local run (spec §4.3), so E and the deposit are tight.
        let probe = Resources {
            instructions: PROBE_FUEL,
            memory: JOB_MEMORY_BYTES,
            storage: PROBE_OUTPUT,
            bandwidth: job_bytes + PROBE_OUTPUT,
        };
        let local = self.exec.run(&spec, module, &input, &probe).report;
        if local.status != ResultStatus::Completed {
            return Err(SimError::Unexpected(format!(
                "job {index} ({kernel}) does not complete locally: {:?}",
                local.status
            )));
        }
        let limits = Resources {
            instructions: local.instructions,
            memory: JOB_MEMORY_BYTES,
            storage: local.output_bytes,
            bandwidth: job_bytes + local.output_bytes,
        };

        let start = Instant::now();
        let upload = |e: ClientError| SimError::Unexpected(format!("upload to the directory: {e}"));
        spec.module = self.dir.put(module).await.map_err(upload)?.0;
        spec.input = self.dir.put(&input).await.map_err(upload)?.0;
        let t = TERMS;
        let overflow = |_| SimError::Unexpected("job estimate overflows".into());
        let estimate = payout::price(limits.instructions, limits.bandwidth, t.jc_max_prices)
            .map_err(overflow)?;
        let deposit = payout::min_deposit(
            t.penalty_rate,
            t.verification_count,
            estimate,
            t.mediator_fee,
            t.directory_fee,
            t.jc_incentive,
        )
        .map_err(overflow)?;
        let deadline = super::chain_time(&self.account.client).await? + self.completion_window_ms;
        let receipt = self
            .account
            .execute(
                "post job offer",
                ComputeCall::PostJobOffer {
                    market: self.market,
                    job: spec.clone(),
                    limits,
                    max_prices: t.jc_max_prices,
                    completion_deadline_ms: deadline,
                    match_incentive: t.jc_incentive,
                    deposit,
                },
            )
            .await?;
        let offer = super::event(&receipt, "JobOfferPosted")?["offer"]["id"]
            .as_u64()
            .ok_or_else(|| SimError::Unexpected("JobOfferPosted without an id".into()))?;
        let mut record = JobRecord {
            index,
            kernel: kernel.to_string(),
            job_offer: offer,
            match_id: None,
            limits,
            estimate,
            result: None,
            forged: false,
            silent: false,
            verified: false,
            rejected: None,
            outcome: None,
            added_latency_ms: 0.0,
            rp_exec_ms: 0.0,
            verify_ms: 0.0,
            mediation_ms: 0.0,
        };

        let matched = loop {
            match self.job_offer(offer).await?.state {
                OfferState::Matched(id) => break id,
                OfferState::Open
                    if start.elapsed()
                        < SLACK + Duration::from_millis(self.completion_window_ms) =>
                {
                    tokio::time::sleep(POLL).await
                }
                state => {
                    return Err(SimError::Unexpected(format!(
                        "job offer {offer} was never matched ({state:?})"
                    )))
                }
            }
        };
        record.match_id = Some(matched);
        let window = Duration::from_millis(self.completion_window_ms) + SLACK;
        let m = self
            .wait_match(matched, window, |s| *s != MatchState::AwaitingResult)
            .await?;
        if let MatchState::AwaitingReaction = m.state {
            let rp = m
                .result
                .clone()
                .ok_or_else(|| SimError::Unexpected(format!("match {matched} has no result")))?;
            record.result = Some(rp.clone());
            let reason = self
                .react(&spec, module, &input, &limits, &rp, &mut record)
                .await?;
            let call = match reason {
                Some(reason) => ComputeCall::RejectResult {
                    market: self.market,
                    match_id: matched,
                    reason,
                },
                None => ComputeCall::AcceptResult {
                    market: self.market,
                    match_id: matched,
                },
            };
            record.rejected = reason;
            self.account.execute("react to a result", call).await?;
        }
        let mediation = Duration::from_millis(TERMS.mediation_window_ms) + SLACK;
        let m = self
            .wait_match(matched, mediation, |s| matches!(s, MatchState::Closed(_)))
            .await?;
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        if let MatchState::Closed(outcome) = m.state {
            record.outcome = Some(outcome);
        }
        record.forged = Observed::has(&self.observed.forged, matched);
        record.silent = Observed::has(&self.observed.silent, matched);
        record.rp_exec_ms = self.observed.rp_ms.get(matched);
        record.mediation_ms = self.observed.mediator_ms.get(matched);
        record.added_latency_ms =
            elapsed - record.rp_exec_ms - record.verify_ms - record.mediation_ms;
        debug!(index, kernel, outcome = ?record.outcome, ms = elapsed, "job closed");
        Ok(record)
    }

    /// Downloads the output and, with probability p_v, runs the job again and compares.
    async fn react(
        &mut self,
        spec: &JobSpec,
        module: &[u8],
        input: &[u8],
        limits: &Resources,
        rp: &ExecReport,
        record: &mut JobRecord,
    ) -> Result<Option<RejectReason>, SimError> {
        if let Some(output) = rp.output.filter(|_| rp.status == ResultStatus::Completed) {
            match self.dir.get(&BlobHash(output)).await {
                Ok(_) => {}
                Err(ClientError::NotFound(_) | ClientError::Altered { .. }) => {
                    return Ok(Some(RejectReason::ResultNotFound))
                }
                Err(_) => return Ok(Some(RejectReason::DirectoryUnavailable)),
            }
        }
        if !self.rng.gen_bool(self.verify_rate.clamp(0.0, 1.0)) {
            return Ok(None);
        }
        record.verified = true;
        let run = self.exec.run(spec, module, input, limits);
        record.verify_ms = run.ms;
        Ok(rejection(rp, &run.report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(output: u8, instructions: u64) -> ExecReport {
        ExecReport {
            status: ResultStatus::Completed,
            output: Some([output; 32]),
            output_bytes: 1,
            instructions,
        }
    }

    #[test]
    fn the_jc_rejects_exactly_what_its_own_run_contradicts() {
        assert_eq!(rejection(&completed(1, 10), &completed(1, 10)), None);
        // Under-reporting harms only the RP.
        assert_eq!(rejection(&completed(1, 9), &completed(1, 10)), None);
        assert_eq!(
            rejection(&completed(1, 11), &completed(1, 10)),
            Some(RejectReason::TooMuchCost)
        );
        assert_eq!(
            rejection(&completed(2, 10), &completed(1, 10)),
            Some(RejectReason::WrongResults)
        );
        let trap = crate::compute::workload::failure(ResultStatus::ExceptionOccurred, 5);
        assert_eq!(
            rejection(&trap, &completed(1, 10)),
            Some(RejectReason::InvalidResultStatus)
        );
    }
}
