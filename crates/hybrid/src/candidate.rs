//! The candidate solution: the best feasible solution so far, and the rule that replaces it.

use agora_ledger::TxContext;
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A market's side of the hybrid-solver pattern: its problem's check and score, and what
/// accepting and finalizing a solution do. Everything else (the replacement rule, staging, the
/// time guard) is [`submit`], [`crate::Slot`] and [`finalize`].
pub trait HybridMarket {
    /// One element of a solution (a trade, an assignment).
    type Item;
    /// How good a solution is; the empty solution scores `Default`.
    type Score: Ord + Copy + Default;
    type Error;

    /// The current candidate's score.
    fn candidate(&self) -> Self::Score;
    /// Checks a whole solution exactly against the ledger state (cost linear in its size, up to
    /// a log factor) and scores it.
    fn verify(
        &mut self,
        ctx: &mut TxContext<'_>,
        items: &[Self::Item],
    ) -> Result<Self::Score, Self::Error>;
    /// On a tie of scores, whether `items` replace the candidate. The default keeps the earlier
    /// candidate; a market may instead prefer a canonical order, so that the survivor does not
    /// depend on who posted first.
    fn wins_tie(
        &mut self,
        _ctx: &mut TxContext<'_>,
        _score: Self::Score,
        _items: &[Self::Item],
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }
    /// Makes `items` the candidate (stores them, emits the market's `SolutionAccepted`).
    fn adopt(
        &mut self,
        ctx: &mut TxContext<'_>,
        items: Vec<Self::Item>,
        score: Self::Score,
    ) -> Result<(), Self::Error>;
    /// The refusal of a solution that does not rank above the candidate.
    fn not_better(&self, score: Self::Score) -> Self::Error;
    /// When the next finalization is due (ms on the block clock).
    fn due_at(&self) -> i128;
    /// The refusal of a finalization before `due_at`.
    fn not_due(&self, due_at: i128) -> Self::Error;
    /// Commits the due part of the candidate: records it, settles it, starts the next round.
    fn settle(&mut self, ctx: &mut TxContext<'_>) -> Result<(), Self::Error>;
}

/// Whether a solution scored `score` replaces a candidate scored `candidate`: strictly better
/// replaces, worse never does, a tie asks `tie`.
pub fn replaces<S: Ord, E>(
    score: S,
    candidate: S,
    tie: impl FnOnce() -> Result<bool, E>,
) -> Result<bool, E> {
    match score.cmp(&candidate) {
        Ordering::Greater => Ok(true),
        Ordering::Less => Ok(false),
        Ordering::Equal => tie(),
    }
}

/// Posts a whole solution: verify, rank against the candidate, adopt. Refused solutions change
/// nothing (the executor discards a failed call's writes).
pub fn submit<M: HybridMarket>(
    ctx: &mut TxContext<'_>,
    market: &mut M,
    items: Vec<M::Item>,
) -> Result<M::Score, M::Error> {
    let score = market.verify(ctx, &items)?;
    if !replaces(score, market.candidate(), || {
        market.wins_tie(ctx, score, &items)
    })? {
        return Err(market.not_better(score));
    }
    market.adopt(ctx, items, score)?;
    Ok(score)
}

/// The time guard of a finalization: refused before `due_at` on the block clock.
pub fn ensure_due(now_ms: u64, due_at: i128) -> Result<(), i128> {
    if i128::from(now_ms) < due_at {
        Err(due_at)
    } else {
        Ok(())
    }
}

/// The time-guarded finalization anyone may call once due.
pub fn finalize<M: HybridMarket>(ctx: &mut TxContext<'_>, market: &mut M) -> Result<(), M::Error> {
    ensure_due(ctx.timestamp(), market.due_at()).map_err(|due| market.not_due(due))?;
    market.settle(ctx)
}

/// The candidate's bookkeeping for markets that keep it as one record: its score, who posted
/// it, when, for which round, and which staged solution holds its items.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Candidate<S> {
    pub score: S,
    pub solver: Option<Address>,
    /// The block that made it the candidate.
    pub height: u64,
    pub round: u64,
    /// The staged solution holding its items; `None` is the empty allocation.
    pub solution: Option<u64>,
}

impl<S: Copy + Default> Candidate<S> {
    pub fn replace(&mut self, score: S, solver: Address, height: u64, solution: u64) {
        self.score = score;
        self.solver = Some(solver);
        self.height = height;
        self.solution = Some(solution);
    }

    /// A new round starts from the empty allocation (the SolidWorx prototype forgot this, so
    /// every cycle after the first refused all solutions).
    pub fn reset(&mut self, round: u64) {
        *self = Self {
            round,
            ..Self::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_better_replaces_and_ties_ask() {
        let never = || Ok::<_, ()>(false);
        assert_eq!(replaces(2, 1, never), Ok(true));
        assert_eq!(replaces(1, 2, || Ok::<_, ()>(true)), Ok(false));
        assert_eq!(replaces(1, 1, never), Ok(false));
        assert_eq!(replaces(1, 1, || Ok::<_, ()>(true)), Ok(true));
    }

    #[test]
    fn due_exactly_at_the_deadline() {
        assert_eq!(ensure_due(99, 100), Err(100));
        assert_eq!(ensure_due(100, 100), Ok(()));
        assert_eq!(ensure_due(0, -5), Ok(()));
    }

    #[test]
    fn reset_empties_the_candidate() {
        let mut c = Candidate::<u64>::default();
        c.replace(5, Address([1; 32]), 3, 9);
        c.reset(4);
        assert_eq!(
            c,
            Candidate {
                round: 4,
                ..Candidate::default()
            }
        );
    }
}
