//! Transactions waiting for a block.
//!
//! A submission is checked cheapest first, before it is kept: size and chain, that its module
//! exists, that it was not executed already and its nonce is neither used nor too far ahead,
//! that the sender's balance pays its fee on top of the fees of its pending transactions,
//! then its signature, and last that its payload decodes. Each sender's transactions wait in
//! nonce order and are proposed only as a gap-free run from the sender's next nonce, so none
//! is proposed before it can execute.
//!
//! A transaction beyond a gap (*gapped*) may never become executable, so gapped transactions
//! are capped per sender and in all ([`MempoolLimits`]), expire after a while, and are evicted
//! to make room for executable ones: they never displace or block an executable transaction.
//! After each block, transactions whose nonce was used are dropped, and so are those the
//! sender can no longer pay for.

use crate::limits::MempoolLimits;
use agora_consensus::TxPool;
use agora_ledger::{CallError, Executor};
use agora_types::{Address, SignedTransaction, TxError, TxHash};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Instant,
};

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error(transparent)]
    Call(#[from] CallError),
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
    #[error("insufficient balance for the fee: {balance} cannot pay {fee} on top of {pending} for the sender's pending transactions")]
    InsufficientFee {
        fee: u64,
        pending: u64,
        balance: u64,
    },
    #[error("the sender already has {txs} transactions ({bytes} bytes) waiting")]
    SenderFull { txs: usize, bytes: usize },
    #[error("nonce {got} waits for nonce {missing}, and no more transactions may wait for a gap")]
    GapFull { got: u64, missing: u64 },
    #[error("mempool is full")]
    Full,
    #[error("node storage failed: {0}")]
    Node(String),
}

struct Entry {
    tx: SignedTransaction,
    /// The admission fee, reserved from the sender's balance while the transaction waits.
    fee: u64,
    received: Instant,
    proposed: Option<Instant>,
}

#[derive(Default)]
struct Queue {
    /// The sender's next nonce in the executed state.
    next: u64,
    txs: BTreeMap<u64, Entry>,
    bytes: usize,
    fees: u64,
}

impl Queue {
    /// The first nonce after the gap-free run from `next`: where gapped transactions start.
    fn run_end(&self) -> u64 {
        let mut end = self.next;
        while self.txs.contains_key(&end) {
            end += 1;
        }
        end
    }

    /// Number and bytes of the gapped transactions.
    fn gapped(&self) -> (usize, usize) {
        self.txs
            .range(self.run_end()..)
            .fold((0, 0), |(n, b), (_, e)| (n + 1, b + e.tx.size()))
    }

    fn insert(&mut self, nonce: u64, entry: Entry) {
        self.bytes += entry.tx.size();
        self.fees += entry.fee;
        self.txs.insert(nonce, entry);
    }

    fn remove(&mut self, nonce: u64) -> Option<Entry> {
        let entry = self.txs.remove(&nonce)?;
        self.bytes -= entry.tx.size();
        self.fees -= entry.fee;
        Some(entry)
    }
}

#[derive(Default)]
struct Pool {
    queues: BTreeMap<Address, Queue>,
    hashes: HashMap<TxHash, (Address, u64)>,
    bytes: usize,
    gapped_txs: usize,
    gapped_bytes: usize,
    /// Senders with gapped transactions: where eviction and expiry look.
    gapped_senders: BTreeSet<Address>,
}

impl Pool {
    /// Runs `change` on `sender`'s queue and keeps the pool's totals in step: bytes and hashes
    /// of what it removed, and the gapped counts, which any change may move.
    fn change<R>(
        &mut self,
        sender: Address,
        change: impl FnOnce(&mut Queue) -> (R, Vec<Entry>),
    ) -> R {
        let queue = self.queues.entry(sender).or_default();
        let (n0, b0) = queue.gapped();
        let (result, removed) = change(queue);
        let (n1, b1) = queue.gapped();
        let empty = queue.txs.is_empty();
        self.gapped_txs = self.gapped_txs + n1 - n0;
        self.gapped_bytes = self.gapped_bytes + b1 - b0;
        if n1 > 0 {
            self.gapped_senders.insert(sender);
        } else {
            self.gapped_senders.remove(&sender);
        }
        if empty {
            self.queues.remove(&sender);
        }
        for entry in removed {
            self.bytes -= entry.tx.size();
            self.hashes.remove(&entry.tx.hash());
        }
        result
    }

    /// Evicts one gapped transaction, the one furthest ahead of a sender with gapped ones.
    fn evict_gapped(&mut self) -> bool {
        let Some(sender) = self.gapped_senders.first().copied() else {
            return false;
        };
        self.change(sender, |q| {
            let last = q.txs.keys().next_back().copied();
            let removed = last.and_then(|n| q.remove(n));
            ((), removed.into_iter().collect())
        });
        true
    }

    fn has_room(&self, size: usize, limits: &MempoolLimits) -> bool {
        self.hashes.len() < limits.max_txs && self.bytes + size <= limits.max_bytes
    }
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

    /// Bytes of the transactions in the pool.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Transactions waiting for a gap to be filled.
    pub fn gapped(&self) -> usize {
        self.lock().gapped_txs
    }

    /// Checks and keeps a transaction received from a client, cheapest checks first.
    pub fn submit(&self, tx: SignedTransaction) -> Result<TxHash, SubmitError> {
        let exec = &self.executor;
        tx.check_envelope(exec.chain_id())?;
        exec.check_module(&tx.tx.call.module)?;
        let hash = tx.hash();
        let node = |e: agora_ledger::ExecutorError| SubmitError::Node(e.to_string());
        if exec.receipt(&hash).map_err(node)?.is_some() {
            return Err(SubmitError::AlreadyExecuted(hash));
        }
        let sender = tx.tx.sender;
        let next = exec.nonce(&sender).map_err(node)?;
        let nonce = tx.tx.nonce;
        if nonce < next {
            return Err(SubmitError::NonceTooLow { got: nonce, next });
        }
        if nonce - next > self.limits.max_nonce_gap {
            return Err(SubmitError::NonceTooHigh { got: nonce, next });
        }
        let fee = exec.fee_schedule().admission_fee(tx.size());
        let balance = exec.spendable(&sender).map_err(node)?;
        let pending = self.lock().queues.get(&sender).map_or(0, |q| q.fees);
        if balance < pending.saturating_add(fee) {
            return Err(SubmitError::InsufficientFee {
                fee,
                pending,
                balance,
            });
        }
        tx.verify_signature()?;
        exec.check_call(&tx.tx.call)?;
        self.admit(tx, next, fee, balance)
    }

    /// Keeps a checked transaction if the limits allow, evicting gapped ones for an
    /// executable one.
    fn admit(
        &self,
        tx: SignedTransaction,
        next: u64,
        fee: u64,
        balance: u64,
    ) -> Result<TxHash, SubmitError> {
        let (hash, sender, nonce, size) = (tx.hash(), tx.tx.sender, tx.tx.nonce, tx.size());
        let limits = &self.limits;
        let mut pool = self.lock();
        if pool.hashes.contains_key(&hash) {
            return Err(SubmitError::AlreadyPending(hash));
        }
        // A block may have been applied since the mempool last heard of this sender.
        let (taken, run_end, gapped, txs, bytes, fees) = pool.change(sender, |queue| {
            queue.next = queue.next.max(next);
            let state = (
                queue.txs.contains_key(&nonce),
                queue.run_end(),
                queue.gapped().0,
                queue.txs.len(),
                queue.bytes,
                queue.fees,
            );
            (state, Vec::new())
        });
        let refuse = |pool: &mut Pool, e: SubmitError| {
            // Drops the queue made for this submission if it is still empty.
            pool.change(sender, |_| ((), Vec::new()));
            Err(e)
        };
        if taken {
            return refuse(&mut pool, SubmitError::NonceTaken(nonce));
        }
        // Another submission of this sender may have been kept since the fee check.
        if balance < fees.saturating_add(fee) {
            let e = SubmitError::InsufficientFee {
                fee,
                pending: fees,
                balance,
            };
            return refuse(&mut pool, e);
        }
        if txs >= limits.max_per_sender || bytes + size > limits.max_bytes_per_sender {
            return refuse(&mut pool, SubmitError::SenderFull { txs, bytes });
        }
        if nonce > run_end {
            if gapped >= limits.max_gapped_per_sender
                || pool.gapped_txs >= limits.max_gapped_txs
                || pool.gapped_bytes + size > limits.max_gapped_bytes
            {
                let e = SubmitError::GapFull {
                    got: nonce,
                    missing: run_end,
                };
                return refuse(&mut pool, e);
            }
            if !pool.has_room(size, limits) {
                return refuse(&mut pool, SubmitError::Full);
            }
        } else {
            while !pool.has_room(size, limits) {
                if !pool.evict_gapped() {
                    return refuse(&mut pool, SubmitError::Full);
                }
            }
        }
        let entry = Entry {
            tx,
            fee,
            received: Instant::now(),
            proposed: None,
        };
        // The first `change` dropped the queue if it was empty: it may be a new one.
        pool.change(sender, |q| {
            q.next = q.next.max(next);
            (q.insert(nonce, entry), Vec::new())
        });
        pool.bytes += size;
        pool.hashes.insert(hash, (sender, nonce));
        Ok(hash)
    }

    /// The nonce a sender's next new transaction should carry: after its pending ones.
    pub fn next_nonce(&self, sender: &Address) -> Result<u64, SubmitError> {
        // The executed nonce is read under the pool's lock: a block commits its nonces before
        // `on_block_applied` drops its transactions from the pool, so read the other way round a
        // block landing in between made the answer fall back to nonces already used.
        let pool = self.lock();
        let executed = self
            .executor
            .nonce(sender)
            .map_err(|e| SubmitError::Node(e.to_string()))?;
        let Some(queue) = pool.queues.get(sender) else {
            return Ok(executed);
        };
        let mut next = executed;
        while queue.txs.contains_key(&next) {
            next += 1;
        }
        Ok(next)
    }

    /// Forgets what a finalized block settled or made impossible: for the block's senders,
    /// transactions whose nonce is now used and those their balance no longer pays for; for
    /// everyone, gapped transactions past their time.
    pub fn on_block_applied(&self, senders: impl IntoIterator<Item = Address>) {
        // A block carries many transactions per sender; read each sender's state once.
        let senders: BTreeSet<Address> = senders.into_iter().collect();
        let mut updates = Vec::new();
        for sender in senders {
            let read = self
                .executor
                .nonce(&sender)
                .and_then(|n| Ok((n, self.executor.spendable(&sender)?)));
            if let Ok((next, balance)) = read {
                updates.push((sender, next, balance));
            }
        }
        let mut pool = self.lock();
        for (sender, next, balance) in updates {
            if !pool.queues.contains_key(&sender) {
                continue;
            }
            pool.change(sender, |queue| {
                queue.next = next;
                let stale: Vec<u64> = queue.txs.range(..next).map(|(n, _)| *n).collect();
                let mut removed: Vec<Entry> =
                    stale.into_iter().filter_map(|n| queue.remove(n)).collect();
                // The newest transactions go first until the balance pays for the rest.
                while queue.fees > balance {
                    let Some(last) = queue.txs.keys().next_back().copied() else {
                        break;
                    };
                    removed.extend(queue.remove(last));
                }
                ((), removed)
            });
        }
        self.expire_gapped(&mut pool, Instant::now());
    }

    fn expire_gapped(&self, pool: &mut Pool, now: Instant) {
        let ttl = self.limits.gapped_ttl();
        let senders: Vec<Address> = pool.gapped_senders.iter().copied().collect();
        for sender in senders {
            pool.change(sender, |queue| {
                let run_end = queue.run_end();
                let old: Vec<u64> = queue
                    .txs
                    .range(run_end..)
                    .filter(|(_, e)| now.duration_since(e.received) >= ttl)
                    .map(|(n, _)| *n)
                    .collect();
                (
                    (),
                    old.into_iter().filter_map(|n| queue.remove(n)).collect(),
                )
            });
        }
    }
}

/// Not proposed yet, or proposed so long ago that its block must have been skipped.
fn ready(entry: &Entry, now: Instant, limits: &MempoolLimits) -> bool {
    entry
        .proposed
        .is_none_or(|at| now.duration_since(at) >= limits.repropose_after())
}

impl TxPool for Mempool {
    fn select(&self, max_txs: usize, max_bytes: usize) -> Vec<SignedTransaction> {
        let now = Instant::now();
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
                if !ready(entry, now, &self.limits) {
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
                .any(|(_, e)| ready(e, now, &self.limits))
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
