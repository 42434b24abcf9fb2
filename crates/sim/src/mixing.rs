//! The homes' side of mixing in a simulated day (section 2.7.2): before trading, every home
//! withdraws its full limits for the day and mixes them by standard denominations
//! ([`crate::mixer`]) with the other homes of its group; its offers then come from its anonymous
//! accounts.
//!
//! 1. **Withdraw.** Each home withdraws L⁺_u and L⁻_u for every interval from the first it can
//!    still mix for to the end of the day, into its public account (eq. 2.5 at the source).
//! 2. **Plan.** Per group and side, [`crate::mixer::plan`] splits the limits into denominations
//!    and deals the units into sessions of at least two homes.
//! 3. **Shuffle.** All sessions of all groups run at once, at most [`CONCURRENT_SESSIONS`] at a
//!    time; a home takes part in several with the same key, one output per unit.
//! 4. **Submit.** Each session's `Mix` goes to the ledger from its first input; an account's
//!    transactions are sent in order so that their nonces do not clash. A buying unit also
//!    moves funds for its bids ([`MIX_FUNDS_PER_WH`]).
//! 5. **Offer.** A home posts each offer from its anonymous accounts of that side, as much as
//!    each has room for in the offer's intervals, largest account first. What they cannot hold
//!    comes from the public account's remainder only if the home opted in (`public_remainder`,
//!    off by default: those offers are linked to the home); otherwise it is not offered.

use crate::{
    energy::{execute_all, SimError},
    mixer::{plan, session_id, shuffle, AnonAccount, Shuffled},
};
use agora_client::Client;
use agora_energy::{EnergyCall, Interval, MarketId, MixStatement, Side};
use agora_types::{Keypair, TxHash};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::info;

/// Funds a buying anonymous account gets per Wh of its assets and interval: above any bid.
pub const MIX_FUNDS_PER_WH: u64 = 30;

/// Funds every anonymous account gets through the mix for its transaction fees: a fresh key
/// holds nothing, and a seller's account would otherwise have nothing to post offers and
/// deposit with. Every output of a mix gets the same, so fees link nobody; 10^7 pays for
/// thousands of offers and deposits at the default fee schedule.
pub const MIX_FEE_ALLOWANCE: u64 = 10_000_000;

/// Sessions running at once: they overlap the ledger's round trips, and few enough that every
/// step stays far within the members' step timeout on two cores.
pub const CONCURRENT_SESSIONS: usize = 4;

/// What mixing did and cost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MixSummary {
    pub sessions: usize,
    /// The smallest anonymity set of any mixed output: the members of its session.
    pub min_anonymity_set: usize,
    /// The mean over mixed outputs.
    pub mean_anonymity_set: f64,
    /// Mixed outputs (anonymous accounts) per anonymity-set size.
    pub outputs_by_anonymity_set: BTreeMap<usize, usize>,
    /// Runs beyond the first (after a blame).
    pub reruns: u32,
    pub session_p50_ms: f64,
    pub session_max_ms: f64,
    /// The whole mixing phase: withdrawals, every group's sessions and their transactions.
    pub total_ms: f64,
    /// Capacity (Wh per interval, summed over homes and sides, in kWh) in anonymous accounts
    /// and left in the public accounts (what no other home's denominations could match).
    pub mixed_kwh_per_interval: f64,
    pub unmixed_kwh_per_interval: f64,
    /// Whether homes offer from their public accounts what their anonymous accounts cannot hold.
    pub public_remainder: bool,
    /// Energy the homes offered over the day from anonymous accounts and from public accounts,
    /// and what they predicted but did not offer (their mixed capacity was short and they kept
    /// the remainder private).
    pub anonymous_offered_kwh: f64,
    pub public_offered_kwh: f64,
    pub unoffered_kwh: f64,
}

impl MixSummary {
    /// Adds what the homes offered over the day.
    pub fn count_offers<'a>(&mut self, homes: impl Iterator<Item = &'a HomeMix>) {
        for h in homes {
            self.anonymous_offered_kwh += h.anonymous_wh as f64 / 1000.0;
            self.public_offered_kwh += h.public_wh as f64 / 1000.0;
            self.unoffered_kwh += h.unoffered_wh as f64 / 1000.0;
        }
    }
}

/// A home that takes part in mixing: its public account, its group and its limits (L⁺, L⁻).
pub struct MixingHome<'a> {
    pub key: &'a Keypair,
    pub group: u32,
    pub limits: (u64, u64),
}

/// One home's accounts after mixing, and what it offered from them.
pub struct HomeMix {
    /// Largest first, so that an offer takes as few pieces as it can.
    pub accounts: Vec<AnonAccount>,
    /// Wh each account already offers, per (account, interval).
    used: BTreeMap<(usize, Interval), u64>,
    /// Wh per interval left in the public account, per side, and what public offers use of it.
    remainder: BTreeMap<Side, u64>,
    public_used: BTreeMap<(Side, Interval), u64>,
    public_remainder: bool,
    anonymous_wh: u64,
    public_wh: u64,
    unoffered_wh: u64,
}

impl HomeMix {
    /// Whether the public account keeps assets after mixing.
    pub fn holds_remainder(&self) -> bool {
        self.remainder.values().any(|&r| r > 0)
    }

    /// Posts `energy` Wh for `intervals` on `side`: from the anonymous accounts, then (if the
    /// home opted in) from its `public` account's remainder. Returns the energy posted and the
    /// offers' transactions.
    pub async fn post(
        &mut self,
        client: &Client,
        public: &Keypair,
        side: Side,
        intervals: &[Interval],
        energy: u64,
        offer: impl Fn(u64) -> EnergyCall,
    ) -> Result<(u64, Vec<TxHash>), SimError> {
        // The pieces first, then their offers at once: each from its own account.
        let mut left = energy;
        let mut pieces: Vec<(&Keypair, u64)> = Vec::new();
        for (a, acc) in self.accounts.iter().enumerate() {
            if acc.side != side || left == 0 {
                continue;
            }
            let used = intervals
                .iter()
                .map(|t| self.used.get(&(a, *t)).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            let piece = left.min(acc.energy.saturating_sub(used));
            if piece == 0 {
                continue;
            }
            pieces.push((&acc.key, piece));
            for t in intervals {
                *self.used.entry((a, *t)).or_default() += piece;
            }
            left -= piece;
        }
        self.anonymous_wh += energy - left;
        if self.public_remainder && left > 0 {
            let remainder = self.remainder.get(&side).copied().unwrap_or(0);
            let used = intervals
                .iter()
                .map(|t| self.public_used.get(&(side, *t)).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            let piece = left.min(remainder.saturating_sub(used));
            if piece > 0 {
                pieces.push((public, piece));
                for t in intervals {
                    *self.public_used.entry((side, *t)).or_default() += piece;
                }
                self.public_wh += piece;
                left -= piece;
            }
        }
        let hashes = futures::future::try_join_all(pieces.into_iter().map(|(key, piece)| {
            let call = offer(piece).into_call();
            async move { Ok::<_, SimError>(client.send(key, call).await?.hash()) }
        }))
        .await?;
        self.unoffered_wh += left;
        Ok((energy - left, hashes))
    }
}

/// Every home withdraws its full limits for `first..day`; then the homes of each group mix them
/// by denominations, all groups and sides at once. Returns each home's accounts (in the order
/// of `homes`) and the summary.
pub async fn mix_homes(
    client: &Client,
    m: MarketId,
    homes: &[MixingHome<'_>],
    first: Interval,
    day: u32,
    public_remainder: bool,
) -> Result<(Vec<HomeMix>, MixSummary), SimError> {
    let started = std::time::Instant::now();
    let last = day.saturating_sub(1);
    let sides = |h: &MixingHome| [(Side::Sell, h.limits.0), (Side::Buy, h.limits.1)];
    futures::future::try_join_all(homes.iter().map(|h| {
        let calls = sides(h)
            .into_iter()
            .filter(|(_, l)| *l > 0)
            .map(|(side, energy)| {
                EnergyCall::WithdrawAssets {
                    market: m,
                    side,
                    group: h.group,
                    energy,
                    first,
                    last,
                }
                .into_call()
            })
            .collect();
        execute_all(client, h.key, calls, "withdrawal for mixing")
    }))
    .await?;

    let mut by_group: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, h) in homes.iter().enumerate() {
        by_group.entry(h.group).or_default().push(i);
    }
    let mut mixes = Vec::new();
    let mut remainder: Vec<BTreeMap<Side, u64>> = vec![BTreeMap::new(); homes.len()];
    for (&g, idx) in &by_group {
        for (s, side) in [Side::Sell, Side::Buy].into_iter().enumerate() {
            let limits: Vec<u64> = idx.iter().map(|&i| sides(&homes[i])[s].1).collect();
            let planned = plan(&limits);
            for (&i, r) in idx.iter().zip(&planned.remainder) {
                remainder[i].insert(side, *r);
            }
            for (n, session) in planned.sessions.into_iter().enumerate() {
                let energy = session.denomination;
                let purchases = if side == Side::Buy {
                    energy
                        .checked_mul(MIX_FUNDS_PER_WH)
                        .and_then(|f| f.checked_mul(u64::from(day - first)))
                } else {
                    Some(0)
                };
                let funds = purchases
                    .and_then(|f| f.checked_add(MIX_FEE_ALLOWANCE))
                    .ok_or_else(|| SimError::Unexpected("mix funds overflow".into()))?;
                let terms = MixStatement {
                    market: m,
                    group: g,
                    side,
                    energy,
                    first,
                    last,
                    funds,
                    session: session_id(m, &format!("{g}/{side:?}/{n}")),
                    run: 0,
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                };
                let members: Vec<usize> = session.members.iter().map(|&j| idx[j]).collect();
                mixes.push((terms, members));
            }
        }
    }
    let shuffled: Vec<(Shuffled, Side, u64, Vec<usize>)> =
        futures::stream::iter(mixes.into_iter().map(|(terms, members)| async move {
            let keys: Vec<Keypair> = members.iter().map(|&i| homes[i].key.clone()).collect();
            let done = shuffle(&terms, &keys).await?;
            Ok::<_, SimError>((done, terms.side, terms.energy, members))
        }))
        .buffer_unordered(CONCURRENT_SESSIONS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;

    // Submit, in order per submitting account.
    let mut by_submitter: BTreeMap<_, (Keypair, Vec<agora_types::Call>)> = BTreeMap::new();
    for (done, ..) in &shuffled {
        by_submitter
            .entry(done.submitter.address())
            .or_insert_with(|| (done.submitter.clone(), Vec::new()))
            .1
            .push(done.call.clone().into_call());
    }
    futures::future::try_join_all(
        by_submitter
            .values()
            .map(|(key, calls)| execute_all(client, key, calls.clone(), "mix")),
    )
    .await?;

    let mut accounts: Vec<Vec<AnonAccount>> = (0..homes.len()).map(|_| Vec::new()).collect();
    let mut summary = MixSummary {
        sessions: shuffled.len(),
        public_remainder,
        ..MixSummary::default()
    };
    let mut times = Vec::new();
    for (done, side, energy, members) in &shuffled {
        let set = done.stats.members;
        for &i in members {
            if let Some(key) = done.outputs.get(&homes[i].key.address()) {
                accounts[i].push(AnonAccount {
                    key: key.clone(),
                    side: *side,
                    energy: *energy,
                    anonymity_set: set,
                });
                *summary.outputs_by_anonymity_set.entry(set).or_default() += 1;
            }
        }
        summary.reruns += done.stats.runs - 1;
        times.push(done.stats.millis);
    }
    times.sort_by(f64::total_cmp);
    let outputs: usize = summary.outputs_by_anonymity_set.values().sum();
    summary.min_anonymity_set = summary
        .outputs_by_anonymity_set
        .keys()
        .next()
        .copied()
        .unwrap_or(0);
    summary.mean_anonymity_set = summary
        .outputs_by_anonymity_set
        .iter()
        .map(|(set, n)| (set * n) as f64)
        .sum::<f64>()
        / outputs.max(1) as f64;
    summary.session_p50_ms = times.get(times.len() / 2).copied().unwrap_or(0.0);
    summary.session_max_ms = times.last().copied().unwrap_or(0.0);
    let mixed: u64 = accounts.iter().flatten().map(|a| a.energy).sum();
    let unmixed: u64 = remainder.iter().flat_map(|r| r.values()).sum();
    summary.mixed_kwh_per_interval = mixed as f64 / 1000.0;
    summary.unmixed_kwh_per_interval = unmixed as f64 / 1000.0;
    summary.total_ms = started.elapsed().as_secs_f64() * 1000.0;
    info!(
        sessions = summary.sessions,
        min_anonymity_set = summary.min_anonymity_set,
        "homes mixed their assets"
    );
    let mixes = accounts
        .into_iter()
        .zip(remainder)
        .map(|(mut accounts, remainder)| {
            accounts.sort_by(|a, b| b.energy.cmp(&a.energy));
            HomeMix {
                accounts,
                used: BTreeMap::new(),
                remainder,
                public_used: BTreeMap::new(),
                public_remainder,
                anonymous_wh: 0,
                public_wh: 0,
                unoffered_wh: 0,
            }
        })
        .collect();
    Ok((mixes, summary))
}
