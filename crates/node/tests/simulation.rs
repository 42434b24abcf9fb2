//! Whole chains on the deterministic runtime: partitions, crashes, message loss, Byzantine
//! validators, a diverging genesis and slow execution.

use agora_node::simulation::{faults_run, good, Fault, Sim, SimConfig, N};
use commonware_codec::Encode;
use commonware_cryptography::Signer;
use commonware_macros::select;
use commonware_p2p::simulated::Link;
use commonware_runtime::{deterministic, Clock, Runner as _};
use std::time::Duration;

fn with_fault(i: usize, fault: Fault) -> SimConfig {
    let mut faults = [Fault::Honest; N];
    faults[i] = fault;
    SimConfig {
        faults,
        ..SimConfig::default()
    }
}

#[test]
fn partition_then_heal() {
    deterministic::Runner::timed(Duration::from_secs(300)).start(|context| async move {
        let mut sim = Sim::new(&context, SimConfig::default()).await.unwrap();
        sim.link(good(), |_, _| true).await;
        let handles: Vec<_> = (0..N).map(|i| sim.start(&context, i, 0)).collect();
        sim.wait_for(&context, &[0, 1, 2, 3], 10).await;

        // Two halves of two: neither has the 3 votes a quorum needs.
        sim.link(good(), |i, j| (i < 2) == (j < 2)).await;
        context.sleep(Duration::from_secs(2)).await;
        let stalled = (0..N).map(|i| sim.height(i)).max().unwrap();
        context.sleep(Duration::from_secs(20)).await;
        let after = (0..N).map(|i| sim.height(i)).max().unwrap();
        assert_eq!(stalled, after, "a minority must not finalize");

        sim.link(good(), |_, _| true).await;
        sim.wait_for(&context, &[0, 1, 2, 3], after + 10).await;
        assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
        let roots: Vec<_> = (1..=after + 10)
            .map(|h| {
                sim.validators[0].executors[0]
                    .block(h)
                    .unwrap()
                    .unwrap()
                    .state_root
            })
            .collect();
        // Transactions kept executing: the state moved.
        assert_ne!(roots.first(), roots.last());
        drop(handles);
    });
}

#[test]
fn crashed_validator_catches_up() {
    deterministic::Runner::timed(Duration::from_secs(300)).start(|context| async move {
        let mut sim = Sim::new(&context, SimConfig::default()).await.unwrap();
        sim.link(good(), |_, _| true).await;
        let mut handles: Vec<_> = (0..N).map(|i| sim.start(&context, i, 0)).collect();
        sim.wait_for(&context, &[0, 1, 2, 3], 5).await;

        handles[3].abort();
        let crashed_at = sim.height(3);
        sim.wait_for(&context, &[0, 1, 2], crashed_at + 20).await;
        assert!(
            sim.height(3) <= crashed_at + 1,
            "a crashed validator does not move"
        );

        handles[3] = sim.start(&context, 3, 1);
        let target = (0..3).map(|i| sim.height(i)).max().unwrap() + 5;
        sim.wait_for(&context, &[0, 1, 2, 3], target).await;
        assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
        let roots: Vec<_> = (0..N)
            .map(|i| {
                sim.validators[i].executors[0]
                    .block(target)
                    .unwrap()
                    .unwrap()
                    .state_root
            })
            .collect();
        assert!(roots.windows(2).all(|w| w[0] == w[1]), "{roots:?}");
    });
}

fn lossy_run(seed: u64) -> Vec<String> {
    let cfg = deterministic::Config::default()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let mut sim = Sim::new(&context, SimConfig::default()).await.unwrap();
        let lossy = Link {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(40),
            success_rate: 0.8,
        };
        sim.link(lossy, |_, _| true).await;
        let _handles: Vec<_> = (0..N).map(|i| sim.start(&context, i, 0)).collect();
        select! {
            _ = sim.wait_for(&context, &[0, 1, 2, 3], 15) => {},
            _ = context.sleep(Duration::from_secs(500)) => panic!("no liveness under 20% message loss"),
        }
        assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
        (1..=15)
            .map(|h| sim.validators[0].executors[0].block(h).unwrap().unwrap().state_root)
            .collect()
    })
}

#[test]
fn message_loss_is_safe_live_and_reproducible() {
    let first = lossy_run(7);
    assert_eq!(first.len(), 15);
    assert_eq!(first, lossy_run(7), "the same seed replays the same chain");
}

/// Runs 4 validators, validator 3 with `fault`, until the honest ones executed `height`;
/// returns the simulation's verdicts: (blocks finalized from validator 3's proposals, why
/// validator 3 halted).
fn byzantine_run(fault: Fault, height: u64) -> (usize, Option<String>) {
    deterministic::Runner::timed(Duration::from_secs(900)).start(|context| async move {
        let mut sim = Sim::new(&context, with_fault(3, fault)).await.unwrap();
        sim.link(good(), |_, _| true).await;
        let _handles: Vec<_> = (0..N).map(|i| sim.start(&context, i, 0)).collect();
        sim.wait_for(&context, &[0, 1, 2], height).await;
        assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
        let byzantine = hex::encode(sim.validators[3].key.public_key().encode());
        let executor = &sim.validators[0].executors[0];
        let from_byzantine = (1..=height)
            .filter(|h| executor.block(*h).unwrap().unwrap().proposer == byzantine)
            .count();
        (from_byzantine, sim.halted(3))
    })
}

#[test]
fn a_proposal_with_a_wrong_state_root_is_never_notarized() {
    // Validator 3 leads every fourth view: 40 heights take about 13 of its views.
    let (from_byzantine, _) = byzantine_run(Fault::WrongRoot, 40);
    assert_eq!(from_byzantine, 0);
}

#[test]
fn proposals_with_forged_signatures_future_timestamps_or_oversized_are_refused() {
    for fault in [
        Fault::BadSignature,
        Fault::FutureTimestamp,
        Fault::Oversized,
    ] {
        let (from_byzantine, halted) = byzantine_run(fault, 30);
        assert_eq!(from_byzantine, 0, "{fault:?}");
        assert_eq!(halted, None, "{fault:?}");
    }
}

#[test]
fn an_equivocating_validator_breaks_neither_safety_nor_liveness() {
    // Safety (no conflicting block or root at any height) is checked inside the run.
    let (_, halted) = byzantine_run(Fault::Equivocator, 40);
    assert_eq!(halted, None);
}

#[test]
fn a_validator_with_another_genesis_halts_and_the_others_go_on() {
    let (_, halted) = byzantine_run(Fault::OtherGenesis, 20);
    let halted = halted.expect("the diverging validator must halt");
    assert!(halted.contains("genesis"), "{halted}");
}

#[test]
fn slow_execution_does_not_hold_back_finality() {
    deterministic::Runner::timed(Duration::from_secs(300)).start(|context| async move {
        let config = SimConfig {
            execution_delay: Duration::from_millis(400),
            ..SimConfig::default()
        };
        let mut sim = Sim::new(&context, config).await.unwrap();
        sim.link(good(), |_, _| true).await;
        let _handles: Vec<_> = (0..N).map(|i| sim.start(&context, i, 0)).collect();
        context.sleep(Duration::from_secs(30)).await;
        // Finality runs at the network's pace while each block takes 400 ms to execute.
        let (tip, executed) = (
            sim.validators[0]
                .tip
                .load(std::sync::atomic::Ordering::Relaxed),
            sim.height(0),
        );
        assert!(executed >= 10, "execution progresses: {executed}");
        assert!(tip >= 2 * executed, "finalized {tip}, executed {executed}");
        assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
    });
}

#[test]
fn fault_scenarios_are_safe_live_and_reproducible() {
    // 130 and 199 stalled an honest validator while proposals it could not check yet were
    // refused rather than waited for.
    for seed in [0, 130, 199] {
        let outcome = faults_run(seed);
        assert!(outcome.safe && outcome.live, "{outcome:?}");
    }
    assert_eq!(faults_run(1), faults_run(1), "a seed replays exactly");
}
