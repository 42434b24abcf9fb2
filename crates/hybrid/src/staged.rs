//! Solutions larger than one transaction, assembled in parts (the seed's
//! `createSolution`/`addAssignment`, section 6.4.3).
//!
//! A staged solution lives in a *slot* of a market: the solver's address when each solver has one
//! (energy), or a solution id when a solver may have several (allocation). Its record says who
//! created it, for which round (cycle) and how many parts and items it has; each part is one
//! transaction's items, stored under its own key so that appending costs O(part). Guards: only
//! the creator appends, only in the round it was created for, parts come in order, a part is
//! not empty, at most `max_parts` parts.

use crate::store::{key, Store, StoreError};
use agora_ledger::TxContext;
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;

/// Why a part was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("nothing staged")]
    Nothing,
    #[error("staged parts must come in order: part {got} sent, part {expected} expected")]
    OutOfOrder { expected: u32, got: u32 },
    #[error("a staged solution has at most {max} parts")]
    TooManyParts { max: u32 },
    #[error("a staged part needs items")]
    EmptyPart,
    #[error("only the solution's creator may add to it")]
    NotCreator,
    #[error("the solution belongs to round {round}, the market is in round {current}")]
    OtherRound { round: u64, current: u64 },
}

impl StageError {
    /// Stable reason code (markets may map these to their own).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Nothing => "nothing_staged",
            Self::OutOfOrder { .. } => "part_out_of_order",
            Self::TooManyParts { .. } => "too_many_parts",
            Self::EmptyPart => "empty_part",
            Self::NotCreator => "not_solution_creator",
            Self::OtherRound { .. } => "solution_other_cycle",
        }
    }
}

/// The record of a staged solution. `meta` is the market's own running state (energy: the sort
/// key of the last trade; allocation: `misc` and the score so far).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Staged<M> {
    pub creator: Address,
    pub round: u64,
    pub parts: u32,
    pub items: u64,
    pub meta: M,
}

impl<M> Staged<M> {
    pub fn new(creator: Address, round: u64, meta: M) -> Self {
        Self {
            creator,
            round,
            parts: 0,
            items: 0,
            meta,
        }
    }

    /// Creator and round guards: `sender` may extend this solution in round `current`.
    pub fn check_owner(&self, sender: &Address, current: u64) -> Result<(), StageError> {
        if self.round != current {
            return Err(StageError::OtherRound {
                round: self.round,
                current,
            });
        }
        if self.creator != *sender {
            return Err(StageError::NotCreator);
        }
        Ok(())
    }

    /// Part guards: `part` is the next one, within `max_parts`, and has items.
    pub fn check_part(&self, part: u32, items: usize, max_parts: u32) -> Result<(), StageError> {
        if part != self.parts {
            return Err(StageError::OutOfOrder {
                expected: self.parts,
                got: part,
            });
        }
        if part >= max_parts {
            return Err(StageError::TooManyParts { max: max_parts });
        }
        if items == 0 {
            return Err(StageError::EmptyPart);
        }
        Ok(())
    }
}

/// Where one slot's staged solution is stored.
#[derive(Clone, Debug)]
pub struct Slot {
    record: Vec<u8>,
    part_prefix: (&'static str, &'static str, u64, Vec<u8>),
}

impl Slot {
    /// The slot `id` of `market` in `module`; keys `staged/<market><id>` and
    /// `staged_part/<market><id><part>`.
    pub fn new(module: &'static str, market: u64, id: &[u8]) -> Self {
        Self {
            record: key(module, "staged", market, &[id]),
            part_prefix: (module, "staged_part", market, id.to_vec()),
        }
    }

    fn part_key(&self, part: u32) -> Vec<u8> {
        let (module, tag, market, id) = &self.part_prefix;
        key(module, tag, *market, &[id, &part.to_be_bytes()])
    }

    pub fn load<M: BorshDeserialize>(
        &self,
        ctx: &mut TxContext<'_>,
    ) -> Result<Option<Staged<M>>, StoreError> {
        ctx.load(&self.record)
    }

    /// Saves the record (after creating it, or after a market changed its `meta`).
    pub fn save<M: BorshSerialize>(&self, ctx: &mut TxContext<'_>, staged: &Staged<M>) {
        ctx.store(self.record.clone(), staged);
    }

    /// Stores `items` as the next part; the caller checked it with [`Staged::check_part`].
    pub fn push<T: BorshSerialize, M: BorshSerialize>(
        &self,
        ctx: &mut TxContext<'_>,
        staged: &mut Staged<M>,
        items: &[T],
    ) -> Result<(), StoreError> {
        ctx.store(self.part_key(staged.parts), &items);
        staged.parts = staged.parts.checked_add(1).ok_or(StoreError::Corrupt)?;
        staged.items = staged
            .items
            .checked_add(items.len() as u64)
            .ok_or(StoreError::Corrupt)?;
        self.save(ctx, staged);
        Ok(())
    }

    /// Every item of the staged solution, part by part.
    pub fn items<T: BorshDeserialize, M>(
        &self,
        ctx: &mut TxContext<'_>,
        staged: &Staged<M>,
    ) -> Result<Vec<T>, StoreError> {
        self.collect(staged.parts, |k| ctx.load(k))
    }

    fn collect<T>(
        &self,
        parts: u32,
        mut load: impl FnMut(&[u8]) -> Result<Option<Vec<T>>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = Vec::new();
        for part in 0..parts {
            items.extend(load(&self.part_key(part))?.ok_or(StoreError::Corrupt)?);
        }
        Ok(items)
    }

    /// Deletes the record and its parts.
    pub fn discard<M>(&self, ctx: &mut TxContext<'_>, staged: &Staged<M>) {
        for part in 0..staged.parts {
            ctx.delete(self.part_key(part));
        }
        ctx.delete(self.record.clone());
    }

    /// The items of a staged solution from committed state (queries).
    pub fn read_items<T: BorshDeserialize, M>(
        &self,
        state: &dyn agora_ledger::StateRead,
        staged: &Staged<M>,
    ) -> Result<Vec<T>, StoreError> {
        self.collect(staged.parts, |k| crate::store::read(state, k))
    }

    pub fn read<M: BorshDeserialize>(
        &self,
        state: &dyn agora_ledger::StateRead,
    ) -> Result<Option<Staged<M>>, StoreError> {
        crate::store::read(state, &self.record)
    }
}
