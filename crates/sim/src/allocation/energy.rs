//! The energy case on the allocation market (spec 5.2, golden check G4): every profile row is
//! one offer of its home, providing if positive and consuming if negative, with the row's
//! energy (Wh) as the quantity of every interval it names (eq. 6.6, or 6.7 for a battery row),
//! one uniform price, objective 6.5. One cycle holds the whole day, or (per interval, Fig. 6.9)
//! cycle k holds the rows that start in the k-th interval.

use super::{
    harness::{self, AllocationSimConfig, Run},
    summary::AllocationEnergySummary,
    OfferSpec,
};
use crate::{energy::SimError, profiles::Profile};
use agora_allocation::{Alternative, Side};
use agora_client::Client;
use agora_types::Keypair;

/// A home's offer for a profile row, with the interval it starts in.
fn row_offers(profile: &Profile, price: u64) -> Vec<(u32, OfferSpec)> {
    profile
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.energy != 0)
        .map(|(i, r)| {
            let side = if r.energy > 0 {
                Side::Provide
            } else {
                Side::Consume
            };
            let alternatives = (r.first..=r.last)
                .map(|t| Alternative {
                    rtype: u64::from(t),
                    quantity: r.energy.unsigned_abs(),
                    value: price,
                })
                .collect();
            let offer = OfferSpec {
                side,
                misc: i as u64,
                alternatives,
            };
            (r.first, offer)
        })
        .collect()
}

/// The intervals the rows start in: first and last.
fn span(homes: &[Vec<(u32, OfferSpec)>]) -> Option<(u32, u32)> {
    let firsts = homes.iter().flatten().map(|(t, _)| *t);
    Some((firsts.clone().min()?, firsts.max()?))
}

/// The cycle in which solver 0 fails for `interval`, per-interval cycles counting from the
/// first interval any row starts in.
pub fn fail_cycle(profiles: &[Profile], interval: u32) -> Option<u64> {
    let homes: Vec<_> = profiles.iter().map(|p| row_offers(p, 0)).collect();
    let (first, _) = span(&homes)?;
    Some(u64::from(interval.saturating_sub(first)))
}

/// Runs the case on the chain behind `client`; `cfg.cycles` is set from the data.
pub async fn run(
    client: &Client,
    faucet: &Keypair,
    profiles: &[Profile],
    mut cfg: AllocationSimConfig,
    per_interval: bool,
    price: u64,
) -> Result<(AllocationEnergySummary, Run), SimError> {
    let homes: Vec<Vec<(u32, OfferSpec)>> = profiles.iter().map(|p| row_offers(p, price)).collect();
    let (first, last) =
        span(&homes).ok_or_else(|| SimError::Unexpected("the profiles have no offers".into()))?;
    cfg.cycles = if per_interval {
        u64::from(last - first) + 1
    } else {
        1
    };
    let offers = |cycle: u64| -> Vec<Vec<OfferSpec>> {
        homes
            .iter()
            .map(|rows| {
                rows.iter()
                    .filter(|(t, _)| !per_interval || u64::from(*t) == u64::from(first) + cycle)
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .collect()
    };
    let run = harness::run(client, faucet, homes.len(), &cfg, offers).await?;
    let summary = AllocationEnergySummary::new(homes.len(), per_interval, &run);
    Ok((summary, run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileRow;

    #[test]
    fn a_battery_row_is_one_offer_over_its_intervals() {
        let profile = Profile {
            home: 101,
            feeder: 1,
            rows: vec![
                ProfileRow {
                    first: 50,
                    last: 52,
                    energy: 10_000,
                },
                ProfileRow {
                    first: 3,
                    last: 3,
                    energy: -700,
                },
                ProfileRow {
                    first: 4,
                    last: 4,
                    energy: 0,
                },
            ],
        };
        let offers = row_offers(&profile, 10);
        assert_eq!(offers.len(), 2, "a zero row is no offer");
        let (t, battery) = &offers[0];
        assert_eq!((*t, battery.side), (50, Side::Provide));
        let types: Vec<u64> = battery.alternatives.iter().map(|a| a.rtype).collect();
        assert_eq!(types, [50, 51, 52]);
        assert!(battery
            .alternatives
            .iter()
            .all(|a| a.quantity == 10_000 && a.value == 10));
        assert_eq!(
            (offers[1].1.side, offers[1].1.capacity()),
            (Side::Consume, 700)
        );
        assert_eq!(fail_cycle(&[profile], 34), Some(31));
    }
}
