//! The mediator (spec 3.5, 9.5): signs the allocations that name it; on `MediationRequested`
//! reads the customer's test seqs on its mediation channel, fetches those inputs by seq from
//! the retained input channel, re-runs the service on them and posts Γ^m_i for every slot and
//! whether the on-ledger checklist is the α of those tests.

use super::bus::{open, subscribe_when_open, Frames, TestSeqs};
use super::service::as_outputs;
use super::{allocator::Draft, ledger::checklist, ledger::Party, Market};
use crate::energy::SimError;
use agora_channels::catalogue::AllocationChannels;
use agora_channels::Bus;
use agora_stream::{hashing, AllocId, Hash, State, StreamCall};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Mediator {
    pub party: Party,
    pub bus: Arc<dyn Bus>,
}

/// What the mediator reports for one allocation.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub gamma_gammas: Vec<Hash>,
    pub checklist_ok: bool,
}

impl Mediator {
    /// Signs allocation `a` and mediates it if asked; returns whether it mediated.
    pub async fn serve(
        &self,
        market: &Market,
        a: AllocId,
        draft: &Draft,
    ) -> Result<bool, SimError> {
        let m = market.id;
        if !self
            .party
            .sign(
                "mediator sign",
                StreamCall::MediatorSign {
                    market: m,
                    allocation: a,
                    terms_hash: draft.terms_hash(m, a, &market.allocator),
                },
            )
            .await?
        {
            return Ok(false);
        }
        let view = market
            .watcher
            .until(a, |v| v.allocation.mediation.is_some())
            .await?;
        if view.allocation.state == State::Closed {
            return Ok(false);
        }
        let read = Instant::now();
        let channels = AllocationChannels::new(m, a, draft.suppliers.len());
        let seqs = self.test_seqs(market, &channels, draft).await?;
        let checklist = checklist(self.party.client(), m, a).await?;
        let report = self
            .judge(market, a, &channels, draft, seqs.as_deref(), &checklist)
            .await?;
        let (written, _) = self
            .party
            .call_timed(
                "post mediation",
                StreamCall::PostMediation {
                    market: m,
                    allocation: a,
                    gamma_gammas: report.gamma_gammas,
                    checklist_ok: report.checklist_ok,
                },
            )
            .await?;
        market
            .metrics
            .record(|s| &mut s.mediation, (written - read).as_secs_f64() * 1e3);
        market.watcher.closed(a).await?;
        Ok(true)
    }

    /// The customer's answer on its mediation channel, waiting at most half the mediation
    /// time-out for it (spec 3.5 step 1); `None` if it did not answer (or not as itself).
    async fn test_seqs(
        &self,
        market: &Market,
        channels: &AllocationChannels,
        draft: &Draft,
    ) -> Result<Option<TestSeqs>, SimError> {
        let wait = Duration::from_millis(market.params.mediation_timeout_ms / 2);
        let deadline = super::now_ms() + wait.as_millis() as u64;
        let answer = async {
            let subject = &channels.mediation_customer;
            let Some(mut answers) = subscribe_when_open(&*self.bus, subject, deadline).await?
            else {
                return Ok(None);
            };
            while let Some(item) = answers.next().await {
                match item.and_then(|e| open::<TestSeqs>(&e, &draft.terms.customer)) {
                    Ok(seqs) => return Ok(Some(seqs)),
                    Err(e) => tracing::warn!(channel = %subject, error = %e, "answer refused"),
                }
            }
            Ok::<_, SimError>(None)
        };
        tokio::time::timeout(wait, answer).await.unwrap_or(Ok(None))
    }

    /// The test inputs at the seqs the customer named, each from the input message it named,
    /// signed by the customer; `None` if any is missing.
    async fn fetch_inputs(
        &self,
        channels: &AllocationChannels,
        draft: &Draft,
        seqs: &[(u64, u64)],
    ) -> Option<Frames> {
        let mut inputs = Vec::with_capacity(seqs.len());
        for &(seq, message) in seqs {
            let envelope = self.bus.fetch(&channels.input, message).await.ok()?;
            let frames: Frames = open(&envelope, &draft.terms.customer).ok()?;
            let (_, input) = frames.into_iter().find(|(s, _)| *s == seq)?;
            inputs.push((seq, input));
        }
        Some(inputs)
    }

    /// Spec 3.5 steps 2-4: the mediator's own outputs for the customer's test seqs.
    async fn judge(
        &self,
        market: &Market,
        a: AllocId,
        channels: &AllocationChannels,
        draft: &Draft,
        seqs: Option<&[(u64, u64)]>,
        checklist: &[Hash],
    ) -> Result<Report, SimError> {
        let m = market.id;
        let n = draft.derived.checks as usize;
        let silent = Report {
            gamma_gammas: vec![[0; 32]; draft.suppliers.len()],
            checklist_ok: false,
        };
        let Some(seqs) = seqs else { return Ok(silent) };
        let mut distinct = seqs.to_vec();
        distinct.sort_unstable();
        distinct.dedup_by_key(|(seq, _)| *seq);
        let valid = distinct.len() == n && distinct.iter().all(|&(s, _)| s < draft.derived.inputs);
        let Some(inputs) = self.fetch_inputs(channels, draft, &distinct).await else {
            return Ok(silent);
        };
        let outputs = market
            .service
            .outputs(&inputs)
            .map_err(|e| SimError::Unexpected(e.to_string()))?;
        let outs = as_outputs(&outputs);
        Ok(Report {
            gamma_gammas: draft
                .suppliers
                .iter()
                .map(|(s, _)| hashing::commitment(m, a, s, &outs))
                .collect(),
            checklist_ok: valid && hashing::alpha(m, a, &outs) == checklist,
        })
    }
}
