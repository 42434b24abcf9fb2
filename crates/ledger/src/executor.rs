//! Applies finalized blocks to the state, one redb write transaction per block.

use crate::{
    admission::{CallError, FeeCollector, INSUFFICIENT_FEE},
    module::{DynModule, Failure, TxContext, Writes},
    state::{
        entry_element, scan, Entries, Snapshot, StateError, BLOCKS, BLOCK_DIGESTS, META,
        META_CHAIN_ID, META_HEIGHT, META_LTHASH, RECEIPTS, STATE,
    },
    Module, QueryError, StateRead,
};
use agora_types::{
    Address, Block, BlockRecord, Call, FeeSchedule, Receipt, SignedTransaction, TxHash, TxStatus,
    TxSummary,
};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::{lthash::LtHash, Digestible};
use redb::{Database, ReadableTable, Table};
use serde::Serialize;
use std::{collections::BTreeMap, path::Path, sync::Mutex};
use tracing::debug;

/// Each module's section of the genesis file, by module name.
pub type ModuleGenesis = BTreeMap<String, serde_json::Value>;

/// The executor's errors: all of them are about the node (storage, configuration, delivery
/// order), none about a transaction.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the state belongs to chain {stored:?}, not {expected:?}")]
    ChainMismatch { stored: String, expected: String },
    #[error("genesis section for unknown module {0:?}")]
    UnknownGenesisModule(String),
    #[error("genesis of module {module} failed: {message}")]
    Genesis { module: String, message: String },
    #[error("block {got} delivered out of order, expected {expected}")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("the state holds a corrupt {0}")]
    Corrupt(&'static str),
}

/// The outcome of applying one block: its record and the receipts of the transactions it
/// executed (transactions skipped for a wrong nonce or as duplicates have none).
#[derive(Clone, Debug)]
pub struct AppliedBlock {
    pub record: BlockRecord,
    pub receipts: Vec<Receipt>,
}

pub struct Executor {
    db: Database,
    chain_id: String,
    modules: BTreeMap<&'static str, Box<dyn DynModule>>,
    /// The state hash, kept in memory between blocks and persisted with each one.
    lthash: Mutex<LtHash>,
    /// Fees are charged only with a collector (see [`Self::with_fees`]).
    fees: FeeSchedule,
    collector: Option<Box<dyn FeeCollector>>,
}

const AUTH: &str = "auth";

fn nonce_key(address: &Address) -> Vec<u8> {
    TxContext::module_key(AUTH, &address.0)
}

fn decode_u64(bytes: &[u8], what: &'static str) -> Result<u64, ExecutorError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| ExecutorError::Corrupt(what))?;
    Ok(u64::from_be_bytes(array))
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Records and receipts are plain data; serializing them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl Executor {
    /// Opens (or creates) the state at `path` for `chain_id`.
    pub fn open(path: &Path, chain_id: &str) -> Result<Self, ExecutorError> {
        let db = Database::create(path).map_err(StateError::from)?;
        Self::with_db(db, chain_id)
    }

    /// A state kept in memory: for simulations and tests.
    pub fn in_memory(chain_id: &str) -> Result<Self, ExecutorError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(StateError::from)?;
        Self::with_db(db, chain_id)
    }

    fn with_db(db: Database, chain_id: &str) -> Result<Self, ExecutorError> {
        let txn = db.begin_write().map_err(StateError::from)?;
        let lthash = {
            let mut meta = txn.open_table(META).map_err(StateError::from)?;
            txn.open_table(STATE).map_err(StateError::from)?;
            txn.open_table(RECEIPTS).map_err(StateError::from)?;
            txn.open_table(BLOCKS).map_err(StateError::from)?;
            txn.open_table(BLOCK_DIGESTS).map_err(StateError::from)?;
            let stored = meta
                .get(META_CHAIN_ID)
                .map_err(StateError::from)?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            match stored {
                Some(stored) if stored != chain_id => {
                    return Err(ExecutorError::ChainMismatch {
                        stored,
                        expected: chain_id.to_string(),
                    })
                }
                Some(_) => {}
                None => {
                    meta.insert(META_CHAIN_ID, chain_id.as_bytes())
                        .map_err(StateError::from)?;
                }
            }
            let stored = meta
                .get(META_LTHASH)
                .map_err(StateError::from)?
                .map(|bytes| bytes.value().to_vec());
            match stored {
                Some(bytes) => LtHash::decode(bytes.as_slice())
                    .map_err(|_| ExecutorError::Corrupt("state hash"))?,
                None => LtHash::new(),
            }
        };
        txn.commit().map_err(StateError::from)?;
        Ok(Self {
            db,
            chain_id: chain_id.to_string(),
            modules: BTreeMap::new(),
            lthash: Mutex::new(lthash),
            fees: FeeSchedule::FREE,
            collector: None,
        })
    }

    /// Charges `schedule`'s fees through `collector` (the bank). Without this call nothing is
    /// charged: modules tested alone run free.
    pub fn with_fees(mut self, schedule: FeeSchedule, collector: impl FeeCollector) -> Self {
        self.fees = schedule;
        self.collector = Some(Box::new(collector));
        self
    }

    /// The fees this executor charges.
    pub fn fee_schedule(&self) -> FeeSchedule {
        self.fees
    }

    /// What `address` can spend on fees in the committed state (unlimited without fees).
    pub fn spendable(&self, address: &Address) -> Result<u64, ExecutorError> {
        let Some(collector) = &self.collector else {
            return Ok(u64::MAX);
        };
        let txn = self.db.begin_read().map_err(StateError::from)?;
        let snapshot = Snapshot(txn.open_table(STATE).map_err(StateError::from)?);
        Ok(collector.spendable(&snapshot, address)?)
    }

    /// Whether `module` is registered: a check that costs a map lookup.
    pub fn check_module(&self, module: &str) -> Result<(), CallError> {
        if self.modules.contains_key(module) {
            return Ok(());
        }
        Err(CallError::UnknownModule {
            module: module.to_string(),
            known: self.module_names().collect::<Vec<_>>().join(", "),
        })
    }

    /// Whether `call` names a registered module and its payload decodes, without running it.
    pub fn check_call(&self, call: &Call) -> Result<(), CallError> {
        self.check_module(&call.module)?;
        let module = &self.modules[call.module.as_str()];
        module
            .check_payload(&call.payload)
            .map_err(|f| CallError::Malformed {
                module: call.module.clone(),
                message: f.message,
            })
    }

    /// Registers a module; its name must be unique.
    pub fn with_module<M: Module>(mut self, module: M) -> Self {
        let name = Module::name(&module);
        assert!(
            self.modules.insert(name, Box::new(module)).is_none(),
            "module {name} registered twice"
        );
        self
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn module_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.modules.keys().copied()
    }

    /// The last block applied, `None` before genesis.
    pub fn last_applied_height(&self) -> Result<Option<u64>, ExecutorError> {
        let txn = self.db.begin_read().map_err(StateError::from)?;
        let meta = txn.open_table(META).map_err(StateError::from)?;
        meta.get(META_HEIGHT)
            .map_err(StateError::from)?
            .map(|v| decode_u64(v.value(), "height"))
            .transpose()
    }

    /// The current state root (hex).
    pub fn state_root(&self) -> String {
        let lthash = self.lthash.lock().unwrap_or_else(|e| e.into_inner());
        hex::encode(lthash.checksum().as_ref())
    }

    /// Writes the genesis state as height 0, once; later calls on the same state do nothing.
    pub fn init_genesis(
        &self,
        genesis: &ModuleGenesis,
        timestamp: u64,
    ) -> Result<(), ExecutorError> {
        if self.last_applied_height()?.is_some() {
            return Ok(());
        }
        if let Some(unknown) = genesis
            .keys()
            .find(|m| !self.modules.contains_key(m.as_str()))
        {
            return Err(ExecutorError::UnknownGenesisModule(unknown.clone()));
        }
        let mut lthash = self.lthash.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = lthash.clone();
        let txn = self.db.begin_write().map_err(StateError::from)?;
        {
            let mut state = Snapshot(txn.open_table(STATE).map_err(StateError::from)?);
            for (name, module) in &self.modules {
                let config = genesis
                    .get(*name)
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                let mut ctx =
                    TxContext::new(&state, Address::default(), 0, timestamp, TxHash::default());
                let result = module.genesis(&mut ctx, &config);
                let (writes, _, fatal) = ctx.into_parts();
                if let Some(fatal) = fatal {
                    return Err(StateError(fatal).into());
                }
                result.map_err(|f| ExecutorError::Genesis {
                    module: name.to_string(),
                    message: f.message,
                })?;
                write_all(&mut state.0, &mut next, writes)?;
            }
            let record = BlockRecord {
                height: 0,
                digest: String::new(),
                parent: String::new(),
                timestamp,
                proposer: String::new(),
                txs: Vec::new(),
                state_root: hex::encode(next.checksum().as_ref()),
            };
            finish(&txn, &next, &record)?;
        }
        txn.commit().map_err(StateError::from)?;
        *lthash = next;
        Ok(())
    }

    /// Executes a finalized block. Returns `None` if the block was applied before (a redelivery
    /// after a restart), the block's record and receipts otherwise.
    pub fn apply_block(&self, block: &Block) -> Result<Option<AppliedBlock>, ExecutorError> {
        let last = self.last_applied_height()?.unwrap_or(0);
        if block.height <= last {
            return Ok(None);
        }
        if block.height != last + 1 {
            return Err(ExecutorError::OutOfOrder {
                expected: last + 1,
                got: block.height,
            });
        }
        let mut lthash = self.lthash.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = lthash.clone();
        let mut receipts_out = Vec::new();
        let txn = self.db.begin_write().map_err(StateError::from)?;
        {
            let mut state = Snapshot(txn.open_table(STATE).map_err(StateError::from)?);
            let mut receipts = txn.open_table(RECEIPTS).map_err(StateError::from)?;
            for (index, tx) in block.txs.iter().enumerate() {
                if receipts
                    .get(&tx.hash().0)
                    .map_err(StateError::from)?
                    .is_some()
                {
                    debug!(hash = %tx.hash(), "skipping a transaction executed before");
                    continue;
                }
                let Some(receipt) = self.execute_tx(&mut state, &mut next, block, index, tx)?
                else {
                    continue;
                };
                receipts
                    .insert(&tx.hash().0, json(&receipt).as_slice())
                    .map_err(StateError::from)?;
                receipts_out.push(receipt);
            }
            let record = BlockRecord {
                height: block.height,
                digest: hex::encode(block.digest().as_ref()),
                parent: hex::encode(block.parent.as_ref()),
                timestamp: block.timestamp,
                proposer: hex::encode(block.context.leader.encode()),
                txs: block
                    .txs
                    .iter()
                    .map(|tx| TxSummary {
                        hash: tx.hash(),
                        sender: tx.tx.sender,
                        nonce: tx.tx.nonce,
                        module: tx.tx.call.module.clone(),
                    })
                    .collect(),
                state_root: hex::encode(next.checksum().as_ref()),
            };
            finish(&txn, &next, &record)?;
            drop((state, receipts));
            txn.commit().map_err(StateError::from)?;
            *lthash = next;
            Ok(Some(AppliedBlock {
                record,
                receipts: receipts_out,
            }))
        }
    }

    fn execute_tx(
        &self,
        state: &mut Snapshot<Table<'_, &'static [u8], &'static [u8]>>,
        lthash: &mut LtHash,
        block: &Block,
        index: usize,
        tx: &SignedTransaction,
    ) -> Result<Option<Receipt>, ExecutorError> {
        let sender = tx.tx.sender;
        let key = nonce_key(&sender);
        let expected = match state.read(&key)? {
            Some(v) => decode_u64(&v, "nonce")?,
            None => 0,
        };
        if tx.tx.nonce != expected {
            debug!(hash = %tx.hash(), expected, got = tx.tx.nonce, "skipping a transaction with a wrong nonce");
            return Ok(None);
        }
        let module_name = tx.tx.call.module.clone();
        let mut receipt = Receipt {
            tx_hash: tx.hash(),
            height: block.height,
            index: index as u32,
            sender,
            nonce: tx.tx.nonce,
            module: module_name,
            status: TxStatus::Success,
            reason: None,
            message: None,
            events: Vec::new(),
            fee: 0,
        };
        let mut writes = {
            let mut ctx = TxContext::new(state, sender, block.height, block.timestamp, tx.hash());
            let outcome = self.run_paid(&mut ctx, tx);
            let (writes, events, fatal) = ctx.into_parts();
            if let Some(fatal) = fatal {
                return Err(StateError(fatal).into());
            }
            let (result, fee) = outcome?;
            receipt.fee = fee;
            match result {
                Ok(()) => receipt.events = events,
                Err(failure) => {
                    receipt.status = TxStatus::Failed;
                    receipt.reason = Some(failure.reason.to_string());
                    receipt.message = Some(failure.message);
                }
            }
            writes
        };
        writes.insert(key, Some((expected + 1).to_be_bytes().to_vec()));
        write_all(&mut state.0, lthash, writes)?;
        Ok(Some(receipt))
    }

    /// Runs a transaction's call with its fees: the admission fee first (a sender who cannot
    /// pay it gets nothing else done), then the call, then the fee for what the call put into
    /// the state. A call that fails, or whose sender cannot pay for its writes, is rolled back
    /// to just after the admission fee. Returns the outcome and the fee paid.
    fn run_paid(
        &self,
        ctx: &mut TxContext<'_>,
        tx: &SignedTransaction,
    ) -> Result<(Result<(), Failure>, u64), StateError> {
        let admission = self.fees.admission_fee(tx.size());
        if !self.burn(ctx, admission)? {
            return Ok((Err(insufficient_fee(admission, "this transaction")), 0));
        }
        let paid = ctx.checkpoint();
        let call = &tx.tx.call;
        let mut result = match self.modules.get(call.module.as_str()) {
            None => Err(Failure {
                reason: "unknown_module",
                message: format!("no module named {:?}", call.module),
            }),
            Some(module) => module.execute_payload(ctx, &call.payload),
        };
        let mut fee = admission;
        if result.is_ok() {
            let writes = self.fees.write_fee(ctx.put_bytes());
            if self.burn(ctx, writes)? {
                fee = fee.saturating_add(writes);
            } else {
                result = Err(insufficient_fee(writes, "the state this call writes"));
            }
        }
        if result.is_err() {
            ctx.rollback(paid);
        }
        Ok((result, fee))
    }

    fn burn(&self, ctx: &mut TxContext<'_>, amount: u64) -> Result<bool, StateError> {
        match &self.collector {
            Some(collector) if amount > 0 => collector.burn(ctx, &ctx.sender(), amount),
            _ => Ok(true),
        }
    }

    pub fn receipt(&self, hash: &TxHash) -> Result<Option<Receipt>, ExecutorError> {
        let txn = self.db.begin_read().map_err(StateError::from)?;
        let table = txn.open_table(RECEIPTS).map_err(StateError::from)?;
        table
            .get(&hash.0)
            .map_err(StateError::from)?
            .map(|v| {
                serde_json::from_slice(v.value()).map_err(|_| ExecutorError::Corrupt("receipt"))
            })
            .transpose()
    }

    pub fn block(&self, height: u64) -> Result<Option<BlockRecord>, ExecutorError> {
        let txn = self.db.begin_read().map_err(StateError::from)?;
        let table = txn.open_table(BLOCKS).map_err(StateError::from)?;
        table
            .get(height)
            .map_err(StateError::from)?
            .map(|v| {
                serde_json::from_slice(v.value())
                    .map_err(|_| ExecutorError::Corrupt("block record"))
            })
            .transpose()
    }

    /// The block with `digest`, among those executed (blocks executed before the digest index
    /// existed are not found).
    pub fn block_by_digest(&self, digest: &[u8]) -> Result<Option<BlockRecord>, ExecutorError> {
        let height = {
            let txn = self.db.begin_read().map_err(StateError::from)?;
            let table = txn.open_table(BLOCK_DIGESTS).map_err(StateError::from)?;
            let found = table.get(digest).map_err(StateError::from)?;
            found.map(|h| h.value())
        };
        match height {
            Some(h) => self.block(h),
            None => Ok(None),
        }
    }

    /// The nonce the sender's next transaction must carry.
    pub fn nonce(&self, address: &Address) -> Result<u64, ExecutorError> {
        match self.read(&nonce_key(address))? {
            Some(v) => decode_u64(&v, "nonce"),
            None => Ok(0),
        }
    }

    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let txn = self.db.begin_read()?;
        Snapshot(txn.open_table(STATE)?).read(key)
    }

    /// Answers a module query against the committed state: what any RPC client may ask
    /// ([`Module::query`], bounded in cost).
    pub fn query(
        &self,
        module: &str,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        self.query_with(module, |m, state| m.query(state, path, params))
    }

    /// Answers a module's operator query ([`Module::operator_query`]): its cost may grow with
    /// the state, so the node serves it only to its operator.
    pub fn operator_query(
        &self,
        module: &str,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        self.query_with(module, |m, state| m.operator_query(state, path, params))
    }

    fn query_with(
        &self,
        module: &str,
        answer: impl FnOnce(&dyn DynModule, &dyn StateRead) -> Result<serde_json::Value, QueryError>,
    ) -> Result<serde_json::Value, QueryError> {
        let m = self
            .modules
            .get(module)
            .ok_or_else(|| QueryError::UnknownModule(module.to_string()))?;
        let txn = self.db.begin_read().map_err(StateError::from)?;
        let snapshot = Snapshot(txn.open_table(STATE).map_err(StateError::from)?);
        answer(m.as_ref(), &snapshot)
    }

    /// Runs `f` on a snapshot of the committed state (invariant checks, tools).
    pub fn with_state<R>(&self, f: impl FnOnce(&dyn StateRead) -> R) -> Result<R, StateError> {
        let txn = self.db.begin_read()?;
        let snapshot = Snapshot(txn.open_table(STATE)?);
        Ok(f(&snapshot))
    }

    /// Every state entry: for tests that recompute the root from scratch.
    pub fn dump_state(&self) -> Result<Entries, StateError> {
        let txn = self.db.begin_read()?;
        scan(&txn.open_table(STATE)?, &[])
    }

    /// Recomputes the state root from every entry (O(state)); equals [`Self::state_root`]
    /// unless the incremental hash went wrong.
    pub fn recompute_state_root(&self) -> Result<String, StateError> {
        let mut lthash = LtHash::new();
        for (k, v) in self.dump_state()? {
            lthash.add(&entry_element(&k, &v));
        }
        Ok(hex::encode(lthash.checksum().as_ref()))
    }
}

fn insufficient_fee(amount: u64, what: &str) -> Failure {
    Failure {
        reason: INSUFFICIENT_FEE,
        message: format!("the sender cannot pay the fee of {amount} for {what}"),
    }
}

/// Applies a committed transaction's writes to the table and to the state hash.
fn write_all(
    table: &mut Table<'_, &'static [u8], &'static [u8]>,
    lthash: &mut LtHash,
    writes: Writes,
) -> Result<(), StateError> {
    for (key, value) in writes {
        let old = table.get(key.as_slice())?.map(|v| v.value().to_vec());
        if let Some(old) = old {
            lthash.subtract(&entry_element(&key, &old));
        }
        match value {
            Some(value) => {
                lthash.add(&entry_element(&key, &value));
                table.insert(key.as_slice(), value.as_slice())?;
            }
            None => {
                table.remove(key.as_slice())?;
            }
        }
    }
    Ok(())
}

/// Records the block, the state hash and the height in the block's write transaction.
fn finish(
    txn: &redb::WriteTransaction,
    lthash: &LtHash,
    record: &BlockRecord,
) -> Result<(), StateError> {
    let mut meta = txn.open_table(META)?;
    meta.insert(META_LTHASH, lthash.encode().as_ref())?;
    meta.insert(META_HEIGHT, record.height.to_be_bytes().as_slice())?;
    let mut blocks = txn.open_table(BLOCKS)?;
    blocks.insert(record.height, json(record).as_slice())?;
    // The genesis record has no digest.
    if let Ok(digest) = hex::decode(&record.digest) {
        if !digest.is_empty() {
            txn.open_table(BLOCK_DIGESTS)?
                .insert(digest.as_slice(), record.height)?;
        }
    }
    Ok(())
}
