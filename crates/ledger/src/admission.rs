//! What a transaction must satisfy and pay to be executed: its call's shape and its fee.

use crate::{StateError, StateRead, TxContext};
use agora_types::Address;

/// How the executor takes fees. The bank implements it; the ledger cannot name the bank (the
/// bank is a module built on the ledger), so the node hands it over with
/// [`Executor::with_fees`](crate::Executor::with_fees).
pub trait FeeCollector: Send + Sync + 'static {
    /// What `payer` can spend on fees.
    fn spendable(&self, state: &dyn StateRead, payer: &Address) -> Result<u64, StateError>;

    /// Takes `amount` from `payer` and removes it from the supply. Returns `Ok(false)` and
    /// writes nothing if `payer` holds less.
    fn burn(
        &self,
        ctx: &mut TxContext<'_>,
        payer: &Address,
        amount: u64,
    ) -> Result<bool, StateError>;
}

/// Why a call is refused at submission, before it costs anyone anything.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("no module named {module:?} on this chain (it runs {known})")]
    UnknownModule { module: String, known: String },
    #[error("malformed call to module {module}: {message}")]
    Malformed { module: String, message: String },
}

/// The reason code of a transaction whose sender could not pay its fee.
pub const INSUFFICIENT_FEE: &str = "insufficient_fee";
