//! Typed module state: borsh values under keys `module ':' tag '/' market (8 bytes BE) rest`,
//! so prefix scans return a market's entries in a meaningful order.

use agora_ledger::{StateError, StateRead, TxContext};
use borsh::{BorshDeserialize, BorshSerialize};

/// Reading typed state failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Stored bytes do not decode: a bug, never a property of a transaction.
    #[error("corrupt module state")]
    Corrupt,
    #[error(transparent)]
    State(#[from] StateError),
}

/// The key of one entry of `market` in `module`: tag, market id, then fixed-width fields.
pub fn key(module: &str, tag: &str, market: u64, rest: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(tag.len() + 9 + rest.iter().map(|r| r.len()).sum::<usize>());
    k.extend_from_slice(tag.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&market.to_be_bytes());
    for part in rest {
        k.extend_from_slice(part);
    }
    TxContext::module_key(module, &k)
}

pub fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, StoreError> {
    borsh::from_slice(bytes).map_err(|_| StoreError::Corrupt)
}

pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing to a Vec cannot fail.
    borsh::to_vec(value).unwrap_or_default()
}

/// The transaction call that carries `call` to module `module` (borsh-encoded, as every market
/// module decodes its calls).
pub fn call<T: BorshSerialize>(module: &str, call: &T) -> agora_types::Call {
    agora_types::Call {
        module: module.to_string(),
        payload: encode(call).into(),
    }
}

/// Decodes a call payload (the inverse of [`call`]); `Err` says why it is malformed.
pub fn decode_call<T: BorshDeserialize>(payload: &[u8]) -> Result<T, String> {
    borsh::from_slice(payload).map_err(|e| e.to_string())
}

/// Typed reads and writes within a transaction.
pub trait Store {
    fn load<T: BorshDeserialize>(&mut self, key: &[u8]) -> Result<Option<T>, StoreError>;
    fn store<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T);
    fn load_u64(&mut self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(self.load::<u64>(key)?.unwrap_or(0))
    }
    /// Stores a counter, deleting it at zero so absent and zero are one state.
    fn store_u64(&mut self, key: Vec<u8>, value: u64);
}

impl Store for TxContext<'_> {
    fn load<T: BorshDeserialize>(&mut self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get(key)?.map(|b| decode(&b)).transpose()
    }
    fn store<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, encode(value));
    }
    fn store_u64(&mut self, key: Vec<u8>, value: u64) {
        if value == 0 {
            self.delete(key);
        } else {
            self.put(key, encode(&value));
        }
    }
}

/// Typed reads of committed state, for queries.
pub fn read<T: BorshDeserialize>(
    state: &dyn StateRead,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    state.read(key)?.map(|b| decode(&b)).transpose()
}

/// The big-endian `u64` a key ends with (an id in an index key).
pub fn parse_u64_suffix(key: &[u8]) -> Result<u64, StoreError> {
    let tail: [u8; 8] = key
        .get(key.len().saturating_sub(8)..)
        .and_then(|t| t.try_into().ok())
        .ok_or(StoreError::Corrupt)?;
    Ok(u64::from_be_bytes(tail))
}
