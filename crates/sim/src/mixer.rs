//! The mixer agent: runs CoinShuffle for the prosumers of a group and submits the mix, so that
//! their offers can come from anonymous accounts (section 2.7.2).
//!
//! A mix moves equal amounts, but homes have different limits. Each side's limits are cut into
//! at most [`MAX_LEVELS`] levels t_1 < t_2 < ...: level k moves t_k - t_{k-1} Wh per interval
//! from every member whose limit is at least t_k, so a home ends up with the largest level at
//! or below its limit in anonymous accounts. The levels are chosen among the limits to mix as
//! much capacity as possible, with at least two members per level; the rest of a home's
//! capacity stays in its public account and is not offered (reported as unmixed). The levels
//! reveal nothing the DSO does not know already: it registered the limits. Fewer levels mean
//! fewer anonymous accounts (and deposits) per home, at the cost of unmixed capacity.

use crate::energy::SimError;
use agora_client::Client;
use agora_energy::{EnergyCall, MarketId, MixStatement, Side, MIX_NAMESPACE};
use agora_mixer::{loopback_links, mix, MixConfig, TcpNet};
use agora_types::{Address, Keypair, TxStatus};
use sha2::{Digest, Sha256};
use std::{collections::BTreeMap, time::Duration};

/// An anonymous account a home owns after a mix, and what it holds per interval.
pub struct AnonAccount {
    pub key: Keypair,
    pub side: Side,
    pub energy: u64,
}

/// Most levels per group and side.
pub const MAX_LEVELS: usize = 4;

/// The mixing levels of a group's limits: the amount per interval and the members (indices
/// into `limits`).
pub fn levels(limits: &[u64]) -> Vec<(u64, Vec<usize>)> {
    let mut v: Vec<u64> = limits.iter().copied().filter(|&l| l > 0).collect();
    v.sort_unstable();
    let m = v.len();
    if m < 2 {
        return Vec::new();
    }
    // best[r][j]: most capacity mixed for the homes j.. when a level sits at v[j] and up to r
    // more may follow; a level needs two members, so none sits above v[m - 2].
    let top = m - 2;
    let mut best = vec![vec![0u64; m]; MAX_LEVELS];
    let mut next = vec![vec![None; m]; MAX_LEVELS];
    for r in 0..MAX_LEVELS {
        for j in (0..=top).rev() {
            best[r][j] = v[j] * (m - j) as u64;
            if r > 0 {
                for k in j + 1..=top {
                    let value = v[j] * (k - j) as u64 + best[r - 1][k];
                    if value > best[r][j] {
                        best[r][j] = value;
                        next[r][j] = Some(k);
                    }
                }
            }
        }
    }
    let mut thresholds = Vec::new();
    let (mut r, mut j) = (
        MAX_LEVELS - 1,
        Some(
            (0..=top)
                .max_by_key(|&j| (best[MAX_LEVELS - 1][j], usize::MAX - j))
                .unwrap_or(0),
        ),
    );
    while let Some(at) = j {
        thresholds.push(v[at]);
        j = next[r][at];
        r = r.saturating_sub(1);
    }
    thresholds.dedup();
    let mut below = 0;
    thresholds
        .into_iter()
        .map(|level| {
            let members = (0..limits.len()).filter(|&i| limits[i] >= level).collect();
            let amount = level - below;
            below = level;
            (amount, members)
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

/// Runs one session among `members` (their public keys), each over its own loopback TCP
/// links, and submits the mix on `terms` (its inputs and outputs are the session's). Returns
/// each member's output account (by its public address).
pub async fn mix_members(
    client: &Client,
    terms: &MixStatement,
    members: &[Keypair],
) -> Result<(BTreeMap<Address, Keypair>, SessionStats), SimError> {
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
        // `levels` lets two homes share a level.
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
        .find(|m| m.address() == outcome.inputs[0])
        .ok_or_else(|| SimError::Unexpected("the first input is not a member".into()))?;
    let call = EnergyCall::Mix {
        statement: statement(outcome.run, &outcome.inputs, &outcome.outputs),
        signatures: outcome.signatures.clone(),
    };
    let tx = client.send(submitter, call.into_call()).await?;
    let receipt = client
        .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
        .await?;
    if receipt.status != TxStatus::Success {
        return Err(SimError::Failed {
            what: format!("mix of group {} ({:?})", terms.group, terms.side),
            reason: receipt.message.unwrap_or_default(),
        });
    }
    let stats = SessionStats {
        members: outcome.inputs.len(),
        runs: outcome.run + 1,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    };
    Ok((outputs, stats))
}

#[cfg(test)]
mod tests {
    use super::{levels, MAX_LEVELS};

    #[test]
    fn levels_cut_limits_into_shared_amounts() {
        // 500 alone cannot be mixed; 100 and 300 mix all else.
        assert_eq!(
            levels(&[300, 100, 0, 300, 500]),
            vec![(100, vec![0, 1, 3, 4]), (200, vec![0, 3, 4])]
        );
        // Against every choice of at most four levels among the limits (two members each).
        let mixed = |limits: &[u64], thresholds: &[u64]| -> u64 {
            limits
                .iter()
                .map(|&l| {
                    thresholds
                        .iter()
                        .copied()
                        .filter(|&t| t <= l)
                        .max()
                        .unwrap_or(0)
                })
                .sum()
        };
        let many: Vec<u64> = vec![10, 20, 30, 45, 50, 60, 75, 80, 90, 7];
        let got = levels(&many);
        assert!(got.len() <= MAX_LEVELS && got.iter().all(|(_, m)| m.len() >= 2));
        let tops: Vec<u64> = got
            .iter()
            .scan(0, |acc, (a, _)| {
                *acc += a;
                Some(*acc)
            })
            .collect();
        let candidates: Vec<u64> = many
            .iter()
            .copied()
            .filter(|&l| many.iter().filter(|&&x| x >= l).count() >= 2)
            .collect();
        let mut brute = 0;
        for mask in 0u32..(1 << candidates.len()) {
            if mask.count_ones() as usize <= MAX_LEVELS {
                let chosen: Vec<u64> = (0..candidates.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| candidates[i])
                    .collect();
                brute = brute.max(mixed(&many, &chosen));
            }
        }
        assert_eq!(mixed(&many, &tops), brute, "{got:?}");
        assert!(levels(&[100]).is_empty());
        assert_eq!(levels(&[100, 100]), vec![(100, vec![0, 1])]);
    }
}
