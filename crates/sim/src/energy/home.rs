//! The prosumer agent of a home, its smart meter's readings, and its predictions.

use super::{price, SimError};
use crate::{meter, mixing::HomeMix, profiles::Profile};
use agora_client::Client;
use agora_energy::{EnergyCall, Interval, MeterReading, Side, Trade};
use agora_types::Keypair;
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct Home {
    pub(super) profile: Profile,
    pub(super) key: Keypair,
    pub(super) meter: Keypair,
    pub(super) group: u32,
    /// Wh withdrawn per (side, interval).
    pub(super) withdrawn: BTreeMap<(Side, Interval), u64>,
    /// Offered (sell) and requested (buy) Wh per interval, a flexible offer spread evenly.
    pub(super) offered: BTreeMap<Interval, f64>,
    pub(super) requested: BTreeMap<Interval, f64>,
    /// What the home predicts for each row (the profile plus the prediction error).
    pub(super) predicted: Vec<i64>,
    /// Signed Wh posted in single-interval offers per interval: the home's announced net.
    pub(super) announced: BTreeMap<Interval, i64>,
    /// The transactions that posted the home's flexible (battery) offers.
    pub(super) flexible: Vec<agora_types::TxHash>,
    /// With mixing: the anonymous accounts offers come from. None without.
    pub(super) mix: Option<HomeMix>,
    /// Wh its battery stored per interval: production that never reached the grid.
    pub(super) stored: BTreeMap<Interval, u64>,
    /// Withdrawals not yet known to have executed: transaction, side, intervals, Wh, and
    /// whether the offer they back was announced (a single-interval row).
    pub(super) unconfirmed: Vec<(agora_types::TxHash, Side, Vec<Interval>, u64, bool)>,
}

impl Home {
    /// A home with fresh keys, in group 0 until set-up assigns its feeder's, predicting its
    /// rows with `prediction_error` percent ([`predictions`]).
    pub(super) fn new(profile: Profile, prediction_error: f64, seed: u64) -> Self {
        use rand::rngs::OsRng;
        Self {
            predicted: predictions(&profile, prediction_error, seed),
            announced: BTreeMap::new(),
            flexible: Vec::new(),
            profile,
            key: Keypair::generate(&mut OsRng),
            meter: Keypair::generate(&mut OsRng),
            group: 0,
            withdrawn: BTreeMap::new(),
            offered: BTreeMap::new(),
            requested: BTreeMap::new(),
            mix: None,
            stored: BTreeMap::new(),
            unconfirmed: Vec::new(),
        }
    }

    /// Withdraws assets for and posts the offer of every row now within the window.
    pub(super) async fn post_due_rows(
        &mut self,
        client: &Client,
        m: u64,
        posted: &mut BTreeSet<usize>,
        next_final: Interval,
        window: u32,
    ) -> Result<(), SimError> {
        let (l_prod, l_cons) = self.profile.limits();
        for i in 0..self.profile.rows.len() {
            let row = self.profile.rows[i];
            if posted.contains(&i) || row.first > next_final.saturating_add(window) {
                continue;
            }
            posted.insert(i);
            let first = row.first.max(next_final);
            let predicted = self.predicted[i];
            if first > row.last || predicted == 0 {
                continue;
            }
            let (side, limit) = if predicted > 0 {
                (Side::Sell, l_prod)
            } else {
                (Side::Buy, l_cons)
            };
            // Never beyond the home's limit in any interval of the offer (with mixing, the
            // anonymous accounts' assets bound it instead).
            let room = (first..=row.last)
                .map(|t| limit.saturating_sub(self.withdrawn.get(&(side, t)).copied().unwrap_or(0)))
                .min()
                .unwrap_or(0);
            let energy = if self.mix.is_some() {
                predicted.unsigned_abs()
            } else {
                predicted.unsigned_abs().min(room)
            };
            if energy == 0 {
                continue;
            }
            let intervals: Vec<Interval> = (first..=row.last).collect();
            let base = if side == Side::Sell { 10 } else { 20 };
            let offer = |energy| EnergyCall::PostOffer {
                market: m,
                side,
                group: self.group,
                energy,
                intervals: intervals.clone(),
                price: price(base, self.profile.home, i),
            };
            let (energy, hashes) = if let Some(mix) = &mut self.mix {
                mix.post(client, &self.key, side, &intervals, energy, offer)
                    .await?
            } else {
                let withdraw = EnergyCall::WithdrawAssets {
                    market: m,
                    side,
                    group: self.group,
                    energy,
                    first,
                    last: row.last,
                };
                let tx = client.send(&self.key, withdraw.into_call()).await?;
                self.unconfirmed.push((
                    tx.hash(),
                    side,
                    intervals.clone(),
                    energy,
                    row.first == row.last,
                ));
                let hash = client
                    .send(&self.key, offer(energy).into_call())
                    .await?
                    .hash();
                for t in &intervals {
                    *self.withdrawn.entry((side, *t)).or_default() += energy;
                }
                (energy, vec![hash])
            };
            if energy == 0 {
                continue;
            }
            if row.first == row.last {
                *self.announced.entry(row.first).or_default() += if side == Side::Sell {
                    energy as i64
                } else {
                    -(energy as i64)
                };
            }
            if row.first != row.last {
                // A battery's offers: its meter will measure what it delivers, i.e. their trades.
                self.flexible.extend(hashes);
            }
            let share = energy as f64 / 1000.0 / intervals.len() as f64;
            for t in intervals {
                let book = if side == Side::Sell {
                    &mut self.offered
                } else {
                    &mut self.requested
                };
                *book.entry(t).or_default() += share;
            }
        }
        Ok(())
    }

    /// Forgets the withdrawals the ledger refused (e.g. their first interval became final while
    /// the home posted, on a loaded machine), and what the offers they backed announced: such
    /// an offer was refused for want of assets.
    pub(super) async fn confirm_withdrawals(&mut self, client: &Client) -> Result<(), SimError> {
        for (hash, side, intervals, energy, announced) in std::mem::take(&mut self.unconfirmed) {
            let receipt = client
                .wait_for_receipt(&hash, std::time::Duration::from_secs(60))
                .await?;
            if receipt.status == agora_types::TxStatus::Success {
                continue;
            }
            let share = energy as f64 / 1000.0 / intervals.len() as f64;
            for t in &intervals {
                if let Some(w) = self.withdrawn.get_mut(&(side, *t)) {
                    *w = w.saturating_sub(energy);
                    if *w == 0 {
                        self.withdrawn.remove(&(side, *t));
                    }
                }
                let book = if side == Side::Sell {
                    &mut self.offered
                } else {
                    &mut self.requested
                };
                *book.entry(*t).or_default() -= share;
            }
            if announced {
                let t = intervals[0];
                let signed = if side == Side::Sell {
                    energy as i64
                } else {
                    -(energy as i64)
                };
                *self.announced.entry(t).or_default() -= signed;
            }
        }
        Ok(())
    }

    /// Net production of the single-interval rows in interval `t` as it happens (Wh).
    pub(super) fn actual(&self, t: Interval) -> i64 {
        self.profile
            .rows
            .iter()
            .filter(|r| r.first == t && r.last == t)
            .map(|r| r.energy)
            .sum()
    }

    /// Residual production r of eq. 2.16 in final interval `t`, before any battery stores
    /// it: what it produces plus what it bought less what it sold. The production assets it
    /// holds for `t` are those it withdrew plus bought less sold.
    pub(super) async fn residual(
        &self,
        client: &Client,
        m: u64,
        t: Interval,
    ) -> Result<i64, SimError> {
        let held = client
            .query(
                "energy",
                "assets",
                serde_json::json!({"market": m, "account": self.key.address(), "interval": t}),
            )
            .await?;
        let epa: u64 = held
            .as_array()
            .ok_or_else(|| SimError::Unexpected(format!("assets: {held}")))?
            .iter()
            .filter(|a| a["side"] == "sell")
            .filter_map(|a| a["energy"].as_u64())
            .sum();
        let withdrawn = self.withdrawn.get(&(Side::Sell, t)).copied().unwrap_or(0);
        Ok(self.actual(t) + epa as i64 - withdrawn as i64)
    }

    /// What the meter reads per interval (see [`Reading`]).
    pub(super) async fn readings(
        &self,
        client: &Client,
        m: u64,
        finals: &BTreeMap<Interval, Vec<Trade>>,
    ) -> Result<BTreeMap<Interval, Reading>, SimError> {
        // The battery delivers exactly what its offers traded.
        let mut ids = BTreeSet::new();
        for hash in &self.flexible {
            let receipt = client
                .receipt(hash)
                .await?
                .ok_or_else(|| SimError::Unexpected(format!("no receipt for offer {hash}")))?;
            ids.extend(
                receipt
                    .events
                    .iter()
                    .filter_map(|e| e.data["offer"]["id"].as_u64()),
            );
        }
        let mut battery: BTreeMap<Interval, i64> = BTreeMap::new();
        for (t, trades) in finals {
            for trade in trades {
                let e = trade.energy as i64;
                let delta = if ids.contains(&trade.sell) { e } else { 0 }
                    - if ids.contains(&trade.buy) { e } else { 0 };
                if delta != 0 {
                    *battery.entry(*t).or_default() += delta;
                }
            }
        }
        let mut readings = BTreeMap::new();
        let intervals: BTreeSet<Interval> = self
            .withdrawn
            .keys()
            .map(|(_, t)| *t)
            .chain(
                self.profile
                    .rows
                    .iter()
                    .filter(|r| r.first == r.last)
                    .map(|r| r.first),
            )
            .collect();
        let secret = meter::deposit_secret(&self.meter, m);
        for t in intervals {
            let battery = battery.get(&t).copied().unwrap_or(0);
            let stored = self.stored.get(&t).copied().unwrap_or(0) as i64;
            let measured = self.actual(t) + battery - stored;
            let meter = meter::read(client, m, &self.key.address(), &secret, t, measured).await?;
            let delta_epa = meter
                .delta_epa()
                .map_err(|e| SimError::Unexpected(e.to_string()))?;
            readings.insert(
                t,
                Reading {
                    delta_epa,
                    measured,
                    battery,
                    meter,
                },
            );
        }
        Ok(readings)
    }
}

/// A smart meter's view of one interval, in Wh.
pub(super) struct Reading {
    /// ΔEPA as the meter credits it (see [`agora_energy::MeterReading::delta_epa`]).
    pub(super) delta_epa: i64,
    /// Net production E: the single-interval rows as profiled plus the battery's delivery.
    pub(super) measured: i64,
    /// What the home's battery delivered (its offers' trades; negative: it charged).
    pub(super) battery: i64,
    /// What the meter read, as the ledger's billing takes it.
    pub(super) meter: MeterReading,
}

/// A normal sample (Box-Muller) with standard deviation `sigma`.
fn normal(rng: &mut impl rand::Rng, sigma: f64) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Each row as the home predicts it: single-interval rows get a normal error of
/// `percent` of the home's largest row (its largest possible trade), seeded by the day's
/// `seed` and the home, so runs repeat and days differ.
pub(super) fn predictions(profile: &Profile, percent: f64, seed: u64) -> Vec<i64> {
    use rand::SeedableRng;
    let largest = profile
        .rows
        .iter()
        .map(|r| r.energy.unsigned_abs())
        .max()
        .unwrap_or(0) as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ profile.home as u64,
    );
    profile
        .rows
        .iter()
        .map(|r| {
            if r.first == r.last && percent > 0.0 {
                r.energy + normal(&mut rng, largest * percent / 100.0).round() as i64
            } else {
                r.energy
            }
        })
        .collect()
}
