//! Transactions waiting for a block.
//!
//! A submission is checked completely before it is kept: size, chain id and signature, that it
//! was not executed already, and that its nonce is neither used nor too far ahead. Each sender's
//! transactions wait in nonce order and are proposed only as a gap-free run from the sender's
//! next nonce, so none is proposed before it can execute.

use agora_consensus::TxPool;
use agora_ledger::Executor;
use agora_types::{Address, SignedTransaction, TxError, TxHash};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Limits of the pool.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_per_sender: usize,
    /// How far beyond a sender's next nonce a transaction may be.
    pub max_nonce_gap: u64,
    /// A proposed transaction not finalized within this time is proposed again (its block
    /// may have been skipped by consensus).
    pub repropose_after: Duration,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_txs: 200_000,
            max_bytes: 256 * 1024 * 1024,
            max_per_sender: 4_096,
            max_nonce_gap: 4_096,
            repropose_after: Duration::from_secs(3),
        }
    }
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error("transaction {0} was already executed")]
    AlreadyExecuted(TxHash),
    #[error("transaction {0} is already in the mempool")]
    AlreadyPending(TxHash),
    #[error("nonce {got} was already used; the sender's next nonce is {next}")]
    NonceTooLow { got: u64, next: u64 },
    #[error("nonce {got} is too far ahead of the sender's next nonce {next}")]
    NonceTooHigh { got: u64, next: u64 },
    #[error("another transaction with nonce {0} is already pending for this sender")]
    NonceTaken(u64),
    #[error("mempool is full")]
    Full,
    #[error("node storage failed: {0}")]
    Node(String),
}

struct Entry {
    tx: SignedTransaction,
    proposed: Option<Instant>,
}

#[derive(Default)]
struct Queue {
    /// The sender's next nonce in the executed state.
    next: u64,
    txs: BTreeMap<u64, Entry>,
}

#[derive(Default)]
struct Pool {
    queues: BTreeMap<Address, Queue>,
    hashes: HashMap<TxHash, (Address, u64)>,
    bytes: usize,
}

/// The node's mempool; cheap to clone (shared).
#[derive(Clone)]
pub struct Mempool {
    pool: Arc<Mutex<Pool>>,
    executor: Arc<Executor>,
    limits: MempoolLimits,
}

impl Mempool {
    pub fn new(executor: Arc<Executor>, limits: MempoolLimits) -> Self {
        Self {
            pool: Arc::default(),
            executor,
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks and keeps a transaction received from a client.
    pub fn submit(&self, tx: SignedTransaction) -> Result<TxHash, SubmitError> {
        tx.check(self.executor.chain_id())?;
        let hash = tx.hash();
        let node = |e: agora_ledger::ExecutorError| SubmitError::Node(e.to_string());
        if self.executor.receipt(&hash).map_err(node)?.is_some() {
            return Err(SubmitError::AlreadyExecuted(hash));
        }
        let sender = tx.tx.sender;
        let next = self.executor.nonce(&sender).map_err(node)?;
        let nonce = tx.tx.nonce;
        if nonce < next {
            return Err(SubmitError::NonceTooLow { got: nonce, next });
        }
        if nonce - next > self.limits.max_nonce_gap {
            return Err(SubmitError::NonceTooHigh { got: nonce, next });
        }
        let mut pool = self.lock();
        if pool.hashes.contains_key(&hash) {
            return Err(SubmitError::AlreadyPending(hash));
        }
        if pool.hashes.len() >= self.limits.max_txs
            || pool.bytes + tx.size() > self.limits.max_bytes
        {
            return Err(SubmitError::Full);
        }
        let queue = pool.queues.entry(sender).or_default();
        queue.next = queue.next.max(next);
        if queue.txs.contains_key(&nonce) {
            return Err(SubmitError::NonceTaken(nonce));
        }
        if queue.txs.len() >= self.limits.max_per_sender {
            return Err(SubmitError::Full);
        }
        let size = tx.size();
        queue.txs.insert(nonce, Entry { tx, proposed: None });
        pool.bytes += size;
        pool.hashes.insert(hash, (sender, nonce));
        Ok(hash)
    }

    /// The nonce a sender's next new transaction should carry: after its pending ones.
    pub fn next_nonce(&self, sender: &Address) -> Result<u64, SubmitError> {
        let executed = self
            .executor
            .nonce(sender)
            .map_err(|e| SubmitError::Node(e.to_string()))?;
        let pool = self.lock();
        let Some(queue) = pool.queues.get(sender) else {
            return Ok(executed);
        };
        let mut next = executed;
        while queue.txs.contains_key(&next) {
            next += 1;
        }
        Ok(next)
    }

    /// Forgets what a finalized block settled: transactions whose nonce is now used.
    pub fn on_block_applied(&self, senders: impl IntoIterator<Item = Address>) {
        // A block carries many transactions per sender; read each sender's nonce once.
        let senders: std::collections::BTreeSet<Address> = senders.into_iter().collect();
        let mut updates = Vec::new();
        for sender in senders {
            if let Ok(next) = self.executor.nonce(&sender) {
                updates.push((sender, next));
            }
        }
        let mut pool = self.lock();
        for (sender, next) in updates {
            let Some(queue) = pool.queues.get_mut(&sender) else {
                continue;
            };
            queue.next = next;
            let keep = queue.txs.split_off(&next);
            let gone = std::mem::replace(&mut queue.txs, keep);
            let empty = queue.txs.is_empty();
            if empty {
                pool.queues.remove(&sender);
            }
            for (_, entry) in gone {
                pool.bytes -= entry.tx.size();
                pool.hashes.remove(&entry.tx.hash());
            }
        }
    }
}

/// Not proposed yet, or proposed so long ago that its block must have been skipped.
fn ready(entry: &Entry, now: Instant, repropose: Duration) -> bool {
    entry
        .proposed
        .is_none_or(|at| now.duration_since(at) >= repropose)
}

impl TxPool for Mempool {
    fn select(&self, max_txs: usize, max_bytes: usize) -> Vec<SignedTransaction> {
        let now = Instant::now();
        let repropose = self.limits.repropose_after;
        let mut pool = self.lock();
        let mut out = Vec::new();
        let mut bytes = 0;
        'senders: for queue in pool.queues.values_mut() {
            let mut expected = queue.next;
            for (nonce, entry) in queue.txs.range_mut(queue.next..) {
                if *nonce != expected {
                    break;
                }
                expected += 1;
                if !ready(entry, now, repropose) {
                    continue;
                }
                if out.len() >= max_txs || bytes + entry.tx.size() > max_bytes {
                    break 'senders;
                }
                bytes += entry.tx.size();
                entry.proposed = Some(now);
                out.push(entry.tx.clone());
            }
        }
        out
    }

    fn has_pending(&self) -> bool {
        let now = Instant::now();
        self.lock().queues.values().any(|q| {
            let mut expected = q.next;
            q.txs
                .range(q.next..)
                .take_while(|(nonce, _)| {
                    let next_in_run = **nonce == expected;
                    expected += 1;
                    next_in_run
                })
                .any(|(_, e)| ready(e, now, self.limits.repropose_after))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_bank::{Bank, BankCall};
    use agora_types::{Keypair, Transaction};

    fn setup() -> (Mempool, Keypair) {
        let exec = Executor::in_memory("m").unwrap().with_module(Bank);
        exec.init_genesis(&Default::default(), 0).unwrap();
        (
            Mempool::new(Arc::new(exec), MempoolLimits::default()),
            Keypair::from_seed(1),
        )
    }

    fn tx(key: &Keypair, chain: &str, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: chain.into(),
            sender: key.address(),
            nonce,
            call: BankCall::Transfer {
                to: key.address(),
                amount: 1,
            }
            .into_call(),
        }
        .sign(key)
    }

    #[test]
    fn refuses_bad_submissions() {
        let (pool, key) = setup();
        assert!(matches!(
            pool.submit(tx(&key, "other", 0)),
            Err(SubmitError::Invalid(TxError::WrongChain { .. }))
        ));
        let good = tx(&key, "m", 0);
        pool.submit(good.clone()).unwrap();
        assert!(matches!(
            pool.submit(good),
            Err(SubmitError::AlreadyPending(_))
        ));
        assert!(matches!(
            pool.submit(tx(&key, "m", 1_000_000)),
            Err(SubmitError::NonceTooHigh { .. })
        ));
        let other = Transaction {
            chain_id: "m".into(),
            sender: key.address(),
            nonce: 0,
            call: BankCall::Transfer {
                to: key.address(),
                amount: 2,
            }
            .into_call(),
        }
        .sign(&key);
        assert!(matches!(
            pool.submit(other),
            Err(SubmitError::NonceTaken(0))
        ));
        // A signature by someone else.
        let forged = SignedTransaction::new(
            tx(&key, "m", 1).tx,
            Keypair::from_seed(2).sign(agora_types::TX_NAMESPACE, b"x"),
        );
        assert!(matches!(
            pool.submit(forged),
            Err(SubmitError::Invalid(TxError::BadSignature))
        ));
    }

    #[test]
    fn selects_gap_free_runs_once() {
        let (pool, key) = setup();
        pool.submit(tx(&key, "m", 0)).unwrap();
        pool.submit(tx(&key, "m", 2)).unwrap();
        assert_eq!(pool.next_nonce(&key.address()).unwrap(), 1);
        let first = pool.select(100, 1 << 20);
        assert_eq!(
            first.iter().map(|t| t.tx.nonce).collect::<Vec<_>>(),
            vec![0]
        );
        assert!(
            pool.select(100, 1 << 20).is_empty(),
            "proposed transactions wait"
        );
        pool.submit(tx(&key, "m", 1)).unwrap();
        let second = pool.select(100, 1 << 20);
        assert_eq!(
            second.iter().map(|t| t.tx.nonce).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
