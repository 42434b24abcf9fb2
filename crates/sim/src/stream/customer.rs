//! The customer (spec 9.5): offers a service window, commits to n pre-recorded test inputs per
//! replica when signing, publishes its inputs at rate λ with the tests at secret positions,
//! reveals the tests' α after a_end and answers the mediator with their seqs.
//!
//! Strategy knob P(c) (spec 7.2): in an honest allocation it commits and reveals its true test
//! outputs; otherwise it skips computing them and commits and reveals random hashes.

use super::service::as_outputs;
use super::{allocator::CustomerOffer, allocator::Draft, ledger::Party, Honesty, Market};
use crate::energy::SimError;
use agora_stream::{hashing, AllocId, Hash, State, StreamCall};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Batches the customer cuts its inputs into over the window.
const BATCHES: u64 = 10;

pub struct Customer {
    pub party: Party,
    pub honesty: Honesty,
    /// Derives the inputs and the secret test positions.
    secret: Hash,
}

/// What one allocation gave the customer off the ledger.
#[derive(Clone, Copy, Debug, Default)]
pub struct Served {
    /// Outputs received from any replica (benefit b each).
    pub outputs: u64,
    /// Test outputs it computed itself (cost π_cg each).
    pub tests: u64,
}

impl Customer {
    pub fn new(party: Party, honesty: Honesty) -> Self {
        let secret = Sha256::digest(party.key.address().0).into();
        Self {
            party,
            honesty,
            secret,
        }
    }

    fn rng(&self, a: AllocId, what: &[u8]) -> StdRng {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(a.to_be_bytes());
        h.update(what);
        StdRng::from_seed(h.finalize().into())
    }

    /// An offer for `window` at the market's terms.
    pub fn offer(&self, market: &Market, window: (u64, u64), nonce: u64) -> CustomerOffer {
        let e = &market.economy;
        CustomerOffer {
            account: self.party.address(),
            service: market.service.id,
            instructions: e.instructions,
            ram_mb: 256,
            start_ms: window.0,
            end_ms: window.1,
            price_max: e.price,
            rate_milli: e.rate_milli,
            replicas: e.replicas,
            mediators: vec![market.mediator],
            min_service_ms: window.1 - window.0,
            nonce,
        }
    }

    /// Plays allocation `a` (drafted as `draft`) to its close; `round` is its index among
    /// this customer's allocations.
    pub async fn serve(
        &self,
        market: &Market,
        a: AllocId,
        draft: &Draft,
        round: u64,
    ) -> Result<Served, SimError> {
        let m = market.id;
        let (inputs, n) = (draft.derived.inputs, draft.derived.checks as usize);
        let honest = self.honesty.honest(round);
        let mut rng = self.rng(a, b"tests");
        let mut positions: Vec<u64> = rand::seq::index::sample(&mut rng, inputs as usize, n)
            .into_iter()
            .map(|i| i as u64)
            .collect();
        positions.sort_unstable();
        let tests: Vec<(u64, Vec<u8>)> = positions
            .iter()
            .map(|&seq| (seq, super::service::frame(&self.test_secret(), m, a, seq)))
            .collect();
        let (commitments, checklist) = if honest {
            let outputs = market
                .service
                .outputs(&tests)
                .map_err(|e| SimError::Unexpected(e.to_string()))?;
            let outs = as_outputs(&outputs);
            let commitments = draft
                .suppliers
                .iter()
                .map(|(s, _)| hashing::commitment(m, a, s, &outs))
                .collect();
            (commitments, hashing::alpha(m, a, &outs))
        } else {
            let random =
                |rng: &mut StdRng, k: usize| (0..k).map(|_| rng.gen()).collect::<Vec<Hash>>();
            (random(&mut rng, draft.suppliers.len()), random(&mut rng, n))
        };
        let terms_hash = draft.terms_hash(m, a, &market.allocator);
        if !self
            .party
            .sign(
                "customer sign",
                StreamCall::CustomerSign {
                    market: m,
                    allocation: a,
                    terms_hash,
                    commitments,
                },
            )
            .await?
        {
            return Ok(Served::default());
        }
        let view = market
            .watcher
            .until(a, |v| v.allocation.state == State::Running)
            .await?;
        if view.allocation.state != State::Running {
            return Ok(Served::default());
        }
        self.publish(market, a, draft, &positions).await;
        let revealed = self
            .party
            .call_when_due(
                "reveal checklist",
                draft.terms.end_ms,
                StreamCall::RevealChecklist {
                    market: m,
                    allocation: a,
                    hashes: checklist,
                },
            )
            .await?;
        if !revealed {
            tracing::warn!(allocation = a, "the checklist was too late");
        }
        market.board.answer_tests(a, positions);
        market.watcher.closed(a).await?;
        Ok(Served {
            outputs: market.board.outputs_received(a),
            tests: if honest { n as u64 } else { 0 },
        })
    }

    /// The pre-recorded test inputs come from their own secret.
    fn test_secret(&self) -> Hash {
        Sha256::digest(self.secret).into()
    }

    /// Publishes the N inputs in batches paced over [a_start, a_end], tests at their positions.
    async fn publish(&self, market: &Market, a: AllocId, draft: &Draft, positions: &[u64]) {
        let (m, t) = (market.id, &draft.terms);
        let inputs = draft.derived.inputs;
        let per_batch = inputs.div_ceil(BATCHES);
        let test_secret = self.test_secret();
        for b in 0..BATCHES {
            let due = t.start_ms + (t.end_ms - t.start_ms) * b / BATCHES;
            sleep_until(due).await;
            let seqs = (b * per_batch)..((b + 1) * per_batch).min(inputs);
            let batch = seqs
                .map(|seq| {
                    let secret = if positions.binary_search(&seq).is_ok() {
                        &test_secret
                    } else {
                        &self.secret
                    };
                    (seq, super::service::frame(secret, m, a, seq))
                })
                .collect();
            market.board.publish_inputs(a, batch, b + 1 == BATCHES);
        }
        sleep_until(t.end_ms).await;
    }
}

/// Sleeps until the wall clock reads `ms` (the block clock follows it).
pub(super) async fn sleep_until(ms: u64) {
    let now = super::now_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}
