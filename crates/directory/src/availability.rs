//! The directory's availability record (spec `compute.md` §4.2): the directory logs when it
//! served (heartbeats, and every availability request) and answers
//! `GET /availability?from=&to=` with those intervals signed by its account key. A mediator
//! reads it to decide whether the directory or a party is at fault: available throughout the
//! job's window means the claimant is. The record is self-reported, as in the seed; the
//! signature only makes a directory answerable for what it said.

use agora_types::{Address, Keypair};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Domain of the signature, so it cannot be replayed as anything else.
pub const NAMESPACE: &[u8] = b"agora-directory-availability";

/// Milliseconds since the Unix epoch: the clock block timestamps use too.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The serving log: merged intervals `[start, end]` in ms; two beats at most `2 × period`
/// apart are one interval (a missed beat is not an outage, two are).
#[derive(Debug)]
pub struct Availability {
    key: Keypair,
    period_ms: u64,
    intervals: Mutex<Vec<(u64, u64)>>,
}

impl Availability {
    /// A log signed by `key`, beating every `period_ms`.
    pub fn new(key: Keypair, period_ms: u64) -> Self {
        Availability {
            key,
            period_ms: period_ms.max(1),
            intervals: Mutex::new(Vec::new()),
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Records that the directory served at `at_ms` (beats arrive in time order; an older one
    /// is ignored).
    pub fn beat(&self, at_ms: u64) {
        let mut log = self.intervals.lock().unwrap_or_else(|e| e.into_inner());
        match log.last_mut() {
            Some((_, end)) if at_ms <= *end => {}
            Some((_, end)) if at_ms - *end <= 2 * self.period_ms => *end = at_ms,
            _ => log.push((at_ms, at_ms)),
        }
    }

    /// Beats every period for as long as the task runs (the server spawns it).
    pub async fn heartbeat(&self) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.period_ms));
        loop {
            tick.tick().await;
            self.beat(now_ms());
        }
    }

    /// The signed record of `[from, to]`: the logged intervals clipped to it.
    pub fn record(&self, from: u64, to: u64) -> AvailabilityRecord {
        let intervals = self
            .intervals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(a, b)| *a <= to && *b >= from)
            .map(|(a, b)| [(*a).max(from), (*b).min(to)])
            .collect();
        AvailabilityRecord::sign(&self.key, from, to, intervals)
    }
}

/// What `GET /availability` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityRecord {
    pub directory: Address,
    pub from: u64,
    pub to: u64,
    /// Serving intervals `[start, end]` (ms) within `[from, to]`, in time order.
    pub intervals: Vec<[u64; 2]>,
    /// The directory's ed25519 signature over [`Self::message`], hex.
    pub signature: String,
}

impl AvailabilityRecord {
    /// The signed bytes: `from`, `to`, then each interval, all u64 big-endian.
    fn message(from: u64, to: u64, intervals: &[[u64; 2]]) -> Vec<u8> {
        let mut m = Vec::with_capacity(16 * (intervals.len() + 1));
        for v in [from, to]
            .into_iter()
            .chain(intervals.iter().flat_map(|i| i.iter().copied()))
        {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m
    }

    pub fn sign(key: &Keypair, from: u64, to: u64, intervals: Vec<[u64; 2]>) -> Self {
        let signature =
            hex::encode(key.sign_bytes(NAMESPACE, &Self::message(from, to, &intervals)));
        AvailabilityRecord {
            directory: key.address(),
            from,
            to,
            intervals,
            signature,
        }
    }

    /// Whether `directory` signed exactly this record.
    pub fn verify(&self, directory: &Address) -> bool {
        let Ok(signature) = hex::decode(&self.signature) else {
            return false;
        };
        self.directory == *directory
            && directory.verifies(
                NAMESPACE,
                &Self::message(self.from, self.to, &self.intervals),
                &signature,
            )
    }

    /// Whether one serving interval spans all of `[from, to]`: the mediator's "available
    /// throughout".
    pub fn covers(&self, from: u64, to: u64) -> bool {
        self.from <= from
            && self.to >= to
            && self.intervals.iter().any(|[a, b]| *a <= from && *b >= to)
    }
}
