//! The allocations' data plane inside one process: per allocation the customer's input log
//! (kept until close, so the mediator can fetch test inputs by seq), each slot's outputs, and
//! the customer's answer to the mediator (its test seqs). Spec 5.2's `input`, `output.<slot>`
//! and `mediation.<party>` channels, without access control: the agents are the ones the
//! permission table allows.

use agora_stream::AllocId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct Channels {
    inputs: Vec<(u64, Vec<u8>)>,
    /// The customer published its last input.
    ended: bool,
    /// Seqs each slot published an output for.
    outputs: BTreeMap<u32, BTreeSet<u64>>,
    /// The customer's test seqs, once asked.
    tests: Option<Vec<u64>>,
}

#[derive(Default)]
struct Inner {
    channels: Mutex<BTreeMap<AllocId, Channels>>,
    changed: Notify,
}

/// Shared by every agent of a market.
#[derive(Clone, Default)]
pub struct Board(Arc<Inner>);

impl Board {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<AllocId, Channels>> {
        // A panicking agent leaves consistent data behind (each update is one push).
        self.0.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, a: AllocId, f: impl FnOnce(&mut Channels)) {
        f(self.lock().entry(a).or_default());
        self.0.changed.notify_waiters();
    }

    /// The customer publishes inputs; `last` closes the stream.
    pub fn publish_inputs(&self, a: AllocId, batch: Vec<(u64, Vec<u8>)>, last: bool) {
        self.update(a, |c| {
            c.inputs.extend(batch);
            c.ended |= last;
        });
    }

    /// Inputs from position `from` of the log, waiting for some; `None` once the stream ended
    /// and everything was read.
    pub async fn read_inputs(&self, a: AllocId, from: usize) -> Option<Vec<(u64, Vec<u8>)>> {
        loop {
            let notified = self.0.changed.notified();
            {
                let channels = self.lock();
                if let Some(c) = channels.get(&a) {
                    if c.inputs.len() > from {
                        return Some(c.inputs[from..].to_vec());
                    }
                    if c.ended {
                        return None;
                    }
                }
            }
            notified.await;
        }
    }

    /// The inputs at `seqs`, if the log holds all of them (the mediator's fetch by seq).
    pub fn inputs_at(&self, a: AllocId, seqs: &[u64]) -> Option<Vec<(u64, Vec<u8>)>> {
        let channels = self.lock();
        let log = &channels.get(&a)?.inputs;
        seqs.iter()
            .map(|s| log.iter().find(|(seq, _)| seq == s).cloned())
            .collect()
    }

    /// A supplier publishes outputs for these seqs on its slot's subject.
    pub fn publish_outputs(&self, a: AllocId, slot: u32, seqs: impl IntoIterator<Item = u64>) {
        self.update(a, |c| c.outputs.entry(slot).or_default().extend(seqs));
    }

    /// Distinct seqs the customer received an output for, from any replica.
    pub fn outputs_received(&self, a: AllocId) -> u64 {
        self.lock().get(&a).map_or(0, |c| {
            c.outputs.values().flatten().collect::<BTreeSet<_>>().len() as u64
        })
    }

    /// The customer answers the mediator with its test seqs.
    pub fn answer_tests(&self, a: AllocId, seqs: Vec<u64>) {
        self.update(a, |c| c.tests = Some(seqs));
    }

    /// The customer's test seqs, waiting at most `wait` for its answer.
    pub async fn ask_tests(&self, a: AllocId, wait: Duration) -> Option<Vec<u64>> {
        let answer = async {
            loop {
                let notified = self.0.changed.notified();
                if let Some(t) = self.lock().get(&a).and_then(|c| c.tests.clone()) {
                    return t;
                }
                notified.await;
            }
        };
        tokio::time::timeout(wait, answer).await.ok()
    }

    /// Retention ends when the allocation closes.
    pub fn drop_allocation(&self, a: AllocId) {
        self.lock().remove(&a);
    }
}
