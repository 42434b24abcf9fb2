//! The holds of each owner: an index beside the holds themselves, so that an account's holds
//! (its deposits and escrows) are read without scanning every hold. An entry exists exactly
//! while its hold does; it holds no amount, so conservation is unchanged.

use crate::{decode_hold, hold_key, BankError, Hold, NAME};
use agora_ledger::{StateRead, TxContext};
use agora_types::Address;

fn owner_prefix(owner: &Address) -> Vec<u8> {
    let mut k = b"owner_hold:".to_vec();
    k.extend_from_slice(&owner.0);
    TxContext::module_key(NAME, &k)
}

fn index_key(owner: &Address, id: u64) -> Vec<u8> {
    let mut k = owner_prefix(owner);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(crate) fn add(ctx: &mut TxContext<'_>, hold: &Hold) {
    ctx.put(index_key(&hold.owner, hold.id), Vec::new());
}

pub(crate) fn remove(ctx: &mut TxContext<'_>, hold: &Hold) {
    ctx.delete(index_key(&hold.owner, hold.id));
}

/// The holds `owner` has, by id.
pub(crate) fn of(state: &dyn StateRead, owner: &Address) -> Result<Vec<Hold>, BankError> {
    let prefix = owner_prefix(owner);
    let mut holds = Vec::new();
    for (key, _) in state.scan_prefix(&prefix)? {
        let id: [u8; 8] = key
            .get(prefix.len()..)
            .and_then(|rest| rest.try_into().ok())
            .ok_or(BankError::Corrupt("hold index"))?;
        let bytes = state
            .read(&hold_key(u64::from_be_bytes(id)))?
            .ok_or(BankError::Corrupt("hold index"))?;
        holds.push(decode_hold(&bytes)?);
    }
    Ok(holds)
}
