//! Solutions: checking one against the state, ranking it against the candidate, staging a
//! large one in parts, and keeping the candidate per interval so that finalizing an interval
//! reads and writes only that interval's trades.
//!
//! A solution larger than one transaction is staged: the solver sends its sorted trades in
//! parts ([`EnergyCall::StageSolution`], part 0 first, each part continuing the order of the
//! last) and then [`EnergyCall::PostStagedSolution`], which checks and ranks the whole as
//! [`EnergyCall::PostSolution`] does. Each account has at most one staged solution of at most
//! [`MAX_STAGED_PARTS`] parts; a new part 0 replaces it, and an empty part 0 discards it.

use crate::{
    clearing::Score,
    market::{due_at, finalize_due, load_group, load_market},
    store::*,
    types::*,
    verify::{verify, SolutionContext},
    EnergyError, NAME,
};
use agora_hybrid::{
    max_items_per_call, split, submit, HybridMarket, Slot, Split, StageError, Staged,
};
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;
use std::collections::{btree_map::Entry, BTreeMap};

/// Most parts of one staged solution (each at most one transaction, 1 MiB).
pub const MAX_STAGED_PARTS: u32 = 64;

/// A staged solution's running state: the sort key of its last trade, which the next part
/// continues after.
type Cursor = Option<(Interval, OfferId, OfferId)>;

/// The sender's staging slot.
fn slot(m: MarketId, solver: &Address) -> Slot {
    Slot::new(NAME, m, &solver.0)
}

/// The limits the feeder check needs, for every feeder of `groups`.
fn feeder_limits(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    groups: &BTreeMap<GroupId, Group>,
) -> Result<BTreeMap<FeederId, FeederLimits>, EnergyError> {
    let mut feeders = BTreeMap::new();
    for f in groups.values().flat_map(|g| &g.feeders) {
        if let Entry::Vacant(v) = feeders.entry(*f) {
            v.insert(load_feeder(ctx, m, *f)?);
        }
    }
    Ok(feeders)
}

/// A feeder's own limits and its prosumers' summed limits. Every feeder of a group has its
/// own group (`define_group` requires it).
fn load_feeder(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    f: FeederId,
) -> Result<FeederLimits, EnergyError> {
    let own_group: GroupId = ctx
        .load(&feeder_group_key(m, f))?
        .ok_or(EnergyError::NoFeederGroup(f))?;
    let own = load_group(ctx, m, own_group)?;
    let (l_prod, l_cons): (u64, u64) = ctx.load(&feeder_limits_key(m, f))?.unwrap_or((0, 0));
    Ok(FeederLimits {
        feeder: f,
        own_group,
        c_int: own.c_int,
        c_ext: own.c_ext,
        l_prod,
        l_cons,
    })
}

/// Loads what `trades` refer to and checks them (see [`crate::verify`]).
fn check_solution(
    ctx: &mut TxContext<'_>,
    market: &Market,
    trades: &[Trade],
) -> Result<Score, EnergyError> {
    let m = market.id;
    let mut offers = BTreeMap::new();
    let mut groups = BTreeMap::new();
    let mut assets = BTreeMap::new();
    for trade in trades {
        for id in [trade.sell, trade.buy] {
            if offers.contains_key(&id) {
                continue;
            }
            if let Some(offer) = ctx.load::<Offer>(&offer_key(m, id))? {
                if let Entry::Vacant(v) = groups.entry(offer.group) {
                    v.insert(load_group(ctx, m, offer.group)?);
                }
                offers.insert(id, offer);
            }
        }
        for id in [trade.sell, trade.buy] {
            if let Some(o) = offers.get(&id) {
                if let Entry::Vacant(v) = assets.entry((o.account, o.side, o.group, trade.interval))
                {
                    v.insert(ctx.load_u64(&assets_key(
                        m,
                        &o.account,
                        trade.interval,
                        o.side,
                        o.group,
                    ))?);
                }
            }
        }
    }
    let feeders = feeder_limits(ctx, m, &groups)?;
    let solution = SolutionContext {
        next_final: market.next_final,
        offers: &offers,
        groups: &groups,
        feeders: &feeders,
        assets: &assets,
    };
    Ok(verify(&solution, trades)?)
}

/// The candidate's trades, interval by interval.
pub(crate) fn load_candidate(
    ctx: &mut TxContext<'_>,
    m: MarketId,
) -> Result<Vec<Trade>, EnergyError> {
    let intervals: Vec<Interval> = ctx.load(&candidate_index_key(m))?.unwrap_or_default();
    let mut trades = Vec::new();
    for t in intervals {
        trades.extend(
            ctx.load::<Vec<Trade>>(&candidate_key(m, t))?
                .unwrap_or_default(),
        );
    }
    Ok(trades)
}

fn store_candidate(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    trades: &[Trade],
) -> Result<(), EnergyError> {
    let old: Vec<Interval> = ctx.load(&candidate_index_key(m))?.unwrap_or_default();
    for t in old {
        ctx.delete(candidate_key(m, t));
    }
    let mut intervals = Vec::new();
    for chunk in trades.chunk_by(|a, b| a.interval == b.interval) {
        intervals.push(chunk[0].interval);
        ctx.store(candidate_key(m, chunk[0].interval), &chunk.to_vec());
    }
    ctx.store(candidate_index_key(m), &intervals);
    Ok(())
}

/// Takes the candidate's trades of interval `t` (the first of its intervals, if it has any).
pub(crate) fn take_candidate_interval(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    t: Interval,
) -> Result<Vec<Trade>, EnergyError> {
    let mut intervals: Vec<Interval> = ctx.load(&candidate_index_key(m))?.unwrap_or_default();
    if intervals.first() != Some(&t) {
        return Ok(Vec::new());
    }
    intervals.remove(0);
    ctx.store(candidate_index_key(m), &intervals);
    let trades = ctx.load(&candidate_key(m, t))?.unwrap_or_default();
    ctx.delete(candidate_key(m, t));
    Ok(trades)
}

/// The energy market as a [`HybridMarket`]: its check is [`verify`], its score
/// [`clearing::Score`], ties go to the canonical (smaller) trade list, and its settlement is the
/// finalization of the due intervals.
pub(crate) struct Hybrid {
    pub market: Market,
}

impl HybridMarket for Hybrid {
    type Item = Trade;
    type Score = Score;
    type Error = EnergyError;

    fn candidate(&self) -> Score {
        self.market.candidate
    }

    fn verify(&mut self, ctx: &mut TxContext<'_>, trades: &[Trade]) -> Result<Score, EnergyError> {
        check_solution(ctx, &self.market, trades)
    }

    fn wins_tie(
        &mut self,
        ctx: &mut TxContext<'_>,
        score: Score,
        trades: &[Trade],
    ) -> Result<bool, EnergyError> {
        Ok(score.energy > 0 && trades < load_candidate(ctx, self.market.id)?.as_slice())
    }

    fn adopt(
        &mut self,
        ctx: &mut TxContext<'_>,
        trades: Vec<Trade>,
        score: Score,
    ) -> Result<(), EnergyError> {
        let m = self.market.id;
        self.market.candidate = score;
        store_candidate(ctx, m, &trades)?;
        ctx.store(market_key(m), &self.market);
        ctx.emit(
            NAME,
            "SolutionAccepted",
            &json!({"market": m, "solver": ctx.sender(), "energy": score.energy, "gains": score.gains, "trades": trades.len()}),
        );
        Ok(())
    }

    fn not_better(&self, score: Score) -> EnergyError {
        EnergyError::NotBetter {
            energy: score.energy,
            gains: score.gains,
            candidate: self.market.candidate,
        }
    }

    fn due_at(&self) -> i128 {
        due_at(&self.market.params, self.market.next_final)
    }

    fn not_due(&self, due_at: i128) -> EnergyError {
        EnergyError::NotDue {
            interval: self.market.next_final,
            due_at,
        }
    }

    fn settle(&mut self, ctx: &mut TxContext<'_>) -> Result<(), EnergyError> {
        finalize_due(ctx, &mut self.market)
    }
}

/// Checks `trades`, and makes them the candidate if they rank above it.
pub fn post_solution(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    trades: Vec<Trade>,
) -> Result<(), EnergyError> {
    let market = load_market(ctx, m)?;
    submit(ctx, &mut Hybrid { market }, trades)?;
    Ok(())
}

pub fn stage_solution(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    part: u32,
    trades: Vec<Trade>,
) -> Result<(), EnergyError> {
    load_market(ctx, m)?;
    let solver = ctx.sender();
    let slot = slot(m, &solver);
    let old: Option<Staged<Cursor>> = slot.load(ctx)?;
    let mut staged = match old {
        Some(old) if part == 0 => {
            slot.discard(ctx, &old);
            Staged::new(solver, 0, None)
        }
        Some(staged) => staged,
        None => Staged::new(solver, 0, None),
    };
    if part == 0 && trades.is_empty() {
        return Ok(());
    }
    staged.check_part(part, trades.len(), MAX_STAGED_PARTS)?;
    // The order check of `verify` runs on the whole; this one fails early and cheaply.
    let mut previous = staged.meta;
    for t in &trades {
        let key = (t.interval, t.sell, t.buy);
        if previous.is_some_and(|p| p >= key) {
            return Err(EnergyError::Invalid(
                "staged trades must continue the sort order (interval, sell, buy)",
            ));
        }
        previous = Some(key);
    }
    staged.meta = previous;
    slot.push(ctx, &mut staged, &trades)?;
    Ok(())
}

pub fn post_staged_solution(ctx: &mut TxContext<'_>, m: MarketId) -> Result<(), EnergyError> {
    let solver = ctx.sender();
    let slot = slot(m, &solver);
    let staged: Staged<Cursor> = slot.load(ctx)?.ok_or(StageError::Nothing)?;
    let trades: Vec<Trade> = slot.items(ctx, &staged)?;
    slot.discard(ctx, &staged);
    let count = trades.len();
    post_solution(ctx, m, trades)?;
    ctx.emit(
        NAME,
        "StagedSolutionPosted",
        &json!({"market": m, "solver": solver, "parts": staged.parts, "trades": count}),
    );
    Ok(())
}

/// Most trades in one transaction's call: a trade is 36 bytes encoded.
pub const MAX_TRADES_PER_CALL: usize = max_items_per_call(36);

/// The calls that post `trades`: one [`EnergyCall::PostSolution`] when they fit in one
/// transaction, else the parts of a staged solution and its [`EnergyCall::PostStagedSolution`],
/// to be sent in this order by one account.
pub fn solution_calls(market: MarketId, trades: Vec<Trade>) -> Vec<EnergyCall> {
    match split(trades, MAX_TRADES_PER_CALL) {
        Split::Whole(trades) => vec![EnergyCall::PostSolution { market, trades }],
        Split::Parts(parts) => {
            let mut calls: Vec<EnergyCall> = parts
                .into_iter()
                .enumerate()
                .map(|(part, trades)| EnergyCall::StageSolution {
                    market,
                    part: part as u32,
                    trades,
                })
                .collect();
            calls.push(EnergyCall::PostStagedSolution { market });
            calls
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_types::{Keypair, Transaction};

    #[test]
    fn a_full_part_fits_in_one_transaction() {
        let trade = Trade {
            sell: u64::MAX,
            buy: u64::MAX,
            interval: u32::MAX,
            energy: u64::MAX,
            price: u64::MAX,
        };
        let calls = solution_calls(7, vec![trade; 2 * MAX_TRADES_PER_CALL + 1]);
        assert_eq!(calls.len(), 4);
        assert!(matches!(
            calls[3],
            EnergyCall::PostStagedSolution { market: 7 }
        ));
        let key = Keypair::from_seed(1);
        for call in calls {
            let tx = Transaction {
                chain_id: "x".repeat(agora_types::MAX_CHAIN_ID_LEN),
                sender: key.address(),
                nonce: u64::MAX,
                call: call.into_call(),
            }
            .sign(&key);
            assert!(tx.size() <= agora_types::MAX_TX_BYTES);
        }
    }
}
