//! Deterministic simulation of an Agora chain: validators on Commonware's deterministic runtime
//! and simulated network, each with its own executor, under partitions, crashes, message loss
//! and Byzantine validators ([`Fault`]). Used by the tests and by `agora bench faults`.
//!
//! Checked: safety (no two validators execute different blocks or reach different state roots
//! at one height) and liveness (the honest validators keep finalizing once a quorum can talk).

mod byzantine;
mod run;

pub use byzantine::{Byzantine, Fault};
pub use run::{faults_run, FaultsOutcome};

use crate::node::{executed_root, executed_state, executor_with_modules};
use agora_bank::BankCall;
use agora_consensus::{
    App, Application, BlockTiming, ChainGenesis, Config, Engine, EngineError, Execution, Ledger,
    Timeouts, TxPool,
};
use agora_ledger::{Executor, ModuleGenesis};
use agora_types::{Block, ExecutedState, Keypair, SignedTransaction, StateRoot, Transaction};
use commonware_consensus::{marshal, types::ViewDelta};
use commonware_cryptography::{ed25519, Digestible, Hasher, Sha256, Signer};
use commonware_p2p::{
    simulated::{self, Link, Network, Oracle, SplitOrigin, SplitTarget},
    Manager as _, Receiver, Recipients, Sender,
};
use commonware_runtime::{deterministic, Clock, Handle, Metrics, Spawner};
use commonware_utils::{ordered::Set, NZU32};
use governor::Quota;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

pub const CHAIN: &str = "agora-sim";
/// Validators of a simulated chain: one fault is tolerated.
pub const N: usize = 4;
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
                let call = BankCall::Transfer {
                    to,
                    amount: 1 + nonce % 7,
                };
                out.push(
                    Transaction {
                        chain_id: CHAIN.into(),
                        sender: key.address(),
                        nonce,
                        call: call.into_call(),
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

/// What the validators executed, shared to check agreement.
#[derive(Default)]
pub struct Observed {
    /// height -> validator -> (block digest, state root after it).
    pub executed: BTreeMap<u64, BTreeMap<String, (String, String)>>,
    pub conflicts: Vec<String>,
    /// Validators that halted, with why.
    pub halted: BTreeMap<String, String>,
    /// Blocks handed to a ledger whose predecessor it had not finished executing.
    pub overlapping: u64,
}

/// A validator's executor, recording what it executes; `delay` simulates slow execution.
#[derive(Clone)]
struct SimLedger {
    name: String,
    executor: Arc<Executor>,
    observed: Arc<Mutex<Observed>>,
    context: deterministic::Context,
    delay: Duration,
    tip: Arc<AtomicU64>,
}

fn lock(observed: &Mutex<Observed>) -> std::sync::MutexGuard<'_, Observed> {
    observed.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ledger for SimLedger {
    async fn finalized(&self, block: Block) -> Result<(), String> {
        self.context.sleep(self.delay).await;
        let applied = self
            .executor
            .apply_block(&block)
            .map_err(|e| e.to_string())?;
        let Some(applied) = applied else {
            return Ok(());
        };
        let digest = hex::encode(block.digest());
        let root = applied.record.state_root;
        let mut observed = lock(&self.observed);
        let at = observed.executed.entry(block.height).or_default();
        let conflict = at
            .iter()
            .find(|(_, seen)| seen.0 != digest || seen.1 != root)
            .map(|(other, seen)| {
                format!(
                    "height {}: {} has ({digest}, {root}) but {other} has {seen:?}",
                    block.height, self.name
                )
            });
        at.insert(self.name.clone(), (digest, root));
        observed.conflicts.extend(conflict);
        if self.tip.load(Ordering::Relaxed) > block.height + 1 {
            observed.overlapping += 1;
        }
        Ok(())
    }

    fn tip(&self, height: u64) {
        self.tip.fetch_max(height, Ordering::Relaxed);
    }

    fn executed(&self) -> Result<ExecutedState, String> {
        executed_state(&self.executor)
    }

    fn state_root(&self, height: u64) -> Result<Option<StateRoot>, String> {
        executed_root(&self.executor, height)
    }
}

/// One simulated validator: its key, fault and (for a twin pair, one per twin) executors, which
/// survive crashes like a disk would.
pub struct Validator {
    pub key: ed25519::PrivateKey,
    pub fault: Fault,
    pub executors: Vec<Arc<Executor>>,
    genesis: ChainGenesis,
    /// The latest finalized height marshal reported.
    pub tip: Arc<AtomicU64>,
}

/// Settings of a simulated chain.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Each validator's fault.
    pub faults: [Fault; N],
    /// How long each validator takes to execute a block.
    pub execution_delay: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            faults: [Fault::Honest; N],
            execution_delay: Duration::ZERO,
        }
    }
}

pub struct Sim {
    oracle: Oracle<ed25519::PublicKey, deterministic::Context>,
    pub validators: Vec<Validator>,
    participants: Set<ed25519::PublicKey>,
    pub observed: Arc<Mutex<Observed>>,
    execution_delay: Duration,
}

/// The chain's genesis, with `bump` added to the first sender's balance.
fn module_genesis(bump: u64) -> ModuleGenesis {
    let balances: serde_json::Map<_, _> = senders()
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let extra = if i == 0 { bump } else { 0 };
            (k.address().to_string(), (1_000_000u64 + extra).into())
        })
        .collect();
    [(
        "bank".to_string(),
        serde_json::json!({ "balances": balances }),
    )]
    .into_iter()
    .collect()
}

fn new_executor(genesis: &ModuleGenesis) -> Result<Arc<Executor>, String> {
    let executor = executor_with_modules(
        Executor::in_memory(CHAIN).map_err(|e| e.to_string())?,
        agora_types::FeeSchedule::default(),
    );
    executor
        .init_genesis(genesis, 0)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(executor))
}

impl Sim {
    pub async fn new(context: &deterministic::Context, config: SimConfig) -> Result<Self, String> {
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
        let first = participants.iter().min().cloned().ok_or("no validators")?;
        let mut validators = Vec::new();
        for (key, fault) in keys.into_iter().zip(config.faults) {
            let bump = u64::from(fault == Fault::OtherGenesis);
            let modules = module_genesis(bump);
            let twins = if fault == Fault::Equivocator { 2 } else { 1 };
            let executors = (0..twins)
                .map(|_| new_executor(&modules))
                .collect::<Result<Vec<_>, _>>()?;
            let genesis = ChainGenesis {
                chain_id: CHAIN.into(),
                time: 0,
                digest: Sha256::hash(&serde_json::to_vec(&modules).unwrap_or_default()),
                root: executed_root(&executors[0], 0)?.ok_or("no genesis record")?,
                first_validator: first.clone(),
            };
            validators.push(Validator {
                key,
                fault,
                executors,
                genesis,
                tip: Arc::default(),
            });
        }
        Ok(Self {
            oracle,
            validators,
            participants,
            observed: Arc::default(),
            execution_delay: config.execution_delay,
        })
    }

    /// Links every pair of validators for which `connected` holds, and unlinks the others.
    pub async fn link(&mut self, link: Link, connected: impl Fn(usize, usize) -> bool) {
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
                    // Both keys are registered participants: linking cannot fail.
                    let _ = self.oracle.add_link(a, b, link.clone()).await;
                }
            }
        }
    }

    /// Starts validator `i` in a task of its own; aborting the handle crashes it (every task it
    /// spawned stops with it). `run` numbers its starts, as metric labels must be unique.
    pub fn start(&self, context: &deterministic::Context, i: usize, run: usize) -> Handle<()> {
        let validator = &self.validators[i];
        let (key, fault) = (validator.key.clone(), validator.fault);
        let participants = self.participants.clone();
        let control = self.oracle.control(key.public_key());
        let me = self.clone_parts(i);
        // The equivocator's twins split the other validators between them.
        let others: Vec<_> = participants
            .iter()
            .filter(|k| **k != key.public_key())
            .cloned()
            .collect();
        let (first_half, second_half) = (others[..1].to_vec(), others[1..].to_vec());
        context
            .with_label(&format!("validator_{i}_run_{run}"))
            .spawn(move |context| async move {
                let mut channels = Vec::new();
                for channel in 0..5 {
                    match control.register(channel, QUOTA).await {
                        Ok(c) => channels.push(c),
                        Err(e) => return me.halted(format!("cannot register a channel: {e}")),
                    }
                }
                if fault != Fault::Equivocator {
                    let result = me.run(&context, 0, channels).await;
                    return me.report(0, result);
                }
                let (mut primary, mut secondary) = (Vec::new(), Vec::new());
                for (sender, receiver) in channels {
                    let (a, b) = (first_half.clone(), second_half.clone());
                    let forward = move |origin: SplitOrigin, _: &Recipients<_>, _: &_| {
                        Some(Recipients::Some(match origin {
                            SplitOrigin::Primary => a.clone(),
                            SplitOrigin::Secondary => b.clone(),
                        }))
                    };
                    let (sa, sb) = sender.split_with(forward);
                    let a = first_half.clone();
                    let route = move |(from, _): &(ed25519::PublicKey, _)| {
                        if a.contains(from) {
                            SplitTarget::Primary
                        } else {
                            SplitTarget::Secondary
                        }
                    };
                    let (ra, rb) = receiver.split_with(context.with_label("split"), route);
                    primary.push((sa, ra));
                    secondary.push((sb, rb));
                }
                let twin = me.clone();
                let other = context.with_label("twin");
                let second = other.spawn(move |other| async move {
                    let result = twin.run(&other, 1, secondary).await;
                    twin.report(1, result)
                });
                let result = me.run(&context, 0, primary).await;
                me.report(0, result);
                let _ = second.await;
            })
    }

    fn clone_parts(&self, i: usize) -> Starter {
        let v = &self.validators[i];
        Starter {
            index: i,
            key: v.key.clone(),
            fault: v.fault,
            executors: v.executors.clone(),
            genesis: v.genesis.clone(),
            tip: v.tip.clone(),
            participants: self.participants.clone(),
            oracle: self.oracle.clone(),
            observed: self.observed.clone(),
            delay: self.execution_delay,
        }
    }

    /// The height validator `i` executed (its first twin's, for an equivocator).
    pub fn height(&self, i: usize) -> u64 {
        self.validators[i].executors[0]
            .last_applied_height()
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Waits (in simulated time) until every listed validator executed `height`.
    pub async fn wait_for(&self, context: &deterministic::Context, who: &[usize], height: u64) {
        while who.iter().any(|&i| self.height(i) < height) {
            context.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Safety violations seen so far.
    pub fn conflicts(&self) -> Vec<String> {
        lock(&self.observed).conflicts.clone()
    }

    /// Why validator `i` halted, if it did.
    pub fn halted(&self, i: usize) -> Option<String> {
        lock(&self.observed).halted.get(&name(i, 0)).cloned()
    }
}

fn name(i: usize, twin: usize) -> String {
    format!("validator {i}.{twin}")
}

/// What a validator's task needs to start its engines.
#[derive(Clone)]
struct Starter {
    index: usize,
    key: ed25519::PrivateKey,
    fault: Fault,
    executors: Vec<Arc<Executor>>,
    genesis: ChainGenesis,
    tip: Arc<AtomicU64>,
    participants: Set<ed25519::PublicKey>,
    oracle: Oracle<ed25519::PublicKey, deterministic::Context>,
    observed: Arc<Mutex<Observed>>,
    delay: Duration,
}

impl Starter {
    fn halted(&self, why: String) {
        lock(&self.observed).halted.insert(name(self.index, 0), why);
    }

    fn report(&self, twin: usize, result: Result<(), EngineError>) {
        if let Err(e) = result {
            lock(&self.observed)
                .halted
                .insert(name(self.index, twin), e.to_string());
        }
    }

    /// Runs one engine (twin `twin`) on `channels` until it stops.
    async fn run<S, R>(
        &self,
        context: &deterministic::Context,
        twin: usize,
        channels: Vec<(S, R)>,
    ) -> Result<(), EngineError>
    where
        S: Sender<PublicKey = ed25519::PublicKey>,
        R: Receiver<PublicKey = ed25519::PublicKey>,
    {
        let executor = self.executors[twin].clone();
        let ledger = SimLedger {
            name: name(self.index, twin),
            executor: executor.clone(),
            observed: self.observed.clone(),
            context: context.clone(),
            delay: self.delay,
            tip: self.tip.clone(),
        };
        let pool = Workload {
            executor,
            senders: Arc::new(senders()),
        };
        let timing = BlockTiming {
            min_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(200),
            max_future: Duration::from_millis(500),
            max_state_wait: Duration::from_millis(500),
        };
        let (honest, execution) = Application::new(&self.genesis, pool, ledger, timing);
        let prefix = format!("validator-{}-{twin}", self.index);
        match self.fault {
            Fault::Honest | Fault::Equivocator | Fault::OtherGenesis => {
                self.engine(context, &prefix, honest, execution, channels)
                    .await
            }
            fault => {
                let byzantine = Byzantine { honest, fault };
                self.engine(context, &prefix, byzantine, execution, channels)
                    .await
            }
        }
    }

    async fn engine<A, L, S, R>(
        &self,
        context: &deterministic::Context,
        prefix: &str,
        application: A,
        execution: Execution<L>,
        channels: Vec<(S, R)>,
    ) -> Result<(), EngineError>
    where
        A: App<deterministic::Context>,
        L: Ledger,
        S: Sender<PublicKey = ed25519::PublicKey>,
        R: Receiver<PublicKey = ed25519::PublicKey>,
    {
        let control = self.oracle.control(self.key.public_key());
        let manager = self.oracle.manager();
        let engine = Engine::new(
            context.with_label("engine"),
            Config {
                chain_id: CHAIN.into(),
                signer: self.key.clone(),
                validators: self.participants.clone(),
                blocker: control.clone(),
                provider: manager.clone(),
                partition_prefix: prefix.to_string(),
                application,
                execution,
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
        .await?;
        let mut channels = channels.into_iter();
        let mut next = || channels.next().ok_or(EngineError::Stopped);
        let (votes, certificates, resolver, broadcast, backfill) =
            (next()?, next()?, next()?, next()?, next()?);
        let backfill = marshal::resolver::p2p::init(
            &context.with_label("backfill"),
            marshal::resolver::p2p::Config {
                public_key: self.key.public_key(),
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
        engine
            .start(votes, certificates, resolver, broadcast, backfill)
            .await
            .unwrap_or(Err(EngineError::Stopped))
    }
}

/// A link with 10 ms latency that loses nothing.
pub fn good() -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        success_rate: 1.0,
    }
}
