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
    clearing::{self, Score},
    market::{load_group, load_market},
    store::*,
    types::*,
    verify::{verify, SolutionContext},
    EnergyError, NAME,
};
use agora_ledger::TxContext;
use agora_types::Address;
use borsh::{BorshDeserialize, BorshSerialize};
use serde_json::json;
use std::collections::{btree_map::Entry, BTreeMap};

/// Most parts of one staged solution (each at most one transaction, 1 MiB).
pub const MAX_STAGED_PARTS: u32 = 64;

/// The sender's staged solution so far.
#[derive(Clone, Debug, Default, BorshSerialize, BorshDeserialize)]
struct Staged {
    parts: u32,
    /// The sort key of its last trade: the next part continues after it.
    last: Option<(Interval, OfferId, OfferId)>,
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

/// Checks `trades`, and makes them the candidate if they rank above it.
pub fn post_solution(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    trades: Vec<Trade>,
) -> Result<(), EnergyError> {
    let mut market = load_market(ctx, m)?;
    let score = check_solution(ctx, &market, &trades)?;
    let candidate = if score == market.candidate {
        Some(load_candidate(ctx, m)?)
    } else {
        None
    };
    if !clearing::replaces(score, &trades, market.candidate, || {
        candidate.as_deref().unwrap_or_default()
    }) {
        return Err(EnergyError::NotBetter {
            energy: score.energy,
            gains: score.gains,
            candidate: market.candidate,
        });
    }
    market.candidate = score;
    store_candidate(ctx, m, &trades)?;
    ctx.store(market_key(m), &market);
    ctx.emit(
        NAME,
        "SolutionAccepted",
        &json!({"market": m, "solver": ctx.sender(), "energy": score.energy, "gains": score.gains, "trades": trades.len()}),
    );
    Ok(())
}

fn discard_staged(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    solver: &Address,
) -> Result<(), EnergyError> {
    let staged: Staged = ctx.load(&staged_key(m, solver))?.unwrap_or_default();
    for part in 0..staged.parts {
        ctx.delete(staged_part_key(m, solver, part));
    }
    ctx.delete(staged_key(m, solver));
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
    if part == 0 {
        discard_staged(ctx, m, &solver)?;
        if trades.is_empty() {
            return Ok(());
        }
    }
    let mut staged: Staged = ctx.load(&staged_key(m, &solver))?.unwrap_or_default();
    if part != staged.parts {
        return Err(EnergyError::Invalid(
            "staged parts must come in order, from part 0",
        ));
    }
    if part >= MAX_STAGED_PARTS {
        return Err(EnergyError::Invalid(
            "a staged solution has at most 64 parts",
        ));
    }
    if trades.is_empty() {
        return Err(EnergyError::Invalid("a staged part needs trades"));
    }
    // The order check of `verify` runs on the whole; this one fails early and cheaply.
    let mut previous = staged.last;
    for t in &trades {
        let key = (t.interval, t.sell, t.buy);
        if previous.is_some_and(|p| p >= key) {
            return Err(EnergyError::Invalid(
                "staged trades must continue the sort order (interval, sell, buy)",
            ));
        }
        previous = Some(key);
    }
    staged.last = previous;
    staged.parts = part + 1;
    ctx.store(staged_part_key(m, &solver, part), &trades);
    ctx.store(staged_key(m, &solver), &staged);
    Ok(())
}

pub fn post_staged_solution(ctx: &mut TxContext<'_>, m: MarketId) -> Result<(), EnergyError> {
    let solver = ctx.sender();
    let staged: Staged = ctx
        .load(&staged_key(m, &solver))?
        .ok_or(EnergyError::Invalid("nothing staged"))?;
    let mut trades = Vec::new();
    for part in 0..staged.parts {
        let chunk: Vec<Trade> = ctx
            .load(&staged_part_key(m, &solver, part))?
            .ok_or(EnergyError::Corrupt)?;
        trades.extend(chunk);
    }
    discard_staged(ctx, m, &solver)?;
    let count = trades.len();
    post_solution(ctx, m, trades)?;
    ctx.emit(
        NAME,
        "StagedSolutionPosted",
        &json!({"market": m, "solver": solver, "parts": staged.parts, "trades": count}),
    );
    Ok(())
}

/// Most trades in one transaction's call: a trade is 36 bytes encoded, and the rest of a
/// transaction (envelope, signature) fits in the remaining 16 KiB of [`agora_types::MAX_TX_BYTES`].
pub const MAX_TRADES_PER_CALL: usize = (agora_types::MAX_TX_BYTES - 16 * 1024) / 36;

/// The calls that post `trades`: one [`EnergyCall::PostSolution`] when they fit in one
/// transaction, else the parts of a staged solution and its [`EnergyCall::PostStagedSolution`],
/// to be sent in this order by one account.
pub fn solution_calls(market: MarketId, trades: Vec<Trade>) -> Vec<EnergyCall> {
    if trades.len() <= MAX_TRADES_PER_CALL {
        return vec![EnergyCall::PostSolution { market, trades }];
    }
    let mut calls: Vec<EnergyCall> = trades
        .chunks(MAX_TRADES_PER_CALL)
        .enumerate()
        .map(|(part, chunk)| EnergyCall::StageSolution {
            market,
            part: part as u32,
            trades: chunk.to_vec(),
        })
        .collect();
    calls.push(EnergyCall::PostStagedSolution { market });
    calls
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
