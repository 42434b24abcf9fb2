//! The mixer agent: plans the CoinShuffle sessions of a group's prosumers and runs them (the
//! caller submits each mix), so that their offers can come from anonymous accounts (section 2.7.2).
//!
//! A mix moves equal amounts, but homes have different limits. As CoinJoin wallets do, every home
//! splits its capacity (its limit, Wh per interval, on one side) into standard denominations that
//! other homes also hold, and mixes each unit in its own session:
//!
//! 1. **Ladder.** The denominations are 1-2-5 times a power of ten, from
//!    [`SMALLEST_DENOMINATION`] up to the largest limit.
//! 2. **Decomposition.** Each home writes its limit greedily in the ladder (largest first); what
//!    is below the smallest denomination stays in its public account (its remainder).
//! 3. **Balance, largest denomination first.** A session has distinct members, so the units of a
//!    denomination can all be mixed exactly when no home holds more of them than all other homes
//!    together. The home that does (at most one) keeps only as many; each excess unit is split
//!    greedily into the smaller denominations, where the others' units can match it. Excess units
//!    of the smallest denomination join the remainder. So every home mixes all its capacity down
//!    to the smallest denomination, except what one home per group and side holds beyond the
//!    others: the largest producer of the microgrid mixes at most what all other producers hold.
//!    This is a heuristic, not the most that can be mixed: with limits of 9, 5 and 5 kWh the
//!    three mix 5 kWh in one session and the 4 kWh left of the first home stay public, where
//!    pairs (5 with one home, 2 + 2 with the other) would leave only 1 kWh.
//! 4. **Sessions.** The units of a denomination are dealt round-robin into
//!    max(most units of one home, units / [`MAX_SESSION_MEMBERS`]) sessions (rounded up): each
//!    home is at most once in a session, sessions differ in size by at most one, and each has at
//!    least two members. A unit's anonymity set is its session: any of its members may own the
//!    output. Each unit ends in a fresh anonymous account.
//!
//! The denominations reveal nothing the DSO does not know already: it registered the limits.
//! Whether a home offers its remainder from its public account (linked to it) is its choice.

use crate::energy::SimError;
use agora_energy::{EnergyCall, MarketId, MixStatement, Side, MIX_NAMESPACE};
use agora_mixer::{loopback_links, mix, MixConfig, TcpNet};
use agora_types::{Address, Keypair};
use sha2::{Digest, Sha256};
use std::{collections::BTreeMap, time::Duration};

/// An anonymous account a home owns after a mix, and what it holds per interval.
pub struct AnonAccount {
    pub key: Keypair,
    pub side: Side,
    pub energy: u64,
    /// Members of the session that produced it: its anonymity set.
    pub anonymity_set: usize,
}

/// The smallest denomination (Wh): the data's resolution, 0.1 kWh.
pub const SMALLEST_DENOMINATION: u64 = 100;

/// Most members of one session: a session's cost grows about as its members cubed
/// (BENCHMARKS.md), so larger sets of units are dealt into several sessions.
pub const MAX_SESSION_MEMBERS: usize = 20;

/// One planned session: each member (an index into the limits) moves `denomination` Wh per
/// interval to a fresh anonymous account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSession {
    pub denomination: u64,
    pub members: Vec<usize>,
}

/// The sessions of a group's side, and per home the capacity that stays public.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenominationPlan {
    pub sessions: Vec<PlannedSession>,
    pub remainder: Vec<u64>,
}

/// The denominations up to `largest`, ascending: 1-2-5 times powers of ten from
/// [`SMALLEST_DENOMINATION`].
pub fn ladder(largest: u64) -> Vec<u64> {
    let mut ladder = Vec::new();
    let mut decade = SMALLEST_DENOMINATION;
    'decades: loop {
        for step in [1, 2, 5] {
            match decade.checked_mul(step) {
                Some(d) if d <= largest => ladder.push(d),
                _ => break 'decades,
            }
        }
        match decade.checked_mul(10) {
            Some(next) => decade = next,
            None => break,
        }
    }
    ladder
}

/// Plans the mixing of one group's side: `limits` are the homes' capacities (Wh per interval).
pub fn plan(limits: &[u64]) -> DenominationPlan {
    let ladder = ladder(limits.iter().copied().max().unwrap_or(0));
    // counts[k][i]: units of ladder[k] home i mixes.
    let mut counts = vec![vec![0u64; limits.len()]; ladder.len()];
    let mut remainder = limits.to_vec();
    for (i, rest) in remainder.iter_mut().enumerate() {
        for (k, d) in ladder.iter().enumerate().rev() {
            counts[k][i] = *rest / d;
            *rest %= d;
        }
    }
    let mut sessions = Vec::new();
    for k in (0..ladder.len()).rev() {
        let (lower, this) = counts.split_at_mut(k);
        let this = &mut this[0];
        let total: u128 = this.iter().map(|&c| u128::from(c)).sum();
        let Some((top, most)) = this
            .iter()
            .copied()
            .enumerate()
            .max_by_key(|&(i, c)| (c, std::cmp::Reverse(i)))
        else {
            continue;
        };
        let others = total - u128::from(most);
        if u128::from(most) > others {
            // others < most, so it fits in u64.
            let keep = others as u64;
            let excess = most - keep;
            this[top] = keep;
            let mut rest = ladder[k];
            for (j, d) in ladder[..k].iter().enumerate().rev() {
                lower[j][top] += excess * (rest / d);
                rest %= d;
            }
            remainder[top] += excess * rest;
        }
        sessions.extend(deal(ladder[k], this));
    }
    DenominationPlan {
        sessions,
        remainder,
    }
}

/// Deals the units of one denomination (home i holds `counts[i]`, none more than all others
/// together) round-robin into sessions of distinct members.
fn deal(denomination: u64, counts: &[u64]) -> Vec<PlannedSession> {
    let total: u64 = counts.iter().sum();
    let most = counts.iter().copied().max().unwrap_or(0);
    let n = most.max(total.div_ceil(MAX_SESSION_MEMBERS as u64)) as usize;
    let mut members = vec![Vec::new(); n];
    let mut slot = 0;
    for (i, &c) in counts.iter().enumerate() {
        for _ in 0..c {
            members[slot % n].push(i);
            slot += 1;
        }
    }
    members
        .into_iter()
        .map(|mut members| {
            members.sort_unstable();
            PlannedSession {
                denomination,
                members,
            }
        })
        .collect()
}

/// What one session cost.
#[derive(Clone, Copy, Debug)]
pub struct SessionStats {
    pub members: usize,
    pub runs: u32,
    pub millis: f64,
}

/// The session id of a market's mix named `label`.
pub fn session_id(market: MarketId, label: &str) -> [u8; 32] {
    Sha256::digest(format!("agora-sim-mix/{market}/{label}")).into()
}

/// A completed session: the `Mix` call to submit, the member who submits it, and each
/// member's output account (by its public address).
pub struct Shuffled {
    pub call: EnergyCall,
    pub submitter: Keypair,
    pub outputs: BTreeMap<Address, Keypair>,
    pub stats: SessionStats,
}

/// Runs one session among `members` (their public keys), each over its own loopback TCP
/// links, on `terms` (its inputs and outputs are the session's). Submitting is left to the
/// caller, so that sessions can run concurrently while each account's transactions stay in
/// nonce order.
pub async fn shuffle(terms: &MixStatement, members: &[Keypair]) -> Result<Shuffled, SimError> {
    let started = std::time::Instant::now();
    let addresses: Vec<Address> = members.iter().map(|m| m.address()).collect();
    let links = loopback_links(&addresses)
        .await
        .map_err(|e| SimError::Unexpected(format!("mixer links: {e}")))?;
    let cfg = MixConfig {
        session: terms.session,
        members: addresses,
        step_timeout: Duration::from_secs(5),
        statement_namespace: MIX_NAMESPACE.to_vec(),
        // The plan has sessions of two homes (see `deal`).
        min_members: 2,
    };
    let statement = |run: u32, inputs: &[Address], outputs: &[Address]| MixStatement {
        run,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        ..terms.clone()
    };
    let tasks: Vec<_> = members
        .iter()
        .cloned()
        .zip(links)
        .map(|(key, (listener, peers))| {
            let cfg = cfg.clone();
            async move {
                let mut net = TcpNet::connect(listener, &peers, Duration::from_secs(5)).await;
                mix(&cfg, &key, &mut net, |r, i, o| {
                    statement(r, i, o).signed_bytes()
                })
                .await
            }
        })
        .collect();
    let outcomes = futures::future::join_all(tasks).await;
    let mut outputs = BTreeMap::new();
    let mut done = None;
    for (member, outcome) in members.iter().zip(outcomes) {
        let outcome = outcome.map_err(|e| SimError::Failed {
            what: format!("mix of group {} ({:?})", terms.group, terms.side),
            reason: e.to_string(),
        })?;
        outputs.insert(member.address(), outcome.output.clone());
        done = Some(outcome);
    }
    let outcome = done.ok_or_else(|| SimError::Unexpected("a mix without members".into()))?;
    // Any member may submit; the first input does.
    let submitter = members
        .iter()
        .find(|m| outcome.inputs.first() == Some(&m.address()))
        .ok_or_else(|| SimError::Unexpected("the first input is not a member".into()))?
        .clone();
    Ok(Shuffled {
        call: EnergyCall::Mix {
            statement: statement(outcome.run, &outcome.inputs, &outcome.outputs),
            signatures: outcome.signatures.clone(),
        },
        submitter,
        outputs,
        stats: SessionStats {
            members: outcome.inputs.len(),
            runs: outcome.run + 1,
            millis: started.elapsed().as_secs_f64() * 1000.0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::{ladder, plan, DenominationPlan, MAX_SESSION_MEMBERS, SMALLEST_DENOMINATION};

    /// Every home's capacity is exactly its mixed units plus its remainder, every session has
    /// distinct members, at least two and at most [`MAX_SESSION_MEMBERS`], and at most one home
    /// keeps a smallest denomination or more public.
    fn check(limits: &[u64]) -> DenominationPlan {
        let p = plan(limits);
        let mut mixed = vec![0u64; limits.len()];
        for s in &p.sessions {
            assert!(
                (2..=MAX_SESSION_MEMBERS).contains(&s.members.len()),
                "{s:?}"
            );
            assert!(s.members.windows(2).all(|w| w[0] < w[1]), "{s:?}");
            for &i in &s.members {
                mixed[i] += s.denomination;
            }
        }
        for i in 0..limits.len() {
            assert_eq!(
                mixed[i] + p.remainder[i],
                limits[i],
                "home {i} of {limits:?}"
            );
        }
        let public = p
            .remainder
            .iter()
            .filter(|&&r| r >= SMALLEST_DENOMINATION)
            .count();
        assert!(public <= 1, "{limits:?}: {:?}", p.remainder);
        p
    }

    #[test]
    fn ladder_is_one_two_five() {
        assert_eq!(ladder(99), Vec::<u64>::new());
        assert_eq!(ladder(1_000), vec![100, 200, 500, 1_000]);
        assert_eq!(ladder(u64::MAX).len(), 52);
    }

    #[test]
    fn the_microgrids_producers_mix_all_but_the_largest_ones_excess() {
        // The five producers of data/microgrid-102 in one group: the largest mixes what the
        // four others hold together, all in sessions with them.
        let limits = [79_700, 30_200, 14_500, 9_600, 9_400];
        let p = check(&limits);
        assert_eq!(p.remainder, vec![16_000, 0, 0, 0, 0]);
        assert!(p.sessions.iter().all(|s| s.members.contains(&0)));
        // Per-feeder groups: the largest producer shares its feeder with the smallest one.
        assert_eq!(check(&[79_700, 9_400]).remainder, vec![70_300, 0]);
    }

    #[test]
    fn plans_cover_every_capacity_exactly() {
        assert_eq!(check(&[]).sessions, vec![]);
        assert_eq!(check(&[5_000]).remainder, vec![5_000]);
        assert_eq!(check(&[99, 150, 0]).remainder, vec![99, 150, 0]);
        // Equal-amount levels left 200 Wh of the 500 public; denominations mix it all.
        let p = check(&[300, 100, 0, 300, 500]);
        assert_eq!(p.remainder, vec![0; 5]);
        // Many homes with the same denomination share sessions of at most the cap.
        let p = check(&[1_000; 45]);
        assert_eq!(p.sessions.len(), 3);
        assert!(p.sessions.iter().all(|s| s.members.len() == 15));
        // Deterministic pseudo-random groups: consumers-like and producers-like spreads.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            let n = 1 + round % 30;
            let spread = [2_000, 20_000, 100_000][round % 3];
            let limits: Vec<u64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (x >> 33) % spread
                })
                .collect();
            check(&limits);
        }
    }
}
