//! Running a validator from its home directory.

use crate::{
    config::NodeConfig,
    genesis::{Genesis, GenesisError, Home},
    mempool::Mempool,
    metrics::NodeMetrics,
    queries::QueryGate,
    rpc::RpcState,
};
use agora_allocation::Allocation;
use agora_bank::Bank;
use agora_compute::Compute;
use agora_consensus::{
    network::{run_validator, NetworkConfig},
    Application, ChainGenesis, EngineError, Ledger,
};
use agora_energy::Energy;
use agora_ledger::{AppliedBlock, Executor, ExecutorError};
use agora_stream::Stream;
use agora_types::{Block, ExecutedState, FeeSchedule, StateRoot};
use commonware_runtime::Runner as _;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};
use tokio::sync::broadcast;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0} is not a node home (no genesis.json and node.key); run `agora devnet` or `agora node` on an empty directory")]
    NotInitialized(String),
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error(transparent)]
    Key(#[from] agora_types::KeyFileError),
    #[error("this node's key {0} is not a validator in the genesis")]
    NotAValidator(agora_types::Address),
    #[error(transparent)]
    State(#[from] ExecutorError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot read the genesis state: {0}")]
    GenesisState(String),
    #[error("cannot serve RPC on {addr}: {source}")]
    Rpc {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The modules every Agora node runs and the fees it charges through the bank, in one place
/// so nodes and tools agree.
pub fn executor_with_modules(executor: Executor, fees: FeeSchedule) -> Executor {
    executor
        .with_module(Bank)
        .with_module(Energy)
        .with_module(Allocation)
        .with_module(Stream)
        .with_module(Compute)
        .with_fees(fees, Bank)
}

/// Executes finalized blocks for consensus and tells the mempool and subscribers.
#[derive(Clone)]
struct NodeLedger {
    executor: Arc<Executor>,
    mempool: Mempool,
    applied: broadcast::Sender<Arc<AppliedBlock>>,
    tip: Arc<AtomicU64>,
    metrics: Arc<NodeMetrics>,
}

impl NodeLedger {
    /// Applies a block (blocking: redb writes and syncs).
    fn apply(&self, block: &Block) -> Result<(), String> {
        let start = std::time::Instant::now();
        let Some(applied) = self
            .executor
            .apply_block(block)
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        self.metrics.on_block(&applied, start.elapsed());
        self.mempool
            .on_block_applied(block.txs.iter().map(|tx| tx.tx.sender));
        if block.height.is_multiple_of(1000) || !block.txs.is_empty() {
            info!(height = block.height, txs = block.txs.len(), root = %applied.record.state_root, "applied block");
        }
        // Nobody listening is fine.
        let _ = self.applied.send(Arc::new(applied));
        Ok(())
    }
}

/// Reads the executor's state root after `height`, if executed.
pub fn executed_root(executor: &Executor, height: u64) -> Result<Option<StateRoot>, String> {
    let Some(record) = executor.block(height).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let bytes: [u8; 32] = hex::decode(&record.state_root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("the record of block {height} holds a corrupt state root"))?;
    Ok(Some(StateRoot::from(bytes)))
}

/// The latest executed height and its root.
pub fn executed_state(executor: &Executor) -> Result<ExecutedState, String> {
    let height = executor
        .last_applied_height()
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    let root = executed_root(executor, height)?
        .ok_or_else(|| format!("no record of executed block {height}"))?;
    Ok(ExecutedState { height, root })
}

impl Ledger for NodeLedger {
    async fn finalized(&self, block: Block) -> Result<(), String> {
        let ledger = self.clone();
        tokio::task::spawn_blocking(move || ledger.apply(&block))
            .await
            .map_err(|e| format!("the execution thread failed: {e}"))?
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

/// Runs the validator whose home is `home` with `config` until the process is stopped.
pub fn run(home: &Home, config: &NodeConfig) -> Result<(), NodeError> {
    if !home.is_initialized() {
        return Err(NodeError::NotInitialized(home.0.display().to_string()));
    }
    let genesis = Genesis::read(&home.genesis())?;
    let key = home.read_key()?;
    let me = genesis
        .validators
        .iter()
        .find(|v| v.key == key.address())
        .cloned()
        .ok_or(NodeError::NotAValidator(key.address()))?;
    let executor = Arc::new(executor_with_modules(
        Executor::open(&home.state(), &genesis.chain_id)?,
        genesis.fees,
    ));
    executor.init_genesis(&genesis.modules, genesis.genesis_time)?;
    let limits = config.limits.clone();
    let mempool = Mempool::new(executor.clone(), limits.mempool);
    let (applied, _) = broadcast::channel(4096);
    let tip = Arc::new(AtomicU64::new(0));
    let metrics = Arc::new(NodeMetrics::new(executor.module_names()));
    let ledger = NodeLedger {
        executor: executor.clone(),
        mempool: mempool.clone(),
        applied: applied.clone(),
        tip: tip.clone(),
        metrics: metrics.clone(),
    };
    let keys = genesis
        .validator_keys()
        .ok_or_else(|| NodeError::NotAValidator(key.address()))?;
    let first = genesis
        .first_validator()
        .ok_or_else(|| NodeError::NotAValidator(key.address()))?;
    let chain = ChainGenesis {
        chain_id: genesis.chain_id.clone(),
        time: genesis.genesis_time,
        digest: genesis.digest(),
        root: executed_root(&executor, 0)
            .and_then(|root| root.ok_or_else(|| "no genesis record".to_string()))
            .map_err(NodeError::GenesisState)?,
        first_validator: first,
    };
    let application = Application::new(&chain, mempool.clone(), ledger, config.block.timing());
    let rpc = RpcState {
        executor: executor.clone(),
        mempool,
        applied,
        tip,
        validators: genesis
            .validators
            .iter()
            .map(|v| v.key.to_string())
            .collect(),
        metrics: metrics.clone(),
        queries: QueryGate::new(&config.limits.rpc),
    };
    let network = NetworkConfig {
        chain_id: genesis.chain_id.clone(),
        signer: key.private_key().clone(),
        listen: config.p2p_listen.unwrap_or(me.p2p),
        validators: keys
            .into_iter()
            .zip(genesis.validators.iter().map(|v| v.p2p))
            .collect(),
    };
    let runtime = commonware_runtime::tokio::Config::new()
        .with_storage_directory(home.consensus())
        .with_tcp_nodelay(Some(true))
        .with_catch_panics(false);
    let rpc_listen = config.rpc_listen.unwrap_or(me.rpc);
    let timeouts = config.consensus.timeouts();
    commonware_runtime::tokio::Runner::new(runtime).start(|context| async move {
        metrics.attach_runtime(context.clone());
        let (rpc_listen, _rpc) = crate::rpc::serve(rpc_listen, rpc, &limits.rpc)
            .await
            .map_err(|source| NodeError::Rpc {
                addr: rpc_listen,
                source,
            })?;
        info!(rpc = %rpc_listen, p2p = %network.listen, chain = %genesis.chain_id, height = executor.last_applied_height()?.unwrap_or(0), "validator started");
        tokio::spawn(stop_on_signal());
        run_validator(context, network, application, timeouts).await?;
        Ok(())
    })
}

/// Exits on SIGINT or SIGTERM. Every write of a node is atomic (redb transactions, Commonware's
/// journals), so stopping at any point loses nothing that was acknowledged.
async fn stop_on_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        warn!("cannot listen for SIGTERM");
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    info!("stopping");
    std::process::exit(0);
}
