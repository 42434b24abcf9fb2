//! The resource provider: keeps one offer open, runs what it is matched with, and cheats or
//! stays silent at the configured rates (spec §4.5).

use super::summary::TERMS;
use super::workload::{self, fetch_job, Executor};
use super::{query, stopped, Account, Observed, Stop, POLL};
use crate::energy::SimError;
use agora_compute::{
    ComputeCall, ExecReport, JobOffer, Match, OfferState, ResourceOffer, Resources, ResultStatus,
};
use agora_directory::BlobHash;
use rand::{rngs::StdRng, Rng, RngCore};
use serde_json::json;
use std::sync::Arc;
use tracing::{debug, warn};

/// The RP's caps: larger than any job of the simulation.
pub(super) const CAPS: Resources = Resources {
    instructions: 1 << 40,
    memory: 1 << 30,
    storage: 1 << 30,
    bandwidth: 1 << 40,
};
/// Deposit of each resource offer: above eq. 3.2 for every job of the simulation; what a
/// job does not need comes back when its match closes.
pub(super) const DEPOSIT: u64 = 1_000_000_000;

pub(super) struct ResourceProvider {
    pub account: Account,
    pub market: u64,
    pub dir: agora_directory::Client,
    pub exec: Executor,
    pub rng: StdRng,
    pub cheat_rate: f64,
    pub silent_rate: f64,
    pub observed: Arc<Observed>,
}

impl ResourceProvider {
    async fn post_offer(&self) -> Result<u64, SimError> {
        let receipt = self
            .account
            .execute(
                "post resource offer",
                ComputeCall::PostResourceOffer {
                    market: self.market,
                    caps: CAPS,
                    prices: TERMS.rp_prices,
                    match_incentive: TERMS.rp_incentive,
                    deposit: DEPOSIT,
                },
            )
            .await?;
        super::event(&receipt, "ResourceOfferPosted")?["offer"]["id"]
            .as_u64()
            .ok_or_else(|| SimError::Unexpected("ResourceOfferPosted without an id".into()))
    }

    /// Serves matches until `stop`, then cancels its open offer so its deposit comes back.
    pub async fn run(mut self, stop: Stop) -> Result<(), SimError> {
        let mut offer = self.post_offer().await?;
        while !stopped(&stop) {
            let state: ResourceOffer = query(
                &self.account.client,
                "resource_offer",
                json!({"market": self.market, "offer": offer}),
            )
            .await?;
            if let OfferState::Matched(id) = state.state {
                self.serve(id).await?;
                offer = self.post_offer().await?;
            } else {
                tokio::time::sleep(POLL).await;
            }
        }
        self.account
            .execute(
                "cancel resource offer",
                ComputeCall::CancelResourceOffer {
                    market: self.market,
                    offer,
                },
            )
            .await?;
        Ok(())
    }

    /// Runs (or forges, or ignores) match `id` and posts the result.
    async fn serve(&mut self, id: u64) -> Result<(), SimError> {
        let m: Match = query(
            &self.account.client,
            "match",
            json!({"market": self.market, "match": id}),
        )
        .await?;
        let job: JobOffer = query(
            &self.account.client,
            "job_offer",
            json!({"market": self.market, "offer": m.job_offer}),
        )
        .await?;
        // Both draws every time, so one rate does not shift the other's sequence.
        let silent = self.rng.gen_bool(self.silent_rate.clamp(0.0, 1.0));
        let cheat = self.rng.gen_bool(self.cheat_rate.clamp(0.0, 1.0));
        if silent {
            Observed::mark(&self.observed.silent, id);
            debug!(match_id = id, "RP stays silent");
            return Ok(());
        }
        let report = if cheat {
            Observed::mark(&self.observed.forged, id);
            self.forge(&job.limits).await
        } else {
            self.execute(id, &job).await
        };
        let receipt = self
            .account
            .submit(ComputeCall::PostResult {
                market: self.market,
                match_id: id,
                report,
            })
            .await?;
        if let Some(reason) = receipt.reason {
            warn!(match_id = id, reason, "result refused");
        }
        Ok(())
    }

    /// A forged result (cost c_d ≈ 0): random output of the allowed size, uploaded so the JC
    /// finds it, and a plausible fuel count within the limit.
    async fn forge(&mut self, limits: &Resources) -> ExecReport {
        let mut output = vec![0u8; limits.storage as usize];
        self.rng.fill_bytes(&mut output);
        let instructions = self
            .rng
            .gen_range(limits.instructions / 2..=limits.instructions);
        match self.dir.put(&output).await {
            Ok(hash) => ExecReport {
                status: ResultStatus::Completed,
                output: Some(hash.0),
                output_bytes: output.len() as u64,
                instructions,
            },
            Err(_) => workload::failure(ResultStatus::DirectoryUnavailable, 0),
        }
    }

    /// The honest run: fetch, execute under the job's limits, upload the output.
    async fn execute(&mut self, id: u64, job: &JobOffer) -> ExecReport {
        let (module, input) = match fetch_job(&self.dir, &job.job).await {
            Ok(blobs) => blobs,
            Err(status) => return workload::failure(status, 0),
        };
        let run = self.exec.run(&job.job, &module, &input, &job.limits);
        self.observed.rp_ms.add(id, run.ms);
        if run.report.status != ResultStatus::Completed {
            return run.report;
        }
        match self.dir.put(&run.output).await {
            Ok(hash) if Some(hash) == run.report.output.map(BlobHash) => run.report,
            // Work before a failed upload is not billed: nothing was delivered (spec §2.4).
            _ => workload::failure(ResultStatus::DirectoryUnavailable, 0),
        }
    }
}
