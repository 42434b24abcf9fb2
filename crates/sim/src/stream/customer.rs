//! The customer (spec 9.5): offers a service window on its offers channel, opens the
//! allocation's channels to the parties the ledger names, commits to n pre-recorded test
//! inputs per replica when signing, publishes its inputs at rate λ with the tests at secret
//! positions, reads the replicas' outputs, reveals the tests' α after a_end, answers the
//! mediator with their seqs on its mediation channel, and deletes the channels when the ledger
//! closes the allocation.
//!
//! Strategy knob P(c) (spec 7.2): in an honest allocation it commits and reveals its true test
//! outputs; otherwise it skips computing them and commits and reveals random hashes.

use super::bus::{open, send, AllocationBus, Frames, Offer, TestSeqs};
use super::metrics::ms_since;
use super::service::as_outputs;
use super::{allocator::CustomerOffer, allocator::Draft, ledger::Party, Honesty, Market};
use crate::energy::SimError;
use agora_channels::catalogue::{self, AllocationChannels, Role};
use agora_channels::{Bus, Filter, Start};
use agora_stream::{hashing, AllocId, Allocation, Hash, State, StreamCall};
use futures::StreamExt;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Customer {
    pub party: Party,
    pub honesty: Honesty,
    pub bus: Arc<dyn Bus>,
    /// Derives the inputs and the secret test positions.
    secret: Hash,
}

/// When each input was published, and which inputs got an output: shared by the publishing and
/// the reading half of one allocation.
#[derive(Default)]
struct Stream {
    sent: HashMap<u64, Instant>,
    received: BTreeSet<u64>,
}

/// One allocation as the customer plays it from Running on.
struct Play<'a> {
    market: &'a Market,
    a: AllocId,
    draft: &'a Draft,
    channels: &'a AllocationChannels,
    stream: Mutex<Stream>,
}

fn lock(stream: &Mutex<Stream>) -> std::sync::MutexGuard<'_, Stream> {
    // Each update is one insert: a panic elsewhere leaves it whole.
    stream.lock().unwrap_or_else(|e| e.into_inner())
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
    pub fn new(party: Party, honesty: Honesty, bus: Arc<dyn Bus>) -> Self {
        let secret = Sha256::digest(party.key.address().0).into();
        Self {
            party,
            honesty,
            bus,
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

    /// Publishes an offer for `window` at the market's terms on its offers channel.
    pub async fn offer(
        &self,
        market: &Market,
        window: (u64, u64),
        nonce: u64,
    ) -> Result<(), SimError> {
        let e = &market.economy;
        let offer = CustomerOffer {
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
        };
        let subject = catalogue::offers(market.id, Role::Customer, &self.party.address());
        send(&*self.bus, &subject, &Offer::Customer(offer)).await?;
        Ok(())
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
        // The ledger fixed the terms and the parties: open the channels to exactly them.
        let view = market
            .watcher
            .until(a, |v| v.allocation.state != State::Allocated)
            .await?;
        let mut channels = AllocationBus::new(&view.allocation);
        channels.follow(&*self.bus, &view.allocation).await?;
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
            let closed = market.watcher.closed(a).await?;
            channels.follow(&*self.bus, &closed.allocation).await?;
            return Ok(Served::default());
        }
        let view = market
            .watcher
            .until(a, |v| v.allocation.state == State::Running)
            .await?;
        if view.allocation.state != State::Running {
            channels.follow(&*self.bus, &view.allocation).await?;
            return Ok(Served::default());
        }
        let (closed, outputs) = {
            let play = Play {
                market,
                a,
                draft,
                channels: &channels.channels,
                stream: Mutex::default(),
            };
            let reading = self.read_outputs(&play, &view.allocation);
            let rest = self.stream_and_verify(&play, &positions, checklist);
            tokio::pin!(reading, rest);
            let closed = tokio::select! {
                closed = &mut rest => closed?,
                read = &mut reading => {
                    read?;
                    rest.await?
                }
            };
            let outputs = lock(&play.stream).received.len() as u64;
            (closed, outputs)
        };
        channels.follow(&*self.bus, &closed).await?;
        Ok(Served {
            outputs,
            tests: if honest { n as u64 } else { 0 },
        })
    }

    /// Publishes the inputs, reveals the checklist after a_end and answers the mediator with
    /// the tests' seqs; returns the allocation as closed on the ledger.
    async fn stream_and_verify(
        &self,
        play: &Play<'_>,
        positions: &[u64],
        checklist: Vec<Hash>,
    ) -> Result<Allocation, SimError> {
        let (market, a, draft) = (play.market, play.a, play.draft);
        let tests = self.publish(play, positions).await?;
        let revealed = self
            .party
            .call_when_due(
                "reveal checklist",
                draft.terms.end_ms,
                StreamCall::RevealChecklist {
                    market: market.id,
                    allocation: a,
                    hashes: checklist,
                },
            )
            .await?;
        if !revealed {
            tracing::warn!(allocation = a, "the checklist was too late");
        }
        send(&*self.bus, &play.channels.mediation_customer, &tests).await?;
        Ok(market.watcher.closed(a).await?.allocation)
    }

    /// Takes in every replica's outputs, each checked to come from the supplier the ledger
    /// names for its slot, and times each input's first output; ends when the channels are
    /// deleted.
    async fn read_outputs(&self, play: &Play<'_>, allocation: &Allocation) -> Result<(), SimError> {
        let mut readers = Vec::new();
        for (subject, slot) in play.channels.outputs.iter().zip(&allocation.slots) {
            let supplier = slot.supplier;
            let reader = self
                .bus
                .subscribe(&Filter::from(subject), Start::Beginning)
                .await?;
            readers.push(reader.map(move |item| (supplier, item)));
        }
        let mut outputs = futures::stream::select_all(readers);
        while let Some((supplier, item)) = outputs.next().await {
            let frames: Frames = match item.and_then(|e| open(&e, &supplier)) {
                Ok(frames) => frames,
                Err(e) => {
                    tracing::debug!(allocation = allocation.id, error = %e, "output refused");
                    continue;
                }
            };
            let mut stream = lock(&play.stream);
            for (seq, _) in frames {
                if stream.received.insert(seq) {
                    if let Some(sent) = stream.sent.get(&seq) {
                        play.market
                            .metrics
                            .record(|s| &mut s.input_to_output, ms_since(*sent));
                    }
                }
            }
        }
        Ok(())
    }

    /// The pre-recorded test inputs come from their own secret.
    fn test_secret(&self) -> Hash {
        Sha256::digest(self.secret).into()
    }

    /// Publishes the N inputs in `market.batches` messages paced over [a_start, a_end], tests at
    /// their positions; returns each test's seq and the seq of the message that carried it.
    async fn publish(&self, play: &Play<'_>, positions: &[u64]) -> Result<TestSeqs, SimError> {
        let (market, a, draft) = (play.market, play.a, play.draft);
        let (m, t) = (market.id, &draft.terms);
        let inputs = draft.derived.inputs;
        let batches = market.batches.clamp(1, inputs.max(1));
        let per_batch = inputs.div_ceil(batches);
        let test_secret = self.test_secret();
        let mut tests = Vec::with_capacity(positions.len());
        for b in 0..batches {
            let due = t.start_ms + (t.end_ms - t.start_ms) * b / batches;
            sleep_until(due).await;
            let seqs = (b * per_batch)..((b + 1) * per_batch).min(inputs);
            if seqs.is_empty() {
                continue;
            }
            let batch: Frames = seqs
                .clone()
                .map(|seq| {
                    let secret = if positions.binary_search(&seq).is_ok() {
                        &test_secret
                    } else {
                        &self.secret
                    };
                    (seq, super::service::frame(secret, m, a, seq))
                })
                .collect();
            let now = Instant::now();
            lock(&play.stream)
                .sent
                .extend(seqs.clone().map(|seq| (seq, now)));
            let published = send(&*self.bus, &play.channels.input, &batch).await?;
            tests.extend(
                seqs.filter(|seq| positions.binary_search(seq).is_ok())
                    .map(|seq| (seq, published.seq)),
            );
        }
        sleep_until(t.end_ms).await;
        Ok(tests)
    }
}

/// Sleeps until the wall clock reads `ms` (the block clock follows it).
pub(super) async fn sleep_until(ms: u64) {
    let now = super::now_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}
