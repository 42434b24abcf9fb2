//! What Agora tells consensus: how to build a block, when a block is valid, and what to do
//! with a finalized one.

use agora_types::{Block, Context, MAX_BLOCK_BYTES, MAX_BLOCK_TXS};
use commonware_consensus::{
    marshal::{
        ancestry::{AncestorStream, BlockProvider},
        Update,
    },
    simplex::scheme::ed25519::Scheme,
    types::{Epoch, Round, View},
    Reporter,
};
use commonware_cryptography::{ed25519, Digestible, Hasher, Sha256};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::{Acknowledgement, SystemTimeExt};
use futures::StreamExt;
use rand::Rng;
use std::{sync::Arc, time::Duration};
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
    /// Called with every finalized block from height 1, in order, at least once (again after a
    /// restart). Must have made the block durable before returning `Ok`; an `Err` stops this
    /// validator's delivery, since going on would skip the block.
    fn finalized(&self, block: &Block) -> Result<(), String>;

    /// A new finalized tip is known (its block may still be on its way).
    fn tip(&self, height: u64);
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
}

impl Default for BlockTiming {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(1000),
            max_future: Duration::from_millis(2000),
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
}

impl<P: TxPool, L: Ledger> Application<P, L> {
    pub fn new(
        chain_id: &str,
        genesis_time: u64,
        first_validator: ed25519::PublicKey,
        pool: P,
        ledger: L,
        timing: BlockTiming,
    ) -> Self {
        Self {
            genesis: Arc::new(genesis_block(chain_id, genesis_time, first_validator)),
            chain_id: chain_id.into(),
            pool,
            ledger,
            timing,
        }
    }
}

/// The block every validator of a chain starts from: a function of the genesis file only.
pub fn genesis_block(
    chain_id: &str,
    genesis_time: u64,
    first_validator: ed25519::PublicKey,
) -> Block {
    let parent = Sha256::hash(chain_id.as_bytes());
    let context = Context {
        round: Round::new(EPOCH, View::zero()),
        leader: first_validator,
        parent: (View::zero(), parent),
    };
    Block::new(context, parent, 0, genesis_time, Vec::new())
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
        // Leave room for the block's own fields next to the transactions.
        let txs = self.pool.select(MAX_BLOCK_TXS, MAX_BLOCK_BYTES - 4096);
        Some(Block::new(
            context,
            parent.digest(),
            parent.height + 1,
            timestamp,
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
        true
    }
}

impl<P: TxPool, L: Ledger> Reporter for Application<P, L> {
    type Activity = Update<Block>;

    async fn report(&mut self, activity: Self::Activity) {
        match activity {
            Update::Tip(_, height, _) => self.ledger.tip(height.get()),
            Update::Block(block, ack) => match self.ledger.finalized(&block) {
                Ok(()) => ack.acknowledge(),
                Err(e) => {
                    error!(height = block.height, error = %e, "cannot apply a finalized block; this validator stops delivering blocks");
                    drop(ack);
                }
            },
        }
    }
}
