//! The execution task: applies finalized blocks outside marshal's loop and acknowledges each one
//! once the [`Ledger`] made it durable. Any failure stops the task with an error, and the engine
//! stops the validator with it rather than leave consensus running on a frozen state.

use crate::application::Ledger;
use agora_types::{Block, Digest};
use commonware_utils::{acknowledgement::Exact, Acknowledgement};
use futures::{channel::mpsc, StreamExt};
use tracing::debug;

/// A finalized block and the acknowledgement marshal waits for.
pub(crate) type Finalized = (Block, Exact);

/// Why a validator stopped executing.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("block {height} does not descend from this node's genesis: its genesis file differs from the chain's")]
    GenesisMismatch { height: u64 },
    #[error("the state diverged: block {height} says the state root after height {at} is {claimed}, this node has {ours}")]
    Diverged {
        height: u64,
        at: u64,
        claimed: String,
        ours: String,
    },
    #[error("block {height} claims the state after height {at}, which this node has not executed")]
    MissingState { height: u64, at: u64 },
    #[error("cannot execute block {height}: {message}")]
    Ledger { height: u64, message: String },
}

/// Runs finalized blocks through the ledger, in order, one at a time.
pub struct Execution<L: Ledger> {
    ledger: L,
    genesis: Digest,
    blocks: mpsc::UnboundedReceiver<Finalized>,
}

impl<L: Ledger> Execution<L> {
    pub(crate) fn new(
        ledger: L,
        genesis: Digest,
        blocks: mpsc::UnboundedReceiver<Finalized>,
    ) -> Self {
        Self {
            ledger,
            genesis,
            blocks,
        }
    }

    /// The latest height the ledger executed.
    pub(crate) fn executed_height(&self) -> Result<u64, ExecutionError> {
        self.ledger
            .executed()
            .map(|e| e.height)
            .map_err(|message| ExecutionError::Ledger { height: 0, message })
    }

    /// Executes until the application stops sending blocks (`Ok`) or a block cannot be
    /// executed (`Err`; the block stays unacknowledged, so it is delivered again on restart).
    pub async fn run(mut self) -> Result<(), ExecutionError> {
        while let Some((block, ack)) = self.blocks.next().await {
            self.check(&block)?;
            let height = block.height;
            self.ledger
                .finalized(block)
                .await
                .map_err(|message| ExecutionError::Ledger { height, message })?;
            debug!(height, "executed");
            ack.acknowledge();
        }
        Ok(())
    }

    /// A finalized block was agreed by a quorum: if it disagrees with this node's genesis or
    /// executed state, this node is the one that diverged.
    fn check(&self, block: &Block) -> Result<(), ExecutionError> {
        let height = block.height;
        if height == 1 && block.parent != self.genesis {
            return Err(ExecutionError::GenesisMismatch { height });
        }
        let claim = block.executed;
        let ours = self
            .ledger
            .state_root(claim.height)
            .map_err(|message| ExecutionError::Ledger { height, message })?;
        match ours {
            Some(root) if root == claim.root => Ok(()),
            Some(root) => Err(ExecutionError::Diverged {
                height,
                at: claim.height,
                claimed: claim.root.to_string(),
                ours: root.to_string(),
            }),
            None => Err(ExecutionError::MissingState {
                height,
                at: claim.height,
            }),
        }
    }
}
