//! Blocks: what consensus orders.
//!
//! ```text
//! Block = context (simplex round, leader, parent view + digest) | parent (32) | height (u64 BE)
//!       | timestamp (u64 BE, ms since the Unix epoch) | executed height (u64 BE) | state root (32)
//!       | txs (varint count <= MAX_BLOCK_TXS, each a SignedTransaction)
//! digest = SHA-256(context | parent | height | timestamp | executed height | state root
//!                  | SHA-256(tx hash 0 | tx hash 1 | ...))
//! ```
//!
//! The digest commits to the consensus context, as `CertifiableBlock` requires, to the state the
//! proposer had executed ([`ExecutedState`]) and to every transaction through their hashes.

use crate::{SignedTransaction, TxHash};
use bytes::{Buf, BufMut};
use commonware_codec::{
    Encode, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use commonware_consensus::{simplex::types::Context as SimplexContext, types::Height};
use commonware_cryptography::{blake3, ed25519, sha256, Digestible, Hasher, Sha256};

/// The public key type validators sign consensus messages with.
pub type ValidatorKey = ed25519::PublicKey;
/// A block digest.
pub type Digest = sha256::Digest;
/// The consensus context a block was proposed in.
pub type Context = SimplexContext<Digest, ValidatorKey>;

/// The root of the executed state (the executor's lattice hash checksum).
pub type StateRoot = blake3::Digest;

/// What a block says about executed state: blocks are executed after finalization, so a
/// proposal cannot carry the root after its own transactions; it carries the latest height its
/// proposer had executed (at most the parent's height) and the state root after that height.
/// Validators refuse a proposal whose root differs from their own at that height, and every
/// node compares it again when it executes the finalized block, so a diverging state is noticed
/// within a few blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutedState {
    pub height: u64,
    pub root: StateRoot,
}

impl Write for ExecutedState {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.root.write(buf);
    }
}

impl FixedSize for ExecutedState {
    const SIZE: usize = u64::SIZE + StateRoot::SIZE;
}

impl Read for ExecutedState {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            height: u64::read(buf)?,
            root: StateRoot::read(buf)?,
        })
    }
}

/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 16_384;
/// Largest encoded block; bounds what a proposer builds and what the network carries.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub context: Context,
    pub parent: Digest,
    pub height: u64,
    /// Milliseconds since the Unix epoch by the proposer's clock: the chain's notion of time.
    pub timestamp: u64,
    pub executed: ExecutedState,
    pub txs: Vec<SignedTransaction>,
    digest: Digest,
}

/// Why a proposed block is invalid on its own (before any execution).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    #[error("block has {count} transactions, the limit is {max}")]
    TooManyTxs { count: usize, max: usize },
    #[error("block is {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
}

impl Block {
    /// Block `height` at `timestamp` with `txs`, as if consensus had finalized it (view =
    /// height, a fixed leader and parent, an executed-state claim nobody checks): for executing
    /// blocks outside consensus (module tests, tools), since the executor reads none of these.
    pub fn outside_consensus(height: u64, timestamp: u64, txs: Vec<SignedTransaction>) -> Self {
        use commonware_consensus::types::{Epoch, Round, View};
        use commonware_cryptography::{Hasher, Sha256, Signer};
        let context = Context {
            round: Round::new(Epoch::zero(), View::new(height)),
            leader: commonware_cryptography::ed25519::PrivateKey::from_seed(0).public_key(),
            parent: (View::new(height.saturating_sub(1)), Sha256::hash(b"p")),
        };
        let executed = ExecutedState {
            height: 0,
            root: [0; 32].into(),
        };
        Self::new(
            context,
            Sha256::hash(b"p"),
            height,
            timestamp,
            executed,
            txs,
        )
    }

    pub fn new(
        context: Context,
        parent: Digest,
        height: u64,
        timestamp: u64,
        executed: ExecutedState,
        txs: Vec<SignedTransaction>,
    ) -> Self {
        let mut block = Self {
            context,
            parent,
            height,
            timestamp,
            executed,
            txs,
            digest: Digest::from([0; 32]),
        };
        block.digest = block.compute_digest();
        block
    }

    fn compute_digest(&self) -> Digest {
        let mut tx_root = Sha256::new();
        for tx in &self.txs {
            tx_root.update(&tx.hash().0);
        }
        let tx_root = tx_root.finalize();
        let mut hasher = Sha256::new();
        hasher.update(&self.context.encode());
        hasher.update(self.parent.as_ref());
        hasher.update(&self.height.to_be_bytes());
        hasher.update(&self.timestamp.to_be_bytes());
        hasher.update(&self.executed.encode());
        hasher.update(tx_root.as_ref());
        hasher.finalize()
    }

    pub fn tx_hashes(&self) -> impl Iterator<Item = TxHash> + '_ {
        self.txs.iter().map(SignedTransaction::hash)
    }

    /// The limits every block must respect, whoever built it.
    pub fn check_limits(&self) -> Result<(), BlockError> {
        if self.txs.len() > MAX_BLOCK_TXS {
            return Err(BlockError::TooManyTxs {
                count: self.txs.len(),
                max: MAX_BLOCK_TXS,
            });
        }
        let size = self.encode_size();
        if size > MAX_BLOCK_BYTES {
            return Err(BlockError::TooLarge {
                size,
                max: MAX_BLOCK_BYTES,
            });
        }
        Ok(())
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.context.write(buf);
        self.parent.write(buf);
        self.height.write(buf);
        self.timestamp.write(buf);
        self.executed.write(buf);
        self.txs.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.context.encode_size()
            + Digest::SIZE
            + u64::SIZE
            + u64::SIZE
            + ExecutedState::SIZE
            + self.txs.encode_size()
    }
}

impl Read for Block {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let context = Context::read(buf)?;
        let parent = Digest::read(buf)?;
        let height = u64::read(buf)?;
        let timestamp = u64::read(buf)?;
        let executed = ExecutedState::read(buf)?;
        let txs = Vec::<SignedTransaction>::read_cfg(buf, &(RangeCfg::from(..=MAX_BLOCK_TXS), ()))?;
        Ok(Self::new(context, parent, height, timestamp, executed, txs))
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl commonware_consensus::Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.parent
    }
}

impl commonware_consensus::CertifiableBlock for Block {
    type Context = Context;

    fn context(&self) -> Context {
        self.context.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Call, Keypair, Transaction};
    use commonware_codec::DecodeExt;
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer;
    use proptest::prelude::*;

    fn context() -> Context {
        Context {
            round: Round::new(Epoch::zero(), View::new(3)),
            leader: ed25519::PrivateKey::from_seed(0).public_key(),
            parent: (View::new(2), Sha256::hash(b"parent")),
        }
    }

    fn block(n: u64) -> Block {
        let key = Keypair::from_seed(5);
        let txs = (0..n)
            .map(|nonce| {
                Transaction {
                    chain_id: "c".into(),
                    sender: key.address(),
                    nonce,
                    call: Call {
                        module: "bank".into(),
                        payload: vec![1, 2, 3].into(),
                    },
                }
                .sign(&key)
            })
            .collect();
        Block::new(
            context(),
            Sha256::hash(b"parent"),
            7,
            1_000,
            executed(5),
            txs,
        )
    }

    fn executed(height: u64) -> ExecutedState {
        ExecutedState {
            height,
            root: StateRoot::from([9; 32]),
        }
    }

    #[test]
    fn round_trip_keeps_the_digest() {
        let b = block(3);
        let back = Block::decode(b.encode()).unwrap();
        assert_eq!(back.digest(), b.digest());
        assert_eq!(back, b);
        assert_ne!(block(2).digest(), b.digest());
        b.check_limits().unwrap();
    }

    #[test]
    fn the_digest_commits_to_the_executed_state() {
        let b = block(1);
        let other = |executed| {
            Block::new(
                b.context.clone(),
                b.parent,
                b.height,
                b.timestamp,
                executed,
                b.txs.clone(),
            )
        };
        assert_eq!(other(executed(5)).digest(), b.digest());
        assert_ne!(other(executed(4)).digest(), b.digest());
        let root = ExecutedState {
            height: 5,
            root: StateRoot::from([8; 32]),
        };
        assert_ne!(other(root).digest(), b.digest());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(b) = Block::decode(&bytes[..]) {
                prop_assert_eq!(b.encode().to_vec(), bytes);
            }
        }

        #[test]
        fn mutated_blocks_never_panic(pos in 0usize..4096, byte in any::<u8>()) {
            let mut bytes = block(2).encode().to_vec();
            let pos = pos % bytes.len();
            bytes[pos] = byte;
            if let Ok(b) = Block::decode(&bytes[..]) {
                prop_assert_eq!(b.encode().to_vec(), bytes.clone());
            }
        }
    }
}
