//! Deterministic simulation of an Agora chain: 4 validators on Commonware's deterministic
//! runtime and simulated network, each with its own executor, under partitions, a crash and
//! message loss.
//!
//! Checked throughout: safety (no two validators finalize different blocks at one height, and
//! their state roots after each height are equal) and liveness (finality resumes once a quorum
//! can talk again).

use agora_bank::{Bank, BankCall};
use agora_consensus::{Application, BlockTiming, Config, Engine, Ledger, Timeouts, TxPool};
use agora_ledger::{Executor, ModuleGenesis};
use agora_types::{Block, Keypair, SignedTransaction, Transaction};
use commonware_consensus::{marshal, types::ViewDelta};
use commonware_cryptography::{ed25519, Digestible, Signer};
use commonware_macros::select;
use commonware_p2p::{
    simulated::{self, Link, Network, Oracle},
    Manager as _,
};
use commonware_runtime::{deterministic, Clock, Handle, Metrics, Runner as _, Spawner};
use commonware_utils::{ordered::Set, NZU32};
use governor::Quota;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

const CHAIN: &str = "agora-sim";
const N: usize = 4;
const SENDERS: u64 = 8;
const QUOTA: Quota = Quota::per_second(NZU32!(u32::MAX));

fn senders() -> Vec<Keypair> {
    (0..SENDERS).map(|i| Keypair::from_seed(100 + i)).collect()
}

/// Each validator proposes, for every sender, the next few transfers after what its own
/// executor has executed: deterministic, and self-healing when a proposal is skipped.
#[derive(Clone)]
struct Workload {
    executor: Arc<Executor>,
    senders: Arc<Vec<Keypair>>,
}

impl TxPool for Workload {
    fn select(&self, max_txs: usize, _max_bytes: usize) -> Vec<SignedTransaction> {
        let mut out = Vec::new();
        for (i, key) in self.senders.iter().enumerate() {
            let Ok(next) = self.executor.nonce(&key.address()) else {
                continue;
            };
            for nonce in next..next + 3 {
                if out.len() >= max_txs {
                    return out;
                }
                let to = self.senders[(i + 1) % self.senders.len()].address();
                out.push(
                    Transaction {
                        chain_id: CHAIN.into(),
                        sender: key.address(),
                        nonce,
                        call: BankCall::Transfer {
                            to,
                            amount: 1 + nonce % 7,
                        }
                        .into_call(),
                    }
                    .sign(key),
                );
            }
        }
        out
    }

    fn has_pending(&self) -> bool {
        true
    }
}

/// What every validator finalized, shared by the test to check agreement.
#[derive(Default)]
struct Observed {
    /// (height) -> (block digest, state root) per validator.
    finalized: BTreeMap<u64, BTreeMap<usize, (String, String)>>,
    conflicts: Vec<String>,
}

#[derive(Clone)]
struct SimLedger {
    index: usize,
    executor: Arc<Executor>,
    observed: Arc<Mutex<Observed>>,
}

impl Ledger for SimLedger {
    fn finalized(&self, block: &Block) -> Result<(), String> {
        let applied = self
            .executor
            .apply_block(block)
            .map_err(|e| e.to_string())?;
        let Some(applied) = applied else {
            return Ok(());
        };
        let digest = hex::encode(block.digest());
        let mut observed = self.observed.lock().unwrap();
        let others = observed.finalized.entry(block.height).or_default();
        for (other, (d, root)) in others.iter() {
            if *d != digest || *root != applied.record.state_root {
                let conflict = format!(
                    "height {}: validator {} has ({digest}, {}) but validator {other} has ({d}, {root})",
                    block.height, self.index, applied.record.state_root
                );
                observed.conflicts.push(conflict);
                break;
            }
        }
        observed
            .finalized
            .entry(block.height)
            .or_default()
            .insert(self.index, (digest, applied.record.state_root));
        Ok(())
    }

    fn tip(&self, _: u64) {}
}

struct Validator {
    key: ed25519::PrivateKey,
    executor: Arc<Executor>,
}

struct Sim {
    oracle: Oracle<ed25519::PublicKey, deterministic::Context>,
    validators: Vec<Validator>,
    participants: Set<ed25519::PublicKey>,
    observed: Arc<Mutex<Observed>>,
}

fn genesis() -> ModuleGenesis {
    let balances: serde_json::Map<_, _> = senders()
        .iter()
        .map(|k| (k.address().to_string(), 1_000_000u64.into()))
        .collect();
    [(
        "bank".to_string(),
        serde_json::json!({ "balances": balances }),
    )]
    .into_iter()
    .collect()
}

impl Sim {
    async fn new(context: &deterministic::Context) -> Self {
        let (network, oracle) = Network::new(
            context.with_label("network"),
            simulated::Config {
                max_size: 8 * 1024 * 1024,
                disconnect_on_block: true,
                tracked_peer_sets: Some(1),
            },
        );
        network.start();
        let keys: Vec<_> = (0..N as u64).map(ed25519::PrivateKey::from_seed).collect();
        let participants = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        oracle.manager().track(0, participants.clone()).await;
        let validators = keys
            .into_iter()
            .map(|key| {
                let executor = Executor::in_memory(CHAIN).unwrap().with_module(Bank);
                executor.init_genesis(&genesis(), 0).unwrap();
                Validator {
                    key,
                    executor: Arc::new(executor),
                }
            })
            .collect();
        Self {
            oracle,
            validators,
            participants,
            observed: Arc::default(),
        }
    }

    async fn link(&mut self, link: Link, connected: impl Fn(usize, usize) -> bool) {
        for i in 0..N {
            for j in 0..N {
                if i == j {
                    continue;
                }
                let (a, b) = (
                    self.validators[i].key.public_key(),
                    self.validators[j].key.public_key(),
                );
                let _ = self.oracle.remove_link(a.clone(), b.clone()).await;
                if connected(i, j) {
                    self.oracle.add_link(a, b, link.clone()).await.unwrap();
                }
            }
        }
    }

    /// Starts validator `i` in a task of its own; aborting the handle crashes it (every task
    /// it spawned stops with it), its storage and executor survive like a disk would.
    /// `run` numbers its starts, as metric labels must be unique.
    fn start(&self, context: &deterministic::Context, i: usize, run: usize) -> Handle<()> {
        let key = self.validators[i].key.clone();
        let executor = self.validators[i].executor.clone();
        let observed = self.observed.clone();
        let participants = self.participants.clone();
        let control = self.oracle.control(key.public_key());
        let manager = self.oracle.manager();
        let first = participants.iter().min().cloned().unwrap();
        context
            .with_label(&format!("validator_{i}_run_{run}"))
            .spawn(move |context| async move {
                let mut channels = Vec::new();
                for channel in 0..5 {
                    channels.push(control.register(channel, QUOTA).await.unwrap());
                }
                let mut channels = channels.into_iter();
                let mut next = || channels.next().unwrap();
                let (votes, certificates, resolver, broadcast, backfill) =
                    (next(), next(), next(), next(), next());
                let application = Application::new(
                    CHAIN,
                    0,
                    first,
                    Workload {
                        executor: executor.clone(),
                        senders: Arc::new(senders()),
                    },
                    SimLedger {
                        index: i,
                        executor,
                        observed,
                    },
                    BlockTiming {
                        min_interval: Duration::from_millis(20),
                        max_interval: Duration::from_millis(200),
                        max_future: Duration::from_millis(500),
                    },
                );
                let engine = Engine::new(
                    context.with_label("engine"),
                    Config {
                        signer: key.clone(),
                        validators: participants,
                        blocker: control.clone(),
                        provider: manager.clone(),
                        partition_prefix: format!("validator-{i}"),
                        application,
                        timeouts: Timeouts {
                            leader: Duration::from_secs(1),
                            certification: Duration::from_secs(2),
                            nullify_retry: Duration::from_secs(5),
                            fetch: Duration::from_secs(1),
                            activity: ViewDelta::new(10),
                            skip: ViewDelta::new(5),
                        },
                        mailbox_size: 1024,
                    },
                )
                .await
                .unwrap();
                let backfill = marshal::resolver::p2p::init(
                    &context.with_label("backfill"),
                    marshal::resolver::p2p::Config {
                        public_key: key.public_key(),
                        peer_provider: manager,
                        blocker: control,
                        mailbox_size: 1024,
                        initial: Duration::from_millis(500),
                        timeout: Duration::from_secs(2),
                        fetch_retry_timeout: Duration::from_millis(100),
                        priority_requests: false,
                        priority_responses: false,
                    },
                    backfill,
                );
                let _ = engine
                    .start(votes, certificates, resolver, broadcast, backfill)
                    .await;
            })
    }

    fn height(&self, i: usize) -> u64 {
        self.validators[i]
            .executor
            .last_applied_height()
            .unwrap()
            .unwrap_or(0)
    }

    /// Waits (in simulated time) until every listed validator executed `height`.
    async fn wait_for(&self, context: &deterministic::Context, who: &[usize], height: u64) {
        while who.iter().any(|&i| self.height(i) < height) {
            context.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Safety: no conflicting block or state root at any height; returns every height's root.
    fn check_safety(&self) -> Vec<(u64, String)> {
        let observed = self.observed.lock().unwrap();
        assert!(observed.conflicts.is_empty(), "{:?}", observed.conflicts);
        observed
            .finalized
            .iter()
            .map(|(h, by)| (*h, by.values().next().unwrap().1.clone()))
            .collect()
    }
}

fn good() -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        success_rate: 1.0,
    }
}

#[test]
fn partition_then_heal() {
    deterministic::Runner::timed(Duration::from_secs(300)).start(|context| async move {
        let mut sim = Sim::new(&context).await;
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
        let roots = sim.check_safety();
        assert!(roots.len() as u64 >= after + 10);
        // Transactions kept executing: the state moved.
        assert_ne!(roots.first().unwrap().1, roots.last().unwrap().1);
        drop(handles);
    });
}

#[test]
fn crashed_validator_catches_up() {
    deterministic::Runner::timed(Duration::from_secs(300)).start(|context| async move {
        let mut sim = Sim::new(&context).await;
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
        sim.check_safety();
        let roots: Vec<_> = (0..N)
            .map(|i| {
                sim.validators[i]
                    .executor
                    .block(target)
                    .unwrap()
                    .unwrap()
                    .state_root
            })
            .collect();
        assert!(roots.windows(2).all(|w| w[0] == w[1]), "{roots:?}");
    });
}

fn lossy_run(seed: u64) -> Vec<(u64, String)> {
    let cfg = deterministic::Config::default()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let mut sim = Sim::new(&context).await;
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
        let roots = sim.check_safety();
        roots.into_iter().filter(|(h, _)| *h <= 15).collect()
    })
}

#[test]
fn message_loss_is_safe_live_and_reproducible() {
    let first = lossy_run(7);
    assert_eq!(first.len(), 15);
    assert_eq!(first, lossy_run(7), "the same seed replays the same chain");
}
