//! The clearing rule: who trades with whom, at what price, and which of two equally large
//! solutions the market keeps. Solvers choose only how much each offer trades in each interval;
//! everything else is the ledger's.
//!
//! - **Pairing.** In each interval, sellers and buyers are each taken in decreasing reservation
//!   price (ties by offer id), and each seller is filled from the buyers in that order. A seller
//!   at R may trade only with buyers at R_b >= R (eq. 2.1); since a lower-priced seller accepts
//!   every buyer a higher-priced one does, this greedy pairs any amounts that can be paired at
//!   all (Hall's condition on nested neighbourhoods).
//! - **Price.** Each trade clears at the midpoint of the two reservation prices, rounded down
//!   (eq. 2.3 holds by construction): the surplus R_b - R_s is split equally.
//! - **Ranking.** A solution is ranked by its energy (eq. 2.4), then by the gains from trade
//!   Σ ε·(R_b - R_s) (which depend only on the amounts, not on the pairing), then by its trade
//!   list (smaller first). The order is total, so the candidate that survives a set of posted
//!   solutions does not depend on the order they were posted in.

use crate::types::{Interval, OfferId, Trade};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The price of a trade between a seller at `sell` and a buyer at `buy` (`sell <= buy`).
pub fn price(sell: u64, buy: u64) -> u64 {
    sell + (buy - sell) / 2
}

/// One offer's amount in an interval, as the pairing takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount {
    pub offer: OfferId,
    /// The offer's reservation price.
    pub price: u64,
    pub energy: u64,
}

/// Why amounts cannot be paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unpaired {
    /// A seller is left with energy no buyer at or above its price takes.
    Seller(OfferId),
    /// A buyer is left with energy no seller sold to it.
    Buyer(OfferId),
}

/// The trades of one interval, sorted by (sell, buy), pairing `sells` with `buys` by the rule,
/// or the first offer the rule leaves with energy unpaired. Amounts of zero are ignored.
pub fn pair(
    interval: Interval,
    sells: Vec<Amount>,
    buys: Vec<Amount>,
) -> Result<Vec<Trade>, Unpaired> {
    match pair_greedily(interval, sells, buys) {
        (trades, None) => Ok(trades),
        (_, Some(unpaired)) => Err(unpaired),
    }
}

/// The rule's pairing, going on past energy it cannot pair: the trades pair what can be paired
/// this way (and are the rule's own pairing of their amounts), the second value names the first
/// offer left with energy. For solvers whose rounded amounts may not pair exactly.
pub fn pair_greedily(
    interval: Interval,
    mut sells: Vec<Amount>,
    mut buys: Vec<Amount>,
) -> (Vec<Trade>, Option<Unpaired>) {
    let by_price_desc = |a: &Amount, b: &Amount| b.price.cmp(&a.price).then(a.offer.cmp(&b.offer));
    sells.retain(|a| a.energy > 0);
    buys.retain(|a| a.energy > 0);
    sells.sort_unstable_by(by_price_desc);
    buys.sort_unstable_by(by_price_desc);
    let mut trades = Vec::with_capacity(sells.len() + buys.len());
    let mut unpaired = None;
    let mut j = 0;
    for s in sells {
        let mut left = s.energy;
        while left > 0 {
            let Some(b) = buys.get_mut(j).filter(|b| b.price >= s.price) else {
                unpaired = unpaired.or(Some(Unpaired::Seller(s.offer)));
                break;
            };
            let e = left.min(b.energy);
            trades.push(Trade {
                sell: s.offer,
                buy: b.offer,
                interval,
                energy: e,
                price: price(s.price, b.price),
            });
            left -= e;
            b.energy -= e;
            if b.energy == 0 {
                j += 1;
            }
        }
    }
    if let Some(b) = buys.get(j) {
        unpaired = unpaired.or(Some(Unpaired::Buyer(b.offer)));
    }
    trades.sort_unstable_by_key(|t| (t.sell, t.buy));
    (trades, unpaired)
}

/// A solution's rank: energy, then gains from trade, then (on a tie of both) the trade list.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Score {
    /// Eq. 2.4: the energy traded (Wh).
    pub energy: u64,
    /// Σ ε·(R_b - R_s) over the trades (micro-tokens).
    pub gains: u128,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(offer: OfferId, price: u64, energy: u64) -> Amount {
        Amount {
            offer,
            price,
            energy,
        }
    }

    #[test]
    fn pairs_by_price_and_splits_the_surplus() {
        let trades = pair(
            7,
            vec![amount(1, 10, 20), amount(2, 4, 20)],
            vec![amount(3, 12, 25), amount(4, 5, 15)],
        );
        let t = |sell, buy, energy, price| Trade {
            sell,
            buy,
            interval: 7,
            energy,
            price,
        };
        assert_eq!(
            trades,
            Ok(vec![t(1, 3, 20, 11), t(2, 3, 5, 8), t(2, 4, 15, 4)])
        );
        assert_eq!(
            pair(
                7,
                vec![amount(1, 10, 30)],
                vec![amount(3, 12, 25), amount(4, 5, 5)]
            ),
            Err(Unpaired::Seller(1))
        );
        assert_eq!(
            pair(7, vec![amount(1, 10, 10)], vec![amount(3, 12, 20)]),
            Err(Unpaired::Buyer(3))
        );
    }

    /// Hall's condition for nested neighbourhoods: at every seller price p, sellers at >= p sell
    /// no more than buyers at >= p buy, and all sold is bought.
    fn pairable(sells: &[Amount], buys: &[Amount]) -> bool {
        let total = |v: &[Amount], p: u64| -> u64 {
            v.iter().filter(|a| a.price >= p).map(|a| a.energy).sum()
        };
        sells
            .iter()
            .all(|s| total(sells, s.price) <= total(buys, s.price))
            && total(sells, 0) == total(buys, 0)
    }

    proptest::proptest! {
        #[test]
        fn pairs_exactly_what_can_be_paired(
            sells in proptest::collection::vec((0u64..6, 0u64..20), 0..6),
            buys in proptest::collection::vec((0u64..6, 0u64..20), 0..6),
        ) {
            let sells: Vec<Amount> = sells.iter().enumerate().map(|(i, (p, e))| amount(i as u64, *p, *e)).collect();
            let buys: Vec<Amount> = buys.iter().enumerate().map(|(i, (p, e))| amount(100 + i as u64, *p, *e)).collect();
            let result = pair(3, sells.clone(), buys.clone());
            proptest::prop_assert_eq!(result.is_ok(), pairable(&sells, &buys));
            if let Ok(trades) = result {
                for a in sells.iter().chain(&buys) {
                    let traded: u64 = trades.iter().filter(|t| t.sell == a.offer || t.buy == a.offer).map(|t| t.energy).sum();
                    proptest::prop_assert_eq!(traded, a.energy);
                }
                for t in &trades {
                    let (s, b) = (sells[t.sell as usize], buys[(t.buy - 100) as usize]);
                    proptest::prop_assert!(s.price <= t.price && t.price <= b.price);
                }
            }
        }
    }
}
