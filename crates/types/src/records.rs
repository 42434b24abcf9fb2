//! Derive sets shared by the markets' ledger records, so every module stores and prints its
//! records the same way (borsh on the ledger, snake_case JSON in queries). The caller must have
//! `borsh::{BorshSerialize, BorshDeserialize}` and `serde::{Serialize, Deserialize}` in scope.

/// A stored record or call argument: cloneable, comparable, borsh and serde.
#[macro_export]
macro_rules! record {
    ($($item:item)*) => {$(
        #[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
        $item
    )*};
}

/// A small copyable value (an enum tag, an id pair): also ordered and hashable, and named in
/// snake_case in JSON.
#[macro_export]
macro_rules! token {
    ($($item:item)*) => {$(
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        $item
    )*};
}
