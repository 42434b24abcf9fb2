//! State storage: redb tables and read access for modules.

use redb::{ReadableTable, TableDefinition};
use std::ops::Bound;

/// Module state: keys are `module-name ':' module-key`.
pub(crate) const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// Bookkeeping: last applied height, the state hash, the chain id.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Receipts by transaction hash (JSON).
pub(crate) const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// Block records by height (JSON).
pub(crate) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Block heights by digest, for finding a block by its digest (the explorer's search).
pub(crate) const BLOCK_DIGESTS: TableDefinition<&[u8], u64> = TableDefinition::new("block_digests");

pub(crate) const META_HEIGHT: &str = "last_applied_height";
pub(crate) const META_LTHASH: &str = "lthash";
pub(crate) const META_CHAIN_ID: &str = "chain_id";

/// The state store failed: an I/O or database error, never a property of a transaction.
#[derive(Debug, thiserror::Error)]
#[error("state storage failed: {0}")]
pub struct StateError(pub String);

macro_rules! state_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StateError {
            fn from(e: $t) -> Self {
                Self(e.to_string())
            }
        }
    )*};
}
state_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// State entries `(key, value)`, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Read access to module state, the same for execution and for queries, so a module's
/// accessors (a balance, an offer) are written once.
pub trait StateRead {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError>;

    /// At most `limit` entries under `prefix` whose keys come after `after` (from the first
    /// when `None`), in key order: what a page of a list query reads, so that its cost is
    /// bounded by `limit` rather than by how many entries the prefix holds.
    fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StateError>;
}

/// Reads committed state for queries.
pub(crate) struct Snapshot<T: ReadableTable<&'static [u8], &'static [u8]>>(pub T);

impl<T: ReadableTable<&'static [u8], &'static [u8]>> StateRead for Snapshot<T> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key)?.map(|v| v.value().to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        scan(&self.0, prefix)
    }

    fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StateError> {
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Included(prefix),
        };
        let mut out = Vec::new();
        for entry in self.0.range::<&[u8]>((start, Bound::Unbounded))? {
            if out.len() == limit {
                break;
            }
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

pub(crate) fn scan<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    prefix: &[u8],
) -> Result<Entries, StateError> {
    let mut out = Vec::new();
    for entry in table.range(prefix..)? {
        let (k, v) = entry?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

/// The element an entry contributes to the state hash: length-prefixed so that no two
/// different `(key, value)` pairs give the same bytes.
pub(crate) fn entry_element(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut element = Vec::with_capacity(8 + key.len() + value.len());
    element.extend_from_slice(&(key.len() as u64).to_be_bytes());
    element.extend_from_slice(key);
    element.extend_from_slice(value);
    element
}

/// A [`StateRead`] that counts what passes through it: each `read`, and each entry a scan
/// returns, is one entry read. Tests measure a query's cost with it (in reads, not time).
pub struct ReadCounter<'a> {
    inner: &'a dyn StateRead,
    entries: std::cell::Cell<u64>,
}

impl<'a> ReadCounter<'a> {
    pub fn new(inner: &'a dyn StateRead) -> Self {
        Self {
            inner,
            entries: std::cell::Cell::new(0),
        }
    }

    /// Entries read so far.
    pub fn entries_read(&self) -> u64 {
        self.entries.get()
    }

    fn count<T>(&self, n: usize, value: T) -> T {
        self.entries.set(self.entries.get() + n as u64);
        value
    }
}

impl StateRead for ReadCounter<'_> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let value = self.inner.read(key)?;
        Ok(self.count(1, value))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        let entries = self.inner.scan_prefix(prefix)?;
        Ok(self.count(entries.len(), entries))
    }

    fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StateError> {
        let entries = self.inner.scan_page(prefix, after, limit)?;
        Ok(self.count(entries.len(), entries))
    }
}

/// State held in memory: for tests that build a state entry by entry, or query a copy of one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState(pub std::collections::BTreeMap<Vec<u8>, Vec<u8>>);

impl StateRead for MemState {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        self.scan_page(prefix, None, usize::MAX)
    }

    fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StateError> {
        let start = after.map_or(Bound::Included(prefix), Bound::Excluded);
        Ok(self
            .0
            .range::<[u8], _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
