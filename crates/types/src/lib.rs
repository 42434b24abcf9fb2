//! The data every part of Agora agrees on: accounts, signed transactions and blocks.
//!
//! Everything here has exactly one binary encoding ([`commonware_codec`]): decoding accepts only
//! bytes that re-encode to themselves, and every length is bounded before anything is allocated,
//! so a hostile peer or client cannot make a node allocate or panic by sending crafted bytes.
//!
//! - [`Address`]: an account, the 32 bytes of an ed25519 public key.
//! - [`Keypair`]: a private key with the file format the CLI reads and writes.
//! - [`Transaction`] / [`SignedTransaction`]: chain id, sender, nonce and a [`Call`] to a module,
//!   signed by the sender under [`TX_NAMESPACE`].
//! - [`Block`]: the consensus context, parent digest, height, the proposer's timestamp and the
//!   ordered transactions. Blocks are ordered first and executed after finalization.
//! - [`FeeSchedule`]: what a transaction costs, stated in the genesis file.

mod account;
mod block;
mod fee;
mod receipt;
mod records;
mod tx;

pub use account::{Address, AddressError, KeyFileError, Keypair};
pub use block::{
    Block, BlockError, Context, Digest, ExecutedState, StateRoot, ValidatorKey, MAX_BLOCK_BYTES,
    MAX_BLOCK_TXS,
};
pub use fee::FeeSchedule;
pub use receipt::{BlockRecord, Event, Receipt, TxStatus, TxSummary};
pub use tx::{
    Call, SignedTransaction, Transaction, TxError, TxHash, MAX_CHAIN_ID_LEN, MAX_MODULE_NAME_LEN,
    MAX_RPC_RESPONSE_BYTES, MAX_TX_BYTES, TX_NAMESPACE,
};
