//! `bank`: Agora's native token.
//!
//! # Protocol
//!
//! 1. **Genesis** credits the balances listed in the genesis file (`{"balances": {ADDR: N}}`);
//!    the total supply is their sum and never changes afterwards.
//! 2. **Transfer** `(to, amount)` moves `amount` from the signer to `to`.
//! 3. **Hold** `(amount, controller)` locks `amount` of the signer's balance as a deposit or an
//!    escrow. Only the `controller` can end it: the owner alone cannot take a deposit back.
//!    Markets hold funds with their own [`module_account`] as controller, through
//!    [`Bank::hold`], so that only the market's rules release or slash them.
//! 4. **Release** `(hold)` by the controller returns what is left of the hold to its owner.
//! 5. **Slash** `(hold, amount, beneficiary)` by the controller pays `amount` of the hold to
//!    `beneficiary` (a fine, a payment out of escrow); the rest stays held.
//!
//! Queries (each a bounded number of reads): `balance {address}`, `supply`, `hold {id}`,
//! `holds {address, after?, limit?}` (one page of the holds an account owns, read through an
//! index by owner, [`agora_ledger::Page`]), and `conservation` (the running totals).
//!
//! Every amount is an integer `u64` of the smallest unit. Conservation: the sum of all balances
//! and of all holds equals the supply after every transaction. The public `conservation`
//! query answers from running totals in O(1); the operator's `conservation` query and
//! [`Bank::check_conservation`] recount both sides from the whole state (see `totals.rs`).
//!
//! **Fees.** The bank is the ledger's [`FeeCollector`]: a transaction's fee is debited from
//! its sender's balance (never from a hold) and burned, so the supply shrinks by exactly the
//! fees paid and conservation keeps holding.
//!
//! # Encoding of calls
//!
//! ```text
//! 0 Transfer: to (32) | amount (u64 BE)
//! 1 Hold:     amount (u64 BE) | controller (32)
//! 2 Release:  hold id (u64 BE)
//! 3 Slash:    hold id (u64 BE) | amount (u64 BE) | beneficiary (32)
//! ```

mod holds;
mod totals;

pub use totals::Totals;

use agora_ledger::{
    query_param, FeeCollector, Module, Page, QueryError, ReasonCode, StateError, StateRead,
    TxContext,
};
use agora_types::Address;
use bytes::{Buf, BufMut};
use commonware_codec::{DecodeExt, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const NAME: &str = "bank";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankCall {
    Transfer {
        to: Address,
        amount: u64,
    },
    Hold {
        amount: u64,
        controller: Address,
    },
    Release {
        hold: u64,
    },
    Slash {
        hold: u64,
        amount: u64,
        beneficiary: Address,
    },
}

/// Funds locked out of their owner's balance until the controller ends the hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: u64,
    pub owner: Address,
    pub controller: Address,
    pub amount: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("malformed bank call: {0}")]
    Malformed(String),
    #[error("insufficient funds: balance {balance}, needed {needed}")]
    InsufficientFunds { balance: u64, needed: u64 },
    #[error("amount must be positive")]
    ZeroAmount,
    #[error("no hold {0}")]
    UnknownHold(u64),
    #[error("only the hold's controller {controller} may do this")]
    NotController { controller: Address },
    #[error("hold {hold} has {held}, cannot slash {amount}")]
    SlashExceedsHold { hold: u64, held: u64, amount: u64 },
    #[error("bad genesis: {0}")]
    Genesis(String),
    #[error("corrupt bank state: {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    State(#[from] StateError),
}

impl ReasonCode for BankError {
    fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_call",
            Self::InsufficientFunds { .. } => "insufficient_funds",
            Self::ZeroAmount => "zero_amount",
            Self::UnknownHold(_) => "unknown_hold",
            Self::NotController { .. } => "not_controller",
            Self::SlashExceedsHold { .. } => "slash_exceeds_hold",
            Self::Genesis(_) => "bad_genesis",
            Self::Corrupt(_) => "corrupt_state",
            Self::State(_) => "state_error",
        }
    }
}

impl Write for BankCall {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Transfer { to, amount } => {
                0u8.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::Hold { amount, controller } => {
                1u8.write(buf);
                amount.write(buf);
                controller.write(buf);
            }
            Self::Release { hold } => {
                2u8.write(buf);
                hold.write(buf);
            }
            Self::Slash {
                hold,
                amount,
                beneficiary,
            } => {
                3u8.write(buf);
                hold.write(buf);
                amount.write(buf);
                beneficiary.write(buf);
            }
        }
    }
}

impl EncodeSize for BankCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Transfer { .. } => 32 + 8,
            Self::Hold { .. } => 8 + 32,
            Self::Release { .. } => 8,
            Self::Slash { .. } => 8 + 8 + 32,
        }
    }
}

impl Read for BankCall {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Transfer {
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            1 => Self::Hold {
                amount: u64::read(buf)?,
                controller: Address::read(buf)?,
            },
            2 => Self::Release {
                hold: u64::read(buf)?,
            },
            3 => Self::Slash {
                hold: u64::read(buf)?,
                amount: u64::read(buf)?,
                beneficiary: Address::read(buf)?,
            },
            tag => return Err(CodecError::InvalidEnum(tag)),
        })
    }
}

impl BankCall {
    /// The [`agora_types::Call`] that carries this bank call.
    pub fn into_call(self) -> agora_types::Call {
        use commonware_codec::Encode;
        agora_types::Call {
            module: NAME.to_string(),
            payload: self.encode(),
        }
    }
}

/// The account a module controls holds with. Derived from the module's name; nobody has its
/// private key, so only that module's rules can move what it controls.
pub fn module_account(module: &str) -> Address {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"agora-module-account:");
    hasher.update(module.as_bytes());
    Address(hasher.finalize().into())
}

fn balance_key(a: &Address) -> Vec<u8> {
    let mut k = b"bal:".to_vec();
    k.extend_from_slice(&a.0);
    TxContext::module_key(NAME, &k)
}

fn hold_key(id: u64) -> Vec<u8> {
    let mut k = b"hold:".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    TxContext::module_key(NAME, &k)
}

fn supply_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"supply")
}

fn next_hold_key() -> Vec<u8> {
    TxContext::module_key(NAME, b"next_hold")
}

fn decode_u64(v: Option<Vec<u8>>) -> Result<u64, BankError> {
    match v {
        None => Ok(0),
        Some(v) => v
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| BankError::Corrupt("u64")),
    }
}

fn decode_hold(v: &[u8]) -> Result<Hold, BankError> {
    serde_json::from_slice(v).map_err(|_| BankError::Corrupt("hold"))
}

/// Genesis section of the bank.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BankGenesis {
    pub balances: BTreeMap<Address, u64>,
}

/// The bank module, and the functions other modules call to move funds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bank;

impl Bank {
    pub fn balance(ctx: &mut TxContext<'_>, who: &Address) -> Result<u64, BankError> {
        decode_u64(ctx.get(&balance_key(who))?)
    }

    fn set_balance(ctx: &mut TxContext<'_>, who: &Address, amount: u64) {
        if amount == 0 {
            ctx.delete(balance_key(who));
        } else {
            ctx.put(balance_key(who), amount.to_be_bytes().to_vec());
        }
    }

    fn debit(ctx: &mut TxContext<'_>, who: &Address, amount: u64) -> Result<(), BankError> {
        let balance = Self::balance(ctx, who)?;
        let rest = balance
            .checked_sub(amount)
            .ok_or(BankError::InsufficientFunds {
                balance,
                needed: amount,
            })?;
        Self::set_balance(ctx, who, rest);
        Ok(())
    }

    fn credit(ctx: &mut TxContext<'_>, who: &Address, amount: u64) -> Result<(), BankError> {
        let balance = Self::balance(ctx, who)?;
        // Balances sum to at most the supply, a u64, so this cannot overflow in a sound state.
        let total = balance
            .checked_add(amount)
            .ok_or(BankError::Corrupt("balance overflow"))?;
        Self::set_balance(ctx, who, total);
        Ok(())
    }

    pub fn transfer(
        ctx: &mut TxContext<'_>,
        from: &Address,
        to: &Address,
        amount: u64,
    ) -> Result<(), BankError> {
        if amount == 0 {
            return Err(BankError::ZeroAmount);
        }
        Self::debit(ctx, from, amount)?;
        Self::credit(ctx, to, amount)?;
        ctx.emit(
            NAME,
            "Transfer",
            &serde_json::json!({"from": from, "to": to, "amount": amount}),
        );
        Ok(())
    }

    /// Moves `amount` from each of `from` to each of `to` (as many) as one event, so that no
    /// record pairs a payer with a payee: what a mix needs.
    pub fn transfer_equal(
        ctx: &mut TxContext<'_>,
        from: &[Address],
        to: &[Address],
        amount: u64,
    ) -> Result<(), BankError> {
        if amount == 0 {
            return Err(BankError::ZeroAmount);
        }
        if from.len() != to.len() {
            return Err(BankError::Corrupt("unequal sides of an equal transfer"));
        }
        for who in from {
            Self::debit(ctx, who, amount)?;
        }
        for who in to {
            Self::credit(ctx, who, amount)?;
        }
        ctx.emit(
            NAME,
            "EqualTransfer",
            &serde_json::json!({"from": from, "to": to, "amount": amount}),
        );
        Ok(())
    }

    /// Locks `amount` of `owner`'s balance under `controller`; returns the hold's id.
    pub fn hold(
        ctx: &mut TxContext<'_>,
        owner: &Address,
        amount: u64,
        controller: &Address,
    ) -> Result<u64, BankError> {
        if amount == 0 {
            return Err(BankError::ZeroAmount);
        }
        totals::ensure(ctx)?;
        Self::debit(ctx, owner, amount)?;
        totals::held(ctx, amount)?;
        let id = decode_u64(ctx.get(&next_hold_key())?)?;
        ctx.put(next_hold_key(), (id + 1).to_be_bytes().to_vec());
        let hold = Hold {
            id,
            owner: *owner,
            controller: *controller,
            amount,
        };
        ctx.put(hold_key(id), serde_json::to_vec(&hold).unwrap_or_default());
        holds::add(ctx, &hold);
        ctx.emit(NAME, "Held", &hold);
        Ok(id)
    }

    pub fn get_hold(ctx: &mut TxContext<'_>, id: u64) -> Result<Hold, BankError> {
        let bytes = ctx.get(&hold_key(id))?.ok_or(BankError::UnknownHold(id))?;
        decode_hold(&bytes)
    }

    fn controlled_hold(ctx: &mut TxContext<'_>, id: u64, by: &Address) -> Result<Hold, BankError> {
        let hold = Self::get_hold(ctx, id)?;
        if hold.controller != *by {
            return Err(BankError::NotController {
                controller: hold.controller,
            });
        }
        Ok(hold)
    }

    /// Returns what is left of a hold to its owner; `by` must be its controller.
    pub fn release(ctx: &mut TxContext<'_>, id: u64, by: &Address) -> Result<(), BankError> {
        let hold = Self::controlled_hold(ctx, id, by)?;
        totals::ensure(ctx)?;
        ctx.delete(hold_key(id));
        holds::remove(ctx, &hold);
        Self::credit(ctx, &hold.owner, hold.amount)?;
        totals::unheld(ctx, hold.amount)?;
        ctx.emit(NAME, "Released", &hold);
        Ok(())
    }

    /// Pays `amount` of a hold to `beneficiary`; `by` must be its controller.
    pub fn slash(
        ctx: &mut TxContext<'_>,
        id: u64,
        amount: u64,
        beneficiary: &Address,
        by: &Address,
    ) -> Result<(), BankError> {
        let mut hold = Self::controlled_hold(ctx, id, by)?;
        if amount == 0 {
            return Err(BankError::ZeroAmount);
        }
        totals::ensure(ctx)?;
        hold.amount = hold
            .amount
            .checked_sub(amount)
            .ok_or(BankError::SlashExceedsHold {
                hold: id,
                held: hold.amount,
                amount,
            })?;
        if hold.amount == 0 {
            ctx.delete(hold_key(id));
            holds::remove(ctx, &hold);
        } else {
            ctx.put(hold_key(id), serde_json::to_vec(&hold).unwrap_or_default());
        }
        Self::credit(ctx, beneficiary, amount)?;
        totals::unheld(ctx, amount)?;
        ctx.emit(
            NAME,
            "Slashed",
            &serde_json::json!({"hold": id, "amount": amount, "beneficiary": beneficiary}),
        );
        Ok(())
    }
}

fn read_u64(state: &dyn StateRead, key: &[u8]) -> Result<u64, BankError> {
    decode_u64(state.read(key)?)
}

/// A corrupt balance or supply is a storage fault to the executor, like a failed read.
fn storage(e: BankError) -> StateError {
    match e {
        BankError::State(e) => e,
        other => StateError(other.to_string()),
    }
}

impl FeeCollector for Bank {
    fn spendable(&self, state: &dyn StateRead, payer: &Address) -> Result<u64, StateError> {
        read_u64(state, &balance_key(payer)).map_err(storage)
    }

    fn burn(
        &self,
        ctx: &mut TxContext<'_>,
        payer: &Address,
        amount: u64,
    ) -> Result<bool, StateError> {
        totals::ensure(ctx).map_err(storage)?;
        match Self::debit(ctx, payer, amount) {
            Ok(()) => {}
            Err(BankError::InsufficientFunds { .. }) => return Ok(false),
            Err(e) => return Err(storage(e)),
        }
        totals::burned(ctx, amount).map_err(storage)?;
        let supply = decode_u64(ctx.get(&supply_key())?).map_err(storage)?;
        let rest = supply
            .checked_sub(amount)
            .ok_or_else(|| StateError("bank supply below a balance".into()))?;
        ctx.put(supply_key(), rest.to_be_bytes().to_vec());
        Ok(true)
    }
}

impl Module for Bank {
    type Call = BankCall;
    type Error = BankError;

    fn name(&self) -> &'static str {
        NAME
    }

    fn decode_call(&self, payload: &[u8]) -> Result<BankCall, BankError> {
        BankCall::decode(payload).map_err(|e| BankError::Malformed(e.to_string()))
    }

    fn execute(&self, ctx: &mut TxContext<'_>, call: BankCall) -> Result<(), BankError> {
        let sender = ctx.sender();
        match call {
            BankCall::Transfer { to, amount } => Self::transfer(ctx, &sender, &to, amount),
            BankCall::Hold { amount, controller } => {
                Self::hold(ctx, &sender, amount, &controller).map(|_| ())
            }
            BankCall::Release { hold } => Self::release(ctx, hold, &sender),
            BankCall::Slash {
                hold,
                amount,
                beneficiary,
            } => Self::slash(ctx, hold, amount, &beneficiary, &sender),
        }
    }

    fn takes_genesis(&self) -> bool {
        true
    }

    fn genesis(
        &self,
        ctx: &mut TxContext<'_>,
        config: &serde_json::Value,
    ) -> Result<(), BankError> {
        let genesis: BankGenesis = if config.is_null() {
            BankGenesis::default()
        } else {
            serde_json::from_value(config.clone()).map_err(|e| BankError::Genesis(e.to_string()))?
        };
        let mut supply: u64 = 0;
        for (address, amount) in &genesis.balances {
            supply = supply
                .checked_add(*amount)
                .ok_or_else(|| BankError::Genesis("total supply exceeds u64".into()))?;
            Self::set_balance(ctx, address, *amount);
        }
        ctx.put(supply_key(), supply.to_be_bytes().to_vec());
        totals::genesis(ctx, supply);
        Ok(())
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        let bank = |e: BankError| QueryError::BadParams(e.to_string());
        match path {
            "balance" => {
                let address: Address = query_param(params, "address")?;
                let balance = read_u64(state, &balance_key(&address)).map_err(bank)?;
                Ok(serde_json::json!({"address": address, "balance": balance}))
            }
            "supply" => {
                let supply = read_u64(state, &supply_key()).map_err(bank)?;
                Ok(serde_json::json!({"supply": supply}))
            }
            "conservation" => {
                let t = Self::running_totals(state).map_err(bank)?;
                Ok(t.answer(t.conserved(), false))
            }
            "hold" => {
                let id: u64 = query_param(params, "id")?;
                let bytes = state
                    .read(&hold_key(id))?
                    .ok_or_else(|| QueryError::NotFound(format!("hold {id}")))?;
                let hold = decode_hold(&bytes).map_err(bank)?;
                Ok(serde_json::to_value(hold).unwrap_or_default())
            }
            "holds" => {
                let address: Address = query_param(params, "address")?;
                let mut answer =
                    holds::of(state, &address, Page::from_params(params)?)?.answer("holds")?;
                answer["address"] = serde_json::json!(address);
                Ok(answer)
            }
            _ => Err(QueryError::UnknownPath {
                module: NAME.into(),
                path: path.into(),
            }),
        }
    }

    /// `conservation` recounted from every balance and hold (O(state)); `conserved` also
    /// requires the running totals to equal the recount.
    fn operator_query(
        &self,
        state: &dyn StateRead,
        path: &str,
        _params: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        match path {
            "conservation" => {
                let recount = Self::recount(state).map_err(QueryError::BadParams)?;
                let running = Self::running_totals(state).ok();
                Ok(recount.answer(recount.conserved() && running == Some(recount), true))
            }
            _ => Err(QueryError::UnknownPath {
                module: NAME.into(),
                path: path.into(),
            }),
        }
    }
}
