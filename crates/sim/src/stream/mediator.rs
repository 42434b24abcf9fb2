//! The mediator (spec 3.5, 9.5): signs the allocations that name it; on `MediationRequested`
//! asks the customer for its test seqs, fetches those inputs from the retained input log,
//! re-runs the service on them and posts Γ^m_i for every slot and whether the on-ledger
//! checklist is the α of those tests.

use super::service::as_outputs;
use super::{allocator::Draft, ledger::checklist, ledger::Party, Market};
use crate::energy::SimError;
use agora_stream::{hashing, AllocId, Hash, State, StreamCall};
use std::time::Duration;

pub struct Mediator {
    pub party: Party,
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
        // The customer must answer within half the mediation time-out (spec 3.5 step 1).
        let wait = Duration::from_millis(market.params.mediation_timeout_ms / 2);
        let seqs = market.board.ask_tests(a, wait).await;
        let checklist = checklist(self.party.client(), m, a).await?;
        let report = self.judge(market, a, draft, seqs.as_deref(), &checklist)?;
        self.party
            .call(
                "post mediation",
                StreamCall::PostMediation {
                    market: m,
                    allocation: a,
                    gamma_gammas: report.gamma_gammas,
                    checklist_ok: report.checklist_ok,
                },
            )
            .await?;
        market.watcher.closed(a).await?;
        Ok(true)
    }

    /// Spec 3.5 steps 2-4: the mediator's own outputs for the customer's test seqs.
    fn judge(
        &self,
        market: &Market,
        a: AllocId,
        draft: &Draft,
        seqs: Option<&[u64]>,
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
        distinct.dedup();
        let valid = distinct.len() == n && distinct.iter().all(|&s| s < draft.derived.inputs);
        let Some(inputs) = market.board.inputs_at(a, &distinct) else {
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
