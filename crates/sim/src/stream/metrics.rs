//! What the latency experiment (Fig. 4.7, spec 7.3) measures, recorded by the agents as they
//! play: wall-clock spans in ms between two moments of one process (every agent of a run
//! shares the process, so no clocks are compared across machines).

use agora_stream::Hash;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Samples per measured span, in ms.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// The customer publishes an input → it receives a replica's output for it.
    pub input_to_output: Vec<f64>,
    /// A supplier publishes its offer → the ledger's receipt creates the allocation holding it.
    pub offer_to_allocation: Vec<f64>,
    /// The mediator reads the mediation request → it writes (submits) its verdict.
    pub mediation: Vec<f64>,
    /// A supplier's service time for one input message (inside `input_to_output`).
    pub service: Vec<f64>,
}

/// Shared by the agents of one market.
#[derive(Default)]
pub struct Metrics {
    offered: Mutex<HashMap<Hash, Instant>>,
    samples: Mutex<Samples>,
}

/// The value at quantile `p` of `sorted` (nearest rank; NaN if empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A span's median and 99th percentile in ms, and how many samples they come from (both
/// `null` without samples).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub samples: usize,
}

impl Quantiles {
    pub fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p| (!sorted.is_empty()).then(|| percentile(&sorted, p));
        Self {
            p50: at(0.5),
            p99: at(0.99),
            samples: sorted.len(),
        }
    }
}

/// Milliseconds since `since`.
pub fn ms_since(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

impl Metrics {
    fn samples_mut(&self) -> std::sync::MutexGuard<'_, Samples> {
        // A panicking agent leaves whole samples behind (each update is one push).
        self.samples.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one span of `what`.
    pub fn record(&self, what: fn(&mut Samples) -> &mut Vec<f64>, ms: f64) {
        what(&mut self.samples_mut()).push(ms);
    }

    /// A supplier is about to publish the offer hashed `offer`.
    pub fn offered(&self, offer: Hash) {
        self.offered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(offer, Instant::now());
    }

    /// The ledger created an allocation holding the supplier offer hashed `offer`.
    pub fn allocated(&self, offer: &Hash) {
        let since = self
            .offered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(offer);
        if let Some(since) = since {
            self.record(|s| &mut s.offer_to_allocation, ms_since(since));
        }
    }

    pub fn samples(&self) -> Samples {
        self.samples_mut().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let q = Quantiles::of(&samples);
        assert_eq!((q.p50, q.p99, q.samples), (Some(51.0), Some(99.0), 100));
        let none = Quantiles::of(&[]);
        assert_eq!((none.p50, none.p99, none.samples), (None, None, 0));
    }

    #[test]
    fn offer_to_allocation_counts_each_allocated_offer_once() {
        let metrics = Metrics::default();
        metrics.offered([1; 32]);
        metrics.offered([2; 32]);
        metrics.allocated(&[1; 32]);
        metrics.allocated(&[1; 32]);
        metrics.allocated(&[3; 32]);
        assert_eq!(metrics.samples().offer_to_allocation.len(), 1);
    }
}
