//! What Agora tells consensus: how to build a block, when a block is valid, and what to do
//! with a finalized one.

use crate::execution::{Execution, Finalized};
use agora_types::{
    Block, Context, Digest, ExecutedState, StateRoot, MAX_BLOCK_BYTES, MAX_BLOCK_TXS,
};
use commonware_consensus::{
    marshal::{
        ancestry::{AncestorStream, BlockProvider},
        Update,
    },
    simplex::scheme::ed25519::Scheme,
    types::{Epoch, Round, View},
    Reporter,
};
use commonware_cryptography::{ed25519, Digestible};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::SystemTimeExt;
use futures::{channel::mpsc, StreamExt};
use rand::Rng;
use std::{future::Future, sync::Arc, time::Duration};
use tracing::{error, warn};

/// Where proposals take their transactions from (the node's mempool).
pub trait TxPool: Clone + Send + Sync + 'static {
    /// Transactions for a new block, at most `max_txs` and `max_bytes` in all, each sender's in
    /// nonce order. Returned transactions count as proposed and are not offered again for a
    /// while, so consecutive blocks do not repeat them.
    fn select(&self, max_txs: usize, max_bytes: usize) -> Vec<agora_types::SignedTransaction>;

    /// Whether any transaction is waiting to be proposed.
    fn has_pending(&self) -> bool;
}

/// Where finalized blocks go (the node's executor).
pub trait Ledger: Clone + Send + Sync + 'static {
    /// Executes a finalized block. Called with every finalized block from height 1, in order, at
    /// least once (again after a restart), on the execution task, never inside marshal. Must
    /// have made the block durable before resolving `Ok`; an `Err` halts this validator, since
    /// going on would skip the block.
    fn finalized(&self, block: Block) -> impl Future<Output = Result<(), String>> + Send;

    /// A new finalized tip is known (its block may still be on its way).
    fn tip(&self, height: u64);

    /// The latest executed height and the state root after it (height 0: the genesis state).
    fn executed(&self) -> Result<ExecutedState, String>;

    /// The state root after executing `height`, if executed.
    fn state_root(&self, height: u64) -> Result<Option<StateRoot>, String>;
}

/// What defines a chain: every validator derives block 0 from it alone.
#[derive(Clone, Debug)]
pub struct ChainGenesis {
    pub chain_id: String,
    /// Milliseconds since the Unix epoch: the timestamp of block 0.
    pub time: u64,
    /// A hash of the whole canonical genesis file (validators, balances, modules' parameters).
    pub digest: Digest,
    /// The state root after executing the genesis.
    pub root: StateRoot,
    /// The validator named as the leader of block 0.
    pub first_validator: ed25519::PublicKey,
}

/// When the proposer cuts blocks.
#[derive(Clone, Copy, Debug)]
pub struct BlockTiming {
    /// No block sooner than this after its parent: transactions arriving meanwhile are batched.
    pub min_interval: Duration,
    /// An empty block at least this often, so the chain's clock (block timestamps) advances for
    /// time-guarded calls even when nobody transacts.
    pub max_interval: Duration,
    /// How far ahead of a validator's clock a proposal's timestamp may be.
    pub max_future: Duration,
    /// How long a validator waits for its own execution to reach the height a proposal claims
    /// a state root for; past it, the claim is left to the check at execution.
    pub max_state_wait: Duration,
}

impl Default for BlockTiming {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(1000),
            max_future: Duration::from_millis(2000),
            max_state_wait: Duration::from_millis(2000),
        }
    }
}

/// The epoch Agora runs in: the validator set is fixed by the genesis.
pub const EPOCH: Epoch = Epoch::zero();

/// The [commonware_consensus::Application] of an Agora validator.
#[derive(Clone)]
pub struct Application<P: TxPool, L: Ledger> {
    genesis: Arc<Block>,
    chain_id: Arc<str>,
    pool: P,
    ledger: L,
    timing: BlockTiming,
    /// Finalized blocks on their way to the execution task.
    finalized: mpsc::UnboundedSender<Finalized>,
}

impl<P: TxPool, L: Ledger> Application<P, L> {
    /// The application and the execution task that applies what it finalizes; the engine runs
    /// both ([`crate::Config`]).
    pub fn new(
        genesis: &ChainGenesis,
        pool: P,
        ledger: L,
        timing: BlockTiming,
    ) -> (Self, Execution<L>) {
        let block = genesis_block(genesis);
        let (finalized, blocks) = mpsc::unbounded();
        let execution = Execution::new(ledger.clone(), block.digest(), blocks);
        let application = Self {
            genesis: Arc::new(block),
            chain_id: genesis.chain_id.as_str().into(),
            pool,
            ledger,
            timing,
            finalized,
        };
        (application, execution)
    }

    /// The state a proposal on `parent` claims: the latest executed one, never behind the
    /// parent's claim (a lagging executor repeats it) nor past the parent.
    fn claim(&self, parent: &Block) -> Option<ExecutedState> {
        let executed = match self.ledger.executed() {
            Ok(executed) => executed,
            Err(e) => {
                error!(error = %e, "cannot read the executed state; not proposing");
                return None;
            }
        };
        if executed.height < parent.executed.height || executed.height > parent.height {
            return Some(parent.executed);
        }
        Some(executed)
    }

    /// Whether `block`'s claimed state is ours: advancing from the parent's claim, behind the
    /// block, and equal to our own root at that height once we executed it.
    async fn claim_holds<E: Clock>(&self, runtime: &E, block: &Block, parent: &Block) -> bool {
        let (claim, prior) = (block.executed, parent.executed);
        if claim.height < prior.height || claim.height >= block.height {
            warn!(
                height = block.height,
                claimed = claim.height,
                "proposal claims the state of an impossible height"
            );
            return false;
        }
        // A quorum notarized the parent, so its claim was checked by honest validators already.
        if claim == prior {
            return true;
        }
        // A validator behind the claimed height waits a little for its execution, then votes
        // without checking: refusing (or waiting indefinitely) there stalled lagging validators
        // for good (`agora bench faults`). The claim is checked again at execution.
        let deadline = runtime.current() + self.timing.max_state_wait;
        loop {
            match self.ledger.state_root(claim.height) {
                Ok(Some(root)) if root == claim.root => return true,
                Ok(Some(root)) => {
                    error!(
                        height = block.height,
                        at = claim.height,
                        claimed = %claim.root,
                        ours = %root,
                        "proposal claims a state root that differs from ours"
                    );
                    return false;
                }
                Ok(None) if runtime.current() < deadline => {
                    runtime.sleep(Duration::from_millis(5)).await
                }
                Ok(None) => {
                    warn!(
                        height = block.height,
                        at = claim.height,
                        "proposal claims a state this validator has not executed yet; not checked"
                    );
                    return true;
                }
                Err(e) => {
                    error!(error = %e, "cannot read the executed state");
                    return false;
                }
            }
        }
    }
}

/// The block every validator of a chain starts from: a function of the genesis only. Its parent
/// field is the genesis file's digest and it claims the genesis state root, so chains whose
/// genesis differs in any field have different blocks 0 and a block 1 of one is not a child of
/// the other's block 0.
pub fn genesis_block(genesis: &ChainGenesis) -> Block {
    let context = Context {
        round: Round::new(EPOCH, View::zero()),
        leader: genesis.first_validator.clone(),
        parent: (View::zero(), genesis.digest),
    };
    let executed = ExecutedState {
        height: 0,
        root: genesis.root,
    };
    Block::new(
        context,
        genesis.digest,
        0,
        genesis.time,
        executed,
        Vec::new(),
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl<E, P, L> commonware_consensus::Application<E> for Application<P, L>
where
    E: Rng + Spawner + Metrics + Clock,
    P: TxPool,
    L: Ledger,
{
    type SigningScheme = Scheme;
    type Context = Context;
    type Block = Block;

    async fn genesis(&mut self) -> Block {
        self.genesis.as_ref().clone()
    }

    async fn propose<A: BlockProvider<Block = Block>>(
        &mut self,
        (runtime, context): (E, Context),
        mut ancestry: AncestorStream<A, Block>,
    ) -> Option<Block> {
        let parent = ancestry.next().await?;
        let earliest = parent
            .timestamp
            .saturating_add(millis(self.timing.min_interval));
        let latest = parent
            .timestamp
            .saturating_add(millis(self.timing.max_interval));
        loop {
            let now = runtime.current().epoch_millis();
            if (now >= earliest && self.pool.has_pending()) || now >= latest {
                break;
            }
            runtime.sleep(Duration::from_millis(5)).await;
        }
        let timestamp = runtime.current().epoch_millis().max(parent.timestamp + 1);
        let executed = self.claim(&parent)?;
        // Leave room for the block's own fields next to the transactions.
        let txs = self.pool.select(MAX_BLOCK_TXS, MAX_BLOCK_BYTES - 4096);
        Some(Block::new(
            context,
            parent.digest(),
            parent.height + 1,
            timestamp,
            executed,
            txs,
        ))
    }
}

impl<E, P, L> commonware_consensus::VerifyingApplication<E> for Application<P, L>
where
    E: Rng + Spawner + Metrics + Clock,
    P: TxPool,
    L: Ledger,
{
    async fn verify<A: BlockProvider<Block = Block>>(
        &mut self,
        (runtime, _): (E, Context),
        mut ancestry: AncestorStream<A, Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        // Height and parent digest are checked by marshal; the rest is ours.
        if block.timestamp <= parent.timestamp {
            warn!(
                height = block.height,
                "proposal's timestamp does not advance"
            );
            return false;
        }
        // A timestamp ahead of our clock may become valid: wait for it rather than refuse.
        let ahead = block
            .timestamp
            .saturating_sub(runtime.current().epoch_millis());
        if ahead > millis(self.timing.max_future) {
            warn!(
                height = block.height,
                ahead, "proposal's timestamp is too far ahead"
            );
            return false;
        }
        if ahead > 0 {
            runtime.sleep(Duration::from_millis(ahead)).await;
        }
        if let Err(e) = block.check_limits() {
            warn!(height = block.height, %e, "proposal exceeds limits");
            return false;
        }
        for tx in &block.txs {
            if let Err(e) = tx.check(&self.chain_id) {
                warn!(height = block.height, hash = %tx.hash(), %e, "proposal has an invalid transaction");
                return false;
            }
        }
        self.claim_holds(&runtime, &block, &parent).await
    }
}

impl<P: TxPool, L: Ledger> Reporter for Application<P, L> {
    type Activity = Update<Block>;

    /// Hands finalized blocks to the execution task and returns at once, so marshal keeps
    /// serving consensus while blocks execute; marshal keeps up to its `max_pending_acks`
    /// blocks in flight and records a height as processed when the task acknowledges it.
    async fn report(&mut self, activity: Self::Activity) {
        match activity {
            Update::Tip(_, height, _) => self.ledger.tip(height.get()),
            Update::Block(block, ack) => {
                if self.finalized.unbounded_send((block, ack)).is_err() {
                    // The task stopped on an error it reported; dropping the ack stops marshal.
                    error!("the execution task has stopped; finalized blocks are not executed");
                }
            }
        }
    }
}
