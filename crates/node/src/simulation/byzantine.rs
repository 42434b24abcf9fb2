//! Byzantine validators for simulations: an honest [`Application`] whose proposals a fault
//! corrupts after building them (signed by the validator's own key, so only the contents lie).

use agora_consensus::{Application, Ledger, TxPool};
use agora_types::{
    Block, Call, Context, ExecutedState, Keypair, SignedTransaction, Transaction, MAX_BLOCK_BYTES,
    MAX_TX_BYTES,
};
use commonware_consensus::{
    marshal::{
        ancestry::{AncestorStream, BlockProvider},
        Update,
    },
    simplex::scheme::ed25519::Scheme,
    Reporter,
};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::SystemTimeExt;
use rand::Rng;

/// How one validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Honest,
    /// Proposals claim a state root nobody has.
    WrongRoot,
    /// Proposals carry a transaction whose signature is another key's.
    BadSignature,
    /// Proposals are stamped ten minutes ahead.
    FutureTimestamp,
    /// Proposals are larger than [`MAX_BLOCK_BYTES`].
    Oversized,
    /// Two instances sign with the validator's key, each talking to part of the network: two
    /// proposals and two votes per view (see the simulation's twins).
    Equivocator,
    /// The validator's genesis differs from the chain's by one balance.
    OtherGenesis,
}

impl Fault {
    /// Faults a proposer can commit, in the order seeds cycle through them.
    pub const BYZANTINE: [Fault; 5] = [
        Fault::WrongRoot,
        Fault::BadSignature,
        Fault::FutureTimestamp,
        Fault::Oversized,
        Fault::Equivocator,
    ];

    /// The proposal this fault makes of an honest one.
    fn corrupt(self, block: Block, now: u64) -> Block {
        let Block {
            context,
            parent,
            height,
            mut timestamp,
            mut executed,
            mut txs,
            ..
        } = block;
        match self {
            Fault::Honest | Fault::Equivocator | Fault::OtherGenesis => {}
            Fault::WrongRoot => {
                executed = ExecutedState {
                    height: executed.height,
                    root: [0xEE; 32].into(),
                }
            }
            Fault::BadSignature => txs.push(forged(height)),
            Fault::FutureTimestamp => timestamp = now + 600_000,
            Fault::Oversized => {
                let filler = MAX_BLOCK_BYTES / (MAX_TX_BYTES / 2) + 1;
                txs.extend((0..filler as u64).map(|i| large(height, i)));
            }
        }
        Block::new(context, parent, height, timestamp, executed, txs)
    }
}

/// A transfer signed by a key other than its sender's.
fn forged(height: u64) -> SignedTransaction {
    let (victim, forger) = (Keypair::from_seed(9_001), Keypair::from_seed(9_002));
    let tx = Transaction {
        chain_id: super::CHAIN.into(),
        sender: victim.address(),
        nonce: height,
        call: Call {
            module: "bank".into(),
            payload: vec![0].into(),
        },
    };
    let mut signed = tx.clone().sign(&victim);
    signed.signature = tx.sign(&forger).signature;
    signed
}

/// A valid transaction of half the largest size.
fn large(height: u64, i: u64) -> SignedTransaction {
    let key = Keypair::from_seed(9_100 + i);
    Transaction {
        chain_id: super::CHAIN.into(),
        sender: key.address(),
        nonce: height,
        call: Call {
            module: "bank".into(),
            payload: vec![0; MAX_TX_BYTES / 2].into(),
        },
    }
    .sign(&key)
}

/// An [`Application`] that proposes what its fault makes of honest proposals and otherwise
/// behaves (verifies, votes, executes) honestly.
#[derive(Clone)]
pub struct Byzantine<P: TxPool, L: Ledger> {
    pub honest: Application<P, L>,
    pub fault: Fault,
}

impl<E, P, L> commonware_consensus::Application<E> for Byzantine<P, L>
where
    E: Rng + Spawner + Metrics + Clock,
    P: TxPool,
    L: Ledger,
{
    type SigningScheme = Scheme;
    type Context = Context;
    type Block = Block;

    async fn genesis(&mut self) -> Block {
        commonware_consensus::Application::<E>::genesis(&mut self.honest).await
    }

    async fn propose<A: BlockProvider<Block = Block>>(
        &mut self,
        (runtime, context): (E, Context),
        ancestry: AncestorStream<A, Block>,
    ) -> Option<Block> {
        let now = runtime.current().epoch_millis();
        let block = self.honest.propose((runtime, context), ancestry).await?;
        Some(self.fault.corrupt(block, now))
    }
}

impl<E, P, L> commonware_consensus::VerifyingApplication<E> for Byzantine<P, L>
where
    E: Rng + Spawner + Metrics + Clock,
    P: TxPool,
    L: Ledger,
{
    async fn verify<A: BlockProvider<Block = Block>>(
        &mut self,
        context: (E, Context),
        ancestry: AncestorStream<A, Block>,
    ) -> bool {
        self.honest.verify(context, ancestry).await
    }
}

impl<P: TxPool, L: Ledger> Reporter for Byzantine<P, L> {
    type Activity = Update<Block>;

    async fn report(&mut self, activity: Self::Activity) {
        self.honest.report(activity).await
    }
}
