//! The holds of each owner: an index beside the holds themselves, so that an account's holds
//! (its deposits and escrows) are read without scanning every hold. An entry exists exactly
//! while its hold does; it holds no amount, so conservation is unchanged.

use crate::{decode_hold, hold_key, BankError, Hold, NAME};
use agora_ledger::{Page, Paged, QueryError, StateError, StateRead, TxContext};
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

/// One page of the holds `owner` has, by id.
pub(crate) fn of(
    state: &dyn StateRead,
    owner: &Address,
    page: Page,
) -> Result<Paged<Hold>, QueryError> {
    page.ids(state, &owner_prefix(owner))?.try_map(|id| {
        let bytes = state
            .read(&hold_key(id))?
            .ok_or(BankError::Corrupt("hold index"))
            .and_then(|bytes| decode_hold(&bytes))
            .map_err(|e| QueryError::State(StateError(e.to_string())))?;
        Ok(bytes)
    })
}
