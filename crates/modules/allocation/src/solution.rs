//! Solutions (Fig. 6.3: createSolution, addAssignment, finalize): staged through
//! `agora_hybrid`, checked by [`crate::verify`], ranked by the strictly-better rule.

use crate::{
    market::{market_in, save},
    store::*,
    types::*,
    verify::{extend, Context, Usage},
    AllocationError, NAME,
};
use agora_bank::{module_account, Bank};
use agora_hybrid::{replaces, submit, HybridMarket, Staged};
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;
use std::collections::{btree_map::Entry, BTreeMap};

type Result<T> = std::result::Result<T, AllocationError>;

/// The offers `assignments` name (those that exist) and, under a pair rule, their owners'
/// zones: O(1) reads per assignment.
fn load_context(
    ctx: &mut TxContext<'_>,
    market: &Market,
    assignments: &[Assignment],
) -> Result<(BTreeMap<OfferId, Offer>, BTreeMap<Address, Zone>)> {
    let m = market.id;
    let mut offers = BTreeMap::new();
    let mut zones = BTreeMap::new();
    for a in assignments {
        for id in [a.provider, a.consumer] {
            if let Entry::Vacant(v) = offers.entry(id) {
                if let Some(offer) = ctx.load::<Offer>(&offer_key(m, id))? {
                    if matches!(market.params.pairs, PairRule::Zones { .. }) {
                        if let Entry::Vacant(z) = zones.entry(offer.owner) {
                            z.insert(ctx.load(&zone_key(m, &offer.owner))?.unwrap_or(0));
                        }
                    }
                    v.insert(offer);
                }
            }
        }
    }
    Ok((offers, zones))
}

fn new_solution(ctx: &mut TxContext<'_>, market: &mut Market, misc: u64) -> Result<SolutionId> {
    if market.solutions_this_cycle >= market.params.max_solutions_per_cycle {
        return Err(AllocationError::TooManySolutions);
    }
    let id = market.next_solution;
    market.next_solution = id.checked_add(1).ok_or(AllocationError::Overflow)?;
    market.solutions_this_cycle += 1;
    let staged = Staged::new(
        ctx.sender(),
        market.cycle,
        SolutionMeta {
            misc,
            score: Score::default(),
        },
    );
    solution_slot(market.id, id).save(ctx, &staged);
    ctx.emit(
        NAME,
        "SolutionCreated",
        &json!({"market": market.id, "solution": id, "creator": ctx.sender(), "misc": misc}),
    );
    Ok(id)
}

pub fn create_solution(ctx: &mut TxContext<'_>, m: MarketId, misc: u64) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Solve)?;
    new_solution(ctx, &mut market, misc)?;
    save(ctx, &market);
    Ok(())
}

fn check_batch(assignments: &[Assignment]) -> Result<()> {
    if assignments.len() > MAX_ASSIGNMENTS_PER_CALL {
        return Err(AllocationError::TooManyAssignments);
    }
    Ok(())
}

/// Checks `assignments` on top of a solution's `usage` and `score` so far (spec 2.6).
fn check(
    ctx: &mut TxContext<'_>,
    market: &Market,
    usage: &mut Usage,
    score: &mut Score,
    assignments: &[Assignment],
) -> Result<()> {
    let (offers, zones) = load_context(ctx, market, assignments)?;
    let cx = Context {
        params: &market.params,
        cycle: market.cycle,
        offers: &offers,
        zones: &zones,
    };
    Ok(extend(&cx, usage, score, assignments)?)
}

/// Stores checked assignments as the next part of solution `s`, with its usage and score.
fn record(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    s: SolutionId,
    staged: &mut Staged<SolutionMeta>,
    usage: Usage,
    score: Score,
    assignments: &[Assignment],
) -> Result<()> {
    for (o, used) in usage {
        ctx.store(usage_key(m, s, o), &used);
    }
    staged.meta.score = score;
    solution_slot(m, s).push(ctx, staged, assignments)?;
    Ok(())
}

/// Makes solution `s` (scored `score`) the candidate if it is already, or ranks strictly above.
fn rank(ctx: &mut TxContext<'_>, market: &mut Market, s: SolutionId, score: Score, size: u64) {
    if market.candidate.solution == Some(s) {
        market.candidate.score = score;
    } else if replaces(score, market.candidate.score, || Ok::<_, ()>(false)) == Ok(true) {
        market
            .candidate
            .replace(score, ctx.sender(), ctx.height(), s);
        ctx.emit(
            NAME,
            "SolutionAccepted",
            &json!({"market": market.id, "round": market.cycle, "solution": s, "solver": ctx.sender(), "score": score, "size": size}),
        );
    }
}

pub fn add_assignments(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    s: SolutionId,
    assignments: Vec<Assignment>,
) -> Result<()> {
    let mut market = market_in(ctx, m, Phase::Solve)?;
    let slot = solution_slot(m, s);
    let mut staged: Staged<SolutionMeta> =
        slot.load(ctx)?.ok_or(AllocationError::UnknownSolution(s))?;
    staged.check_owner(&ctx.sender(), market.cycle)?;
    staged.check_part(staged.parts, assignments.len(), MAX_PARTS)?;
    check_batch(&assignments)?;
    let mut usage = Usage::new();
    for a in &assignments {
        for o in [a.provider, a.consumer] {
            if let Entry::Vacant(v) = usage.entry(o) {
                v.insert(ctx.load(&usage_key(m, s, o))?.unwrap_or(0u128));
            }
        }
    }
    let mut score = staged.meta.score;
    check(ctx, &market, &mut usage, &mut score, &assignments)?;
    record(ctx, m, s, &mut staged, usage, score, &assignments)?;
    ctx.emit(
        NAME,
        "AssignmentAdded",
        &json!({"market": m, "solution": s, "count": assignments.len(), "score": score}),
    );
    rank(ctx, &mut market, s, score, staged.items);
    save(ctx, &market);
    Ok(())
}

/// The allocation market as a [`HybridMarket`]: whole solutions go through
/// [`agora_hybrid::submit`] (ties keep the earlier), the cycle through
/// [`agora_hybrid::finalize`].
struct Hybrid {
    market: Market,
    misc: u64,
    /// What [`HybridMarket::verify`] computed, stored by [`HybridMarket::adopt`].
    usage: Usage,
}

impl HybridMarket for Hybrid {
    type Item = Assignment;
    type Score = Score;
    type Error = AllocationError;

    fn candidate(&self) -> Score {
        self.market.candidate.score
    }

    fn verify(&mut self, ctx: &mut TxContext<'_>, assignments: &[Assignment]) -> Result<Score> {
        let mut score = Score::default();
        check(ctx, &self.market, &mut self.usage, &mut score, assignments)?;
        Ok(score)
    }

    fn adopt(
        &mut self,
        ctx: &mut TxContext<'_>,
        assignments: Vec<Assignment>,
        score: Score,
    ) -> Result<()> {
        let market = &mut self.market;
        let s = new_solution(ctx, market, self.misc)?;
        let mut staged = solution_slot(market.id, s)
            .load(ctx)?
            .ok_or(AllocationError::Corrupt)?;
        let usage = std::mem::take(&mut self.usage);
        record(ctx, market.id, s, &mut staged, usage, score, &assignments)?;
        rank(ctx, market, s, score, staged.items);
        save(ctx, market);
        Ok(())
    }

    fn not_better(&self, score: Score) -> AllocationError {
        AllocationError::NotBetter {
            score,
            candidate: self.market.candidate.score,
        }
    }

    fn due_at(&self) -> i128 {
        i128::from(self.market.phase_since_ms) + i128::from(self.market.params.solve_ms)
    }

    fn not_due(&self, due_at: i128) -> AllocationError {
        AllocationError::NotDue { due_at }
    }

    fn settle(&mut self, ctx: &mut TxContext<'_>) -> Result<()> {
        finalize_cycle(ctx, &mut self.market)
    }
}

pub fn submit_solution(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    misc: u64,
    assignments: Vec<Assignment>,
) -> Result<()> {
    let market = market_in(ctx, m, Phase::Solve)?;
    check_batch(&assignments)?;
    if assignments.is_empty() {
        return Err(agora_hybrid::StageError::EmptyPart.into());
    }
    submit(
        ctx,
        &mut Hybrid {
            market,
            misc,
            usage: Usage::new(),
        },
        assignments,
    )?;
    Ok(())
}

pub fn finalize(ctx: &mut TxContext<'_>, m: MarketId) -> Result<()> {
    let market = market_in(ctx, m, Phase::Solve)?;
    agora_hybrid::finalize(
        ctx,
        &mut Hybrid {
            market,
            misc: 0,
            usage: Usage::new(),
        },
    )
}

/// Commits the candidate (or the empty allocation) as the cycle's record, pays providers from
/// consumers' holds when settling, and starts the next cycle from the empty candidate (P8).
fn finalize_cycle(ctx: &mut TxContext<'_>, market: &mut Market) -> Result<()> {
    let m = market.id;
    let assignments: Vec<Assignment> = match market.candidate.solution {
        Some(s) => {
            let slot = solution_slot(m, s);
            let staged: Staged<SolutionMeta> = slot.load(ctx)?.ok_or(AllocationError::Corrupt)?;
            slot.items(ctx, &staged)?
        }
        None => Vec::new(),
    };
    if market.params.settle {
        pay(ctx, m, &assignments)?;
    }
    let record = Final {
        solution: market.candidate.solution,
        score: market.candidate.score,
        assignments: assignments.len() as u64,
        height: ctx.height(),
    };
    ctx.store(final_key(m, market.cycle), &record);
    ctx.emit(
        NAME,
        "Finalized",
        &json!({"market": m, "cycle": market.cycle, "solution": record.solution, "score": record.score, "assignments": assignments}),
    );
    market.cycle += 1;
    market.candidate.reset(market.cycle);
    market.phase = Phase::Receive;
    market.phase_since_ms = ctx.timestamp();
    market.offers_this_cycle = 0;
    market.posted_this_cycle = 0;
    market.solutions_this_cycle = 0;
    save(ctx, market);
    Ok(())
}

/// Each assignment pays a_Q · a_V from its consumption offer's hold to its provider's owner.
fn pay(ctx: &mut TxContext<'_>, m: MarketId, assignments: &[Assignment]) -> Result<()> {
    let mut offers: BTreeMap<OfferId, Offer> = BTreeMap::new();
    for a in assignments {
        let payment = a
            .quantity
            .checked_mul(a.price)
            .ok_or(AllocationError::Overflow)?;
        if payment == 0 {
            continue;
        }
        for id in [a.provider, a.consumer] {
            if let Entry::Vacant(v) = offers.entry(id) {
                v.insert(
                    ctx.load(&offer_key(m, id))?
                        .ok_or(AllocationError::Corrupt)?,
                );
            }
        }
        let hold = offers[&a.consumer].hold.ok_or(AllocationError::Corrupt)?;
        let to = offers[&a.provider].owner;
        Bank::slash(ctx, hold, payment, &to, &module_account(NAME))?;
    }
    Ok(())
}

/// A stored solution: its record and its assignments.
pub(crate) type StoredSolution = (Staged<SolutionMeta>, Vec<Assignment>);

/// A market's solution by id, with its assignments (queries).
pub(crate) fn read_solution(
    state: &dyn agora_ledger::StateRead,
    m: MarketId,
    s: SolutionId,
) -> std::result::Result<Option<StoredSolution>, agora_hybrid::StoreError> {
    let slot = solution_slot(m, s);
    let Some(staged) = slot.read::<SolutionMeta>(state)? else {
        return Ok(None);
    };
    let items = slot.read_items(state, &staged)?;
    Ok(Some((staged, items)))
}
