//! Home batteries, as in the seed's prototype (section 2.9.2; 14 kWh at 7.5 kW).
//!
//! A battery sits behind its home's meter and trades from an account and meter of its own,
//! registered on the home's feeder with L⁺ = its power per interval and L⁻ = 0, so the ledger
//! itself bounds what it delivers per interval (eq. 2.5).
//!
//! 1. **Offers.** When an interval comes within the prediction window, the battery posts one
//!    sell offer for that interval to the end of the day (temporal flexibility: the solver picks
//!    when it discharges), of at most its power, and only as much as its charge covers beyond
//!    its offers still open: whatever the solver does, it never sells energy it does not hold.
//! 2. **Discharge.** When an interval becomes final, the battery delivers exactly its trades.
//! 3. **Charge.** In the same interval it stores its home's surplus that the market did not buy
//!    (the residual production r > 0 of eq. 2.16, which would otherwise flow to the DSO), within
//!    its power (less what it delivers) and its free capacity. The home's meter measures only
//!    what reaches the grid.

use super::{price, Client, EnergyCall, Interval, Keypair, Side, SimError};
use agora_energy::Trade;
use serde::Serialize;
use std::{collections::BTreeMap, time::Duration};

/// A battery's size and where its charge starts (Wh).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BatterySpec {
    pub capacity_wh: u64,
    /// Wh per interval at rated power.
    pub power_wh: u64,
    pub initial_wh: u64,
}

impl BatterySpec {
    /// The prototype's battery: 14 kWh at 7.5 kW, i.e. 1,875 Wh per 15-minute interval; it
    /// starts the day half full.
    pub const PROTOTYPE: BatterySpec = BatterySpec {
        capacity_wh: 14_000,
        power_wh: 1_875,
        initial_wh: 7_000,
    };
}

/// What a battery did in one final interval (Wh).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct BatteryStep {
    pub(super) delivered: u64,
    pub(super) stored: u64,
    /// Charge at the interval's end.
    pub(super) charge: u64,
}

pub(super) struct Battery {
    /// Index of its home.
    pub(super) home: usize,
    pub(super) key: Keypair,
    pub(super) meter: Keypair,
    pub(super) group: u32,
    spec: BatterySpec,
    charge: u64,
    /// Offers not closed yet: id -> energy not yet traded in a final interval.
    open: BTreeMap<u64, u64>,
    /// The next interval to post an offer from.
    next_post: Interval,
    pub(super) steps: BTreeMap<Interval, BatteryStep>,
}

impl Battery {
    pub(super) fn new(home: usize, spec: BatterySpec, key: Keypair, meter: Keypair) -> Self {
        Battery {
            home,
            key,
            meter,
            group: 0,
            spec,
            charge: spec.initial_wh.min(spec.capacity_wh),
            open: BTreeMap::new(),
            next_post: 0,
            steps: BTreeMap::new(),
        }
    }

    pub(super) fn limits(&self) -> (u64, u64) {
        (self.spec.power_wh, 0)
    }

    /// Withdraws its power for every interval of the day from `first` on: the assets every
    /// offer draws on, so that together they deliver at most the power per interval.
    pub(super) fn withdrawal(&mut self, m: u64, first: Interval, day: u32) -> agora_types::Call {
        self.next_post = first;
        EnergyCall::WithdrawAssets {
            market: m,
            side: Side::Sell,
            group: self.group,
            energy: self.spec.power_wh,
            first,
            last: day.saturating_sub(1),
        }
        .into_call()
    }

    /// Energy a new offer may sell: its charge beyond its open offers, at most its power.
    fn offerable(&self) -> u64 {
        let promised: u64 = self.open.values().sum();
        self.charge.saturating_sub(promised).min(self.spec.power_wh)
    }

    /// Posts the offers of the intervals that came within the window.
    pub(super) async fn post_due(
        &mut self,
        client: &Client,
        m: u64,
        next_final: Interval,
        window: u32,
        day: u32,
    ) -> Result<(), SimError> {
        let until = next_final.saturating_add(window).min(day.saturating_sub(1));
        while self.next_post <= until {
            let first = self.next_post.max(next_final);
            self.next_post = first + 1;
            let energy = self.offerable();
            if energy == 0 {
                continue;
            }
            let call = EnergyCall::PostOffer {
                market: m,
                side: Side::Sell,
                group: self.group,
                energy,
                intervals: (first..day).collect(),
                price: price(10, self.home as u32, first as usize),
            };
            let tx = client.send(&self.key, call.into_call()).await?;
            let receipt = client
                .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
                .await?;
            let id = receipt
                .events
                .iter()
                .find_map(|e| e.data["offer"]["id"].as_u64());
            match id {
                Some(id) => {
                    self.open.insert(id, energy);
                }
                // Refused (e.g. the interval became final meanwhile): nothing is promised.
                None => tracing::debug!(reason = ?receipt.reason, "battery offer refused"),
            }
        }
        Ok(())
    }

    /// Interval `t` became final with `trades`; `surplus` is its home's residual production
    /// (Wh, negative: residual consumption). Delivers its trades and stores what it can.
    pub(super) fn settle(
        &mut self,
        t: Interval,
        trades: &[Trade],
        surplus: i64,
    ) -> Result<BatteryStep, SimError> {
        let mut delivered = 0u64;
        for trade in trades {
            if let Some(left) = self.open.get_mut(&trade.sell) {
                *left = left.checked_sub(trade.energy).ok_or_else(|| {
                    SimError::Unexpected(format!("battery offer {} oversold", trade.sell))
                })?;
                delivered += trade.energy;
            }
        }
        self.open.retain(|_, left| *left > 0);
        self.charge = self.charge.checked_sub(delivered).ok_or_else(|| {
            SimError::Unexpected(format!("battery sold {delivered} Wh beyond its charge"))
        })?;
        let room =
            (self.spec.capacity_wh - self.charge).min(self.spec.power_wh.saturating_sub(delivered));
        let stored = (surplus.max(0) as u64).min(room);
        self.charge += stored;
        let step = BatteryStep {
            delivered,
            stored,
            charge: self.charge,
        };
        self.steps.insert(t, step);
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn battery(initial_wh: u64) -> Battery {
        let spec = BatterySpec {
            initial_wh,
            ..BatterySpec::PROTOTYPE
        };
        Battery::new(0, spec, Keypair::from_seed(1), Keypair::from_seed(2))
    }

    fn sold(sell: u64, energy: u64) -> Trade {
        Trade {
            sell,
            buy: 99,
            interval: 5,
            energy,
            price: 15,
        }
    }

    #[test]
    fn offers_never_exceed_the_charge_and_storing_respects_power_and_capacity() {
        let mut b = battery(3_000);
        assert_eq!(b.offerable(), 1_875, "at most the power per offer");
        b.open.insert(1, 1_875);
        assert_eq!(b.offerable(), 1_125, "only the charge not yet promised");
        b.open.insert(2, 1_125);
        assert_eq!(b.offerable(), 0);

        // It delivers its trade, and stores surplus only within the power left.
        let step = b.settle(5, &[sold(1, 1_000), sold(7, 500)], 5_000).unwrap();
        assert_eq!(
            step,
            BatteryStep {
                delivered: 1_000,
                stored: 875,
                charge: 2_875
            }
        );
        assert_eq!(b.open[&1], 875);
        // Residual consumption is not stored; full capacity stops charging.
        assert_eq!(b.settle(6, &[], -4_000).unwrap().stored, 0);
        let mut full = battery(13_500);
        assert_eq!(full.settle(6, &[], 5_000).unwrap().stored, 500);
        assert_eq!(full.charge, 14_000);
        // A trade beyond what an offer promised is an error, not a negative charge.
        assert!(b.settle(7, &[sold(2, 2_000)], 0).is_err());
    }
}
