//! The supplier (spec 9.5): offers spare capacity for a window on its offers channel, signs
//! with its deposit, reads the customer's input channel once the customer opened it, runs the
//! WebAssembly service on every input and publishes the outputs on its slot's output channel,
//! keeps (seq, output) until close, and on the customer's reveal posts γ of the outputs the
//! checklist names.
//!
//! Knobs: P(s) (spec 7.2: in an honest allocation it processes every input, otherwise none,
//! the seed's s̄, and posts what it has), and speculative start (spec 3.8: read inputs as soon
//! as it signed, instead of waiting for Running).

use super::bus::{open, send, subscribe_when_open, Frames, Offer};
use super::metrics::ms_since;
use super::service::as_outputs;
use super::{allocator::Draft, allocator::SupplierOffer, ledger::checklist, ledger::Party};
use super::{Honesty, Market};
use crate::energy::SimError;
use agora_channels::catalogue::{self, AllocationChannels, Role};
use agora_channels::Bus;
use agora_stream::{hashing, AllocId, State, StreamCall};
use std::sync::Arc;
use std::time::Instant;

pub struct Supplier {
    pub party: Party,
    pub honesty: Honesty,
    pub speculative: bool,
    pub bus: Arc<dyn Bus>,
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
    /// Publishes an offer for `window` on its offers channel: twice the capacity the market's
    /// customers need.
    pub async fn offer(
        &self,
        market: &Market,
        window: (u64, u64),
        nonce: u64,
    ) -> Result<(), SimError> {
        let e = &market.economy;
        let offer = SupplierOffer {
            account: self.party.address(),
            capacity: (e.instructions * e.rate_milli).div_ceil(1_000) * 2,
            ram_mb: 1_024,
            start_ms: window.0,
            end_ms: window.1,
            price_min: e.price,
            mediators: vec![market.mediator],
            nonce,
        };
        market.metrics.offered(offer.hash());
        let subject = catalogue::offers(market.id, Role::Supplier, &self.party.address());
        send(&*self.bus, &subject, &Offer::Supplier(offer)).await?;
        Ok(())
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
            self.process(market, a, draft, slot).await?
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

    /// Runs the service on each input message the customer signed until it has all N
    /// outputs or the channel closes, publishing each message's outputs.
    async fn process(
        &self,
        market: &Market,
        a: AllocId,
        draft: &Draft,
        slot: u32,
    ) -> Result<Frames, SimError> {
        let channels = AllocationChannels::new(market.id, a, draft.suppliers.len());
        let output = channels
            .outputs
            .get(slot as usize)
            .ok_or_else(|| SimError::Unexpected(format!("no slot {slot} in {a}")))?;
        let mut outputs = Vec::new();
        let deadline = draft.terms.end_ms;
        let Some(mut inputs) = subscribe_when_open(&*self.bus, &channels.input, deadline).await?
        else {
            tracing::warn!(allocation = a, "the customer never opened its input");
            return Ok(outputs);
        };
        while (outputs.len() as u64) < draft.derived.inputs {
            let batch: Frames = match inputs.next().await {
                None => break,
                Some(item) => match item.and_then(|e| open(&e, &draft.terms.customer)) {
                    Ok(batch) => batch,
                    Err(agora_channels::BusError::Malformed(e)) => {
                        tracing::warn!(allocation = a, error = %e, "input refused");
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(allocation = a, error = %e, "input channel closed");
                        break;
                    }
                },
            };
            let service = Arc::clone(&market.service);
            let started = Instant::now();
            let done = tokio::task::spawn_blocking(move || service.outputs(&batch))
                .await
                .map_err(|e| SimError::Unexpected(e.to_string()))?
                .map_err(service_error)?;
            market.metrics.record(|s| &mut s.service, ms_since(started));
            if let Err(e) = send(&*self.bus, output, &done).await {
                tracing::warn!(allocation = a, error = %e, "cannot publish outputs");
                break;
            }
            outputs.extend(done);
        }
        Ok(outputs)
    }
}
