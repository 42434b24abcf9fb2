//! One seeded fault scenario: message loss, a partition, a crash and one Byzantine validator.

use super::{Fault, Sim, SimConfig, N};
use commonware_p2p::simulated::Link;
use commonware_runtime::{deterministic, Clock, Runner as _};
use futures::{pin_mut, FutureExt};
use rand::Rng;
use std::{future::Future, time::Duration};

/// What one seed's scenario showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultsOutcome {
    pub seed: u64,
    pub fault: Fault,
    /// The honest validators agreed on every executed block and state root, and none halted.
    pub safe: bool,
    /// The honest validators finalized before the faults and again after they healed.
    pub live: bool,
    /// What went wrong, if anything.
    pub detail: Option<String>,
}

/// The Byzantine validator; the others are honest.
const BYZANTINE: usize = N - 1;
const HONEST: [usize; N - 1] = [0, 1, 2];

/// Whether `future` completes within `limit` of simulated time.
async fn within(context: &deterministic::Context, limit: Duration, future: impl Future) -> bool {
    let future = future.fuse();
    let timeout = context.sleep(limit).fuse();
    pin_mut!(future, timeout);
    futures::select! {
        _ = future => true,
        _ = timeout => false,
    }
}

/// Runs the scenario of `seed`: every choice (the Byzantine fault, loss rate, partition,
/// crashed validator, timings) follows from it, so a seed replays exactly.
pub fn faults_run(seed: u64) -> FaultsOutcome {
    let fault = Fault::BYZANTINE[(seed % Fault::BYZANTINE.len() as u64) as usize];
    let cfg = deterministic::Config::default()
        .with_seed(seed)
        .with_timeout(None);
    let (live, failures) = deterministic::Runner::new(cfg).start(|context| async move {
        let mut faults = [Fault::Honest; N];
        faults[BYZANTINE] = fault;
        let config = SimConfig {
            faults,
            ..SimConfig::default()
        };
        let mut sim = match Sim::new(&context, config).await {
            Ok(sim) => sim,
            Err(e) => return (false, vec![e]),
        };
        let mut rng = context.clone();
        let link = Link {
            latency: Duration::from_millis(rng.gen_range(5..50)),
            jitter: Duration::from_millis(rng.gen_range(0..20)),
            success_rate: rng.gen_range(0.85..=1.0),
        };
        sim.link(link.clone(), |_, _| true).await;
        let mut handles: Vec<_> = (0..N).map(|i| sim.start(&context, i, 0)).collect();
        let mut live = within(
            &context,
            Duration::from_secs(120),
            sim.wait_for(&context, &HONEST, 5),
        )
        .await;

        // A partition: a random half cannot reach the other half for a while.
        let side: Vec<bool> = (0..N).map(|_| rng.gen_bool(0.5)).collect();
        sim.link(link.clone(), |i, j| side[i] == side[j]).await;
        context
            .sleep(Duration::from_millis(rng.gen_range(1_000..10_000)))
            .await;
        sim.link(link, |_, _| true).await;

        // A crash of an honest validator, restarted from its storage.
        let victim = HONEST[rng.gen_range(0..HONEST.len())];
        handles[victim].abort();
        context
            .sleep(Duration::from_millis(rng.gen_range(1_000..10_000)))
            .await;
        handles[victim] = sim.start(&context, victim, 1);

        let target = HONEST.iter().map(|&i| sim.height(i)).max().unwrap_or(0) + 5;
        live &= within(
            &context,
            Duration::from_secs(300),
            sim.wait_for(&context, &HONEST, target),
        )
        .await;
        let mut failures = sim.conflicts();
        failures.extend(HONEST.iter().filter_map(|&i| {
            sim.halted(i)
                .map(|why| format!("validator {i} halted: {why}"))
        }));
        if !live {
            let heights: Vec<_> = (0..N).map(|i| sim.height(i)).collect();
            failures.push(format!(
                "no progress to height {target}: heights {heights:?}"
            ));
        }
        drop(handles);
        (live, failures)
    });
    let safe = failures.iter().all(|f| f.starts_with("no progress"));
    FaultsOutcome {
        seed,
        fault,
        safe,
        live,
        detail: (!failures.is_empty()).then(|| failures.join("; ")),
    }
}
