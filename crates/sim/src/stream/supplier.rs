//! The supplier (spec 9.5): offers spare capacity for a window, signs with its deposit, runs
//! the WebAssembly service on every input and publishes the outputs, keeps (seq, output) until
//! close, and on the customer's reveal posts γ of the outputs the checklist names.
//!
//! Knobs: P(s) (spec 7.2: in an honest allocation it processes every input, otherwise none,
//! the seed's s̄, and posts what it has), and speculative start (spec 3.8: read inputs as soon
//! as it signed, instead of waiting for Running).

use super::service::as_outputs;
use super::{allocator::Draft, allocator::SupplierOffer, ledger::checklist, ledger::Party};
use super::{Honesty, Market};
use crate::energy::SimError;
use agora_stream::{hashing, AllocId, State, StreamCall};
use std::sync::Arc;

pub struct Supplier {
    pub party: Party,
    pub honesty: Honesty,
    pub speculative: bool,
}

/// What one allocation cost the supplier off the ledger.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worked {
    /// Inputs it ran the service on (electricity π_sε each).
    pub processed: u64,
}

fn service_error(e: super::service::ServiceError) -> SimError {
    SimError::Unexpected(e.to_string())
}

impl Supplier {
    /// An offer for `window`: twice the capacity the market's customers need.
    pub fn offer(&self, market: &Market, window: (u64, u64), nonce: u64) -> SupplierOffer {
        let e = &market.economy;
        SupplierOffer {
            account: self.party.address(),
            capacity: (e.instructions * e.rate_milli).div_ceil(1_000) * 2,
            ram_mb: 1_024,
            start_ms: window.0,
            end_ms: window.1,
            price_min: e.price,
            mediators: vec![market.mediator],
            nonce,
        }
    }

    /// Plays slot `slot` of allocation `a` to its close; `round` is its index among this
    /// supplier's allocations.
    pub async fn serve(
        &self,
        market: &Market,
        a: AllocId,
        draft: &Draft,
        slot: u32,
        round: u64,
    ) -> Result<Worked, SimError> {
        let m = market.id;
        let honest = self.honesty.honest(round);
        let terms_hash = draft.terms_hash(m, a, &market.allocator);
        if !self
            .party
            .sign(
                "supplier sign",
                StreamCall::SupplierSign {
                    market: m,
                    allocation: a,
                    terms_hash,
                },
            )
            .await?
        {
            return Ok(Worked::default());
        }
        if !self.speculative {
            let view = market
                .watcher
                .until(a, |v| v.allocation.state == State::Running)
                .await?;
            if view.allocation.state != State::Running {
                return Ok(Worked::default());
            }
        }
        let outputs = if honest {
            self.process(market, a, slot).await?
        } else {
            Vec::new()
        };
        let view = market.watcher.until(a, |v| v.allocation.revealed).await?;
        if view.allocation.state == State::Closed {
            return Ok(Worked {
                processed: outputs.len() as u64,
            });
        }
        let checklist = checklist(self.party.client(), m, a).await?;
        let outs = as_outputs(&outputs);
        let found = hashing::tested(m, a, &outs, &checklist);
        let gamma = hashing::gamma(m, a, &self.party.address(), &found);
        self.party
            .call(
                "post output",
                StreamCall::PostOutput {
                    market: m,
                    allocation: a,
                    gamma,
                },
            )
            .await?;
        market.watcher.closed(a).await?;
        Ok(Worked {
            processed: outputs.len() as u64,
        })
    }

    /// Runs the service on every input until the customer's stream ends, publishing outputs.
    async fn process(
        &self,
        market: &Market,
        a: AllocId,
        slot: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, SimError> {
        let mut outputs = Vec::new();
        while let Some(batch) = market.board.read_inputs(a, outputs.len()).await {
            let service = Arc::clone(&market.service);
            let done = tokio::task::spawn_blocking(move || service.outputs(&batch))
                .await
                .map_err(|e| SimError::Unexpected(e.to_string()))?
                .map_err(service_error)?;
            market
                .board
                .publish_outputs(a, slot, done.iter().map(|(seq, _)| *seq));
            outputs.extend(done);
        }
        Ok(outputs)
    }
}
