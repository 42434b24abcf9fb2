//! The trait every market plugs into the ledger through.

use crate::{state::StateError, Entries, StateRead};
use agora_types::Event;
use agora_types::{Address, TxHash};
use serde::Serialize;
use std::collections::BTreeMap;

/// A stable, machine-readable code for why a transaction failed (`insufficient_funds`,
/// `unknown_hold`, ...). Codes are part of the public interface: tools match on them.
pub trait ReasonCode {
    fn reason(&self) -> &'static str;
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("unknown module {0:?}")]
    UnknownModule(String),
    #[error("module {module} has no query {path:?}")]
    UnknownPath { module: String, path: String },
    #[error("bad query parameters: {0}")]
    BadParams(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error(
        "limit {requested} exceeds the most a page holds ({max}); ask for more pages with `after`"
    )]
    LimitExceeded { requested: u64, max: u32 },
    #[error(transparent)]
    State(#[from] StateError),
}

impl ReasonCode for QueryError {
    fn reason(&self) -> &'static str {
        match self {
            Self::UnknownModule(_) => "unknown_module",
            Self::UnknownPath { .. } => "unknown_query",
            Self::BadParams(_) => "bad_params",
            Self::NotFound(_) => "not_found",
            Self::LimitExceeded { .. } => "limit_exceeded",
            Self::State(_) => "state_error",
        }
    }
}

/// Reads parameter `name` of a query (`{"name": value, ...}`) as a `T`.
pub fn query_param<T: serde::de::DeserializeOwned>(
    params: &serde_json::Value,
    name: &str,
) -> Result<T, QueryError> {
    serde_json::from_value(params.get(name).cloned().unwrap_or_default())
        .map_err(|e| QueryError::BadParams(format!("{name}: {e}")))
}

/// A deterministic state machine hosted by the ledger ("smart contract").
///
/// Determinism rules: no wall clock (use [`TxContext::timestamp`]), no randomness except what is
/// derived from block data, no iteration over hash maps, no I/O. State is reached only through
/// the [`TxContext`] (writes) and [`StateRead`] (reads); keys are prefixed with the module's name
/// by [`TxContext::module_key`] so modules cannot collide.
pub trait Module: Send + Sync + 'static {
    type Call;
    type Error: std::error::Error + ReasonCode + From<StateError>;

    /// The name transactions address this module by (`Call::module`).
    fn name(&self) -> &'static str;

    /// Decodes a call payload; a malformed payload is a failed transaction, not a panic.
    fn decode_call(&self, payload: &[u8]) -> Result<Self::Call, Self::Error>;

    /// Executes one call by `ctx.sender()`. On `Err`, every write of the call is discarded.
    fn execute(&self, ctx: &mut TxContext<'_>, call: Self::Call) -> Result<(), Self::Error>;

    /// Whether the genesis file may hold a section for this module. Markets are created by
    /// transactions, so by default a module takes none and the executor refuses any section
    /// given to it (a typo in a genesis file is an error, not a silently ignored market).
    fn takes_genesis(&self) -> bool {
        false
    }

    /// Initial state from the genesis file's section for this module (absent: `null`); called
    /// only when [`Module::takes_genesis`] or when the section is absent.
    fn genesis(
        &self,
        _ctx: &mut TxContext<'_>,
        _config: &serde_json::Value,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Answers a read-only query against committed state. Any RPC client may ask, as often as
    /// its rate allows: every answer must cost a bounded number of reads and bytes (lists are
    /// paged, [`crate::Page`]).
    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError>;

    /// Answers a query whose cost grows with the state (a recount of every balance): the node
    /// serves these only to its operator ([`crate::Executor::operator_query`]), never to any
    /// RPC client. None by default.
    fn operator_query(
        &self,
        _state: &dyn StateRead,
        path: &str,
        _params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        Err(QueryError::UnknownPath {
            module: self.name().into(),
            path: path.into(),
        })
    }
}

/// The executor's object-safe view of a [`Module`].
pub(crate) trait DynModule: Send + Sync {
    /// Decodes a payload without executing it: the shape check made at submission.
    fn check_payload(&self, payload: &[u8]) -> Result<(), Failure>;
    fn execute_payload(&self, ctx: &mut TxContext<'_>, payload: &[u8]) -> Result<(), Failure>;
    fn genesis(&self, ctx: &mut TxContext<'_>, config: &serde_json::Value) -> Result<(), Failure>;
    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError>;
    fn operator_query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError>;
}

/// A module's refusal, ready for a receipt.
pub(crate) struct Failure {
    pub reason: &'static str,
    pub message: String,
}

fn failure<E: std::error::Error + ReasonCode>(e: E) -> Failure {
    Failure {
        reason: e.reason(),
        message: e.to_string(),
    }
}

impl<M: Module> DynModule for M {
    fn check_payload(&self, payload: &[u8]) -> Result<(), Failure> {
        self.decode_call(payload).map(|_| ()).map_err(failure)
    }

    fn execute_payload(&self, ctx: &mut TxContext<'_>, payload: &[u8]) -> Result<(), Failure> {
        let call = self.decode_call(payload).map_err(failure)?;
        self.execute(ctx, call).map_err(failure)
    }

    fn genesis(&self, ctx: &mut TxContext<'_>, config: &serde_json::Value) -> Result<(), Failure> {
        if !config.is_null() && !self.takes_genesis() {
            return Err(Failure {
                reason: "bad_genesis",
                message: format!(
                    "module {} takes no genesis section: its state is created by transactions",
                    self.name()
                ),
            });
        }
        Module::genesis(self, ctx, config).map_err(failure)
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        Module::query(self, state, path, params)
    }

    fn operator_query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        Module::operator_query(self, state, path, params)
    }
}

/// A transaction's pending writes: `None` deletes the key.
pub(crate) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// One transaction's view of the chain: who sent it, when, and a private write buffer that
/// becomes state only if the module returns `Ok`.
pub struct TxContext<'a> {
    base: &'a dyn StateRead,
    sender: Address,
    height: u64,
    timestamp: u64,
    tx_hash: TxHash,
    writes: Writes,
    events: Vec<Event>,
    /// Bytes (key and value) put since the last [`Self::checkpoint`]: what the state-write
    /// fee charges for.
    put_bytes: u64,
    /// A storage failure seen by a read; the executor aborts the block when set.
    fatal: Option<String>,
}

impl<'a> TxContext<'a> {
    pub(crate) fn new(
        base: &'a dyn StateRead,
        sender: Address,
        height: u64,
        timestamp: u64,
        tx_hash: TxHash,
    ) -> Self {
        Self {
            base,
            sender,
            height,
            timestamp,
            tx_hash,
            writes: BTreeMap::new(),
            events: Vec::new(),
            put_bytes: 0,
            fatal: None,
        }
    }

    /// The account that signed the transaction: identities come from signatures, never from
    /// call arguments.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// Height of the block being executed.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The block's timestamp (ms since the Unix epoch): the chain's clock for time guards.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    pub fn tx_hash(&self) -> TxHash {
        self.tx_hash
    }

    /// `module ':' key`, the namespaced key of a module's entry.
    pub fn module_key(module: &str, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(module.len() + 1 + key.len());
        full.extend_from_slice(module.as_bytes());
        full.push(b':');
        full.extend_from_slice(key);
        full
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.put_bytes = self
            .put_bytes
            .saturating_add((key.len() + value.len()) as u64);
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    pub fn emit(&mut self, module: &str, name: &str, data: &impl Serialize) {
        self.events.push(Event {
            module: module.to_string(),
            name: name.to_string(),
            // Module events are plain data; serialization to a JSON value cannot fail for them.
            data: serde_json::to_value(data).unwrap_or(serde_json::Value::Null),
        });
    }

    /// The writes so far (the fee's), to return to with [`Self::rollback`]; restarts the
    /// count of put bytes.
    pub(crate) fn checkpoint(&mut self) -> Writes {
        self.put_bytes = 0;
        self.writes.clone()
    }

    /// Drops every write and event since `checkpoint`.
    pub(crate) fn rollback(&mut self, checkpoint: Writes) {
        self.writes = checkpoint;
        self.events.clear();
    }

    pub(crate) fn put_bytes(&self) -> u64 {
        self.put_bytes
    }

    pub(crate) fn into_parts(self) -> (Writes, Vec<Event>, Option<String>) {
        (self.writes, self.events, self.fatal)
    }

    fn note<T>(&mut self, r: Result<T, StateError>) -> Result<T, StateError> {
        if let Err(e) = &r {
            self.fatal.get_or_insert_with(|| e.0.clone());
        }
        r
    }

    /// Reads through this transaction's own writes to the state below. Takes `&mut self` to
    /// remember a storage failure even if the module swallows the error.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        let r = self.base.read(key);
        self.note(r)
    }

    /// Entries under `prefix` as this transaction sees them, in key order.
    pub fn scan(&mut self, prefix: &[u8]) -> Result<Entries, StateError> {
        let r = self.base.scan_prefix(prefix);
        let base = self.note(r)?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = base.into_iter().collect();
        for (k, v) in self.writes.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }
}
