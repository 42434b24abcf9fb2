//! The smart-meter agent's billing (section 2.7.4, eq. 2.16; protocol in
//! [`agora_energy::billing`]).
//!
//! 1. The meter derives a secret from its own key and gives it to its prosumer at installation;
//!    both derive the deposit address of each interval from it ([`deposit_address`]), so
//!    deposits name neither the meter nor the prosumer.
//! 2. After the day, the meter reads per interval what its prosumer withdrew and what its
//!    deposit address received, checks one against the other (a shortfall is billed as
//!    undelivered production) and adds its measurement E_t ([`read`]).
//! 3. It posts the residuals of consecutive intervals as billing cycles of at most
//!    [`MAX_BILL_INTERVALS`]; the ledger prices them with the DSO's schedule and moves the
//!    tokens ([`post_bills`]). [`bills_csv`] writes one line per home and cycle.

use crate::energy::SimError;
use agora_client::Client;
use agora_energy::{AssetTotals, Bill, EnergyCall, Interval, MeterReading, MAX_BILL_INTERVALS};
use agora_types::{Address, Keypair, TxStatus};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::{collections::BTreeMap, time::Duration};

/// Domain of the meter's signature its deposit secret is hashed from.
const SECRET_NAMESPACE: &[u8] = b"agora-sim-meter-deposit-secret";

/// The secret a meter shares with its prosumer: a hash of its (deterministic ed25519)
/// signature of the market id, so only the meter's key computes it.
pub fn deposit_secret(meter: &Keypair, market: u64) -> [u8; 32] {
    Sha256::digest(meter.sign_bytes(SECRET_NAMESPACE, &market.to_be_bytes())).into()
}

/// Where the prosumer's accounts deposit their assets of interval `t`: fresh per interval,
/// and without the secret nobody can tell whose it is.
pub fn deposit_address(secret: &[u8; 32], market: u64, t: Interval) -> Address {
    let mut h = Sha256::new();
    h.update(b"agora-energy-deposit/");
    h.update(secret);
    h.update(market.to_be_bytes());
    h.update(t.to_be_bytes());
    Address(h.finalize().into())
}

async fn totals(
    client: &Client,
    path: &str,
    params: serde_json::Value,
) -> Result<AssetTotals, SimError> {
    let value = client.query("energy", path, params).await?;
    serde_json::from_value(value).map_err(|e| SimError::Unexpected(e.to_string()))
}

/// What the meter reads of interval `t` from the ledger, plus its measurement E_t.
pub async fn read(
    client: &Client,
    market: u64,
    prosumer: &Address,
    secret: &[u8; 32],
    t: Interval,
    measured: i64,
) -> Result<MeterReading, SimError> {
    let to = deposit_address(secret, market, t);
    Ok(MeterReading {
        withdrawn: totals(
            client,
            "withdrawn",
            serde_json::json!({"market": market, "prosumer": prosumer, "interval": t}),
        )
        .await?,
        deposited: totals(
            client,
            "deposits",
            serde_json::json!({"market": market, "account": to, "interval": t}),
        )
        .await?,
        measured,
    })
}

/// One posted bill of one home, as the CSV has it.
#[derive(Clone, Debug, Serialize)]
pub struct HomeBill {
    pub home: u32,
    pub meter: Address,
    pub cycle: u32,
    pub first: Interval,
    pub intervals: u32,
    /// Σ r_t in Wh: residual production minus residual consumption.
    pub residual_wh: i64,
    /// Wh withdrawn and not deposited, billed as undelivered.
    pub shortfall_wh: u64,
    /// Micro-tokens the ledger computed: positive, paid to the DSO.
    pub amount: i64,
}

/// Posts the bills of intervals `readings` spans (intervals between them have r = 0), in
/// cycles of at most [`MAX_BILL_INTERVALS`], and returns what the ledger billed.
pub async fn post_bills(
    client: &Client,
    market: u64,
    home: u32,
    meter: &Keypair,
    readings: &BTreeMap<Interval, MeterReading>,
) -> Result<Vec<HomeBill>, SimError> {
    let (Some(first), Some(last)) = (readings.keys().next(), readings.keys().next_back()) else {
        return Ok(Vec::new());
    };
    let mut bills = Vec::new();
    let intervals: Vec<Interval> = (*first..=*last).collect();
    for (cycle, chunk) in intervals.chunks(MAX_BILL_INTERVALS).enumerate() {
        let mut residuals = Vec::with_capacity(chunk.len());
        let mut shortfall = 0;
        for t in chunk {
            let r = readings.get(t).copied().unwrap_or_default();
            residuals.push(
                r.residual()
                    .map_err(|e| SimError::Unexpected(e.to_string()))?,
            );
            shortfall = r.shortfall().saturating_add(shortfall);
        }
        let call = EnergyCall::PostBill {
            market,
            cycle: cycle as u32,
            first: chunk[0],
            residuals: residuals.clone(),
        };
        let tx = client.send(meter, call.into_call()).await?;
        let receipt = client
            .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
            .await?;
        if receipt.status != TxStatus::Success {
            return Err(SimError::Failed {
                what: "bill".into(),
                reason: receipt.message.unwrap_or_default(),
            });
        }
        let bill: Bill = receipt
            .events
            .iter()
            .find(|e| e.name == "BillPosted")
            .and_then(|e| serde_json::from_value(e.data["bill"].clone()).ok())
            .ok_or_else(|| SimError::Unexpected("no BillPosted event".into()))?;
        bills.push(HomeBill {
            home,
            meter: meter.address(),
            cycle: bill.cycle,
            first: bill.first,
            intervals: bill.intervals,
            residual_wh: residuals.iter().sum(),
            shortfall_wh: shortfall,
            amount: bill.amount,
        });
    }
    Ok(bills)
}

/// bills.csv: one line per home and billing cycle.
pub fn bills_csv(bills: &[HomeBill]) -> String {
    let mut csv =
        String::from("home,meter,cycle,first_interval,intervals,residual_wh,shortfall_wh,amount\n");
    for b in bills {
        csv += &format!(
            "{},{},{},{},{},{},{},{}\n",
            b.home, b.meter, b.cycle, b.first, b.intervals, b.residual_wh, b.shortfall_wh, b.amount
        );
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_addresses_are_fresh_per_interval_and_meter() {
        let (m1, m2) = (Keypair::from_seed(1), Keypair::from_seed(2));
        let (s1, s2) = (deposit_secret(&m1, 0), deposit_secret(&m2, 0));
        assert_eq!(s1, deposit_secret(&m1, 0));
        assert_ne!(s1, deposit_secret(&m1, 1));
        let a = deposit_address(&s1, 0, 5);
        assert_ne!(a, deposit_address(&s1, 0, 6));
        assert_ne!(a, deposit_address(&s2, 0, 5));
        assert_ne!(a, m1.address());
    }

    #[test]
    fn the_csv_has_one_line_per_bill() {
        let bill = HomeBill {
            home: 101,
            meter: Keypair::from_seed(1).address(),
            cycle: 0,
            first: 3,
            intervals: 94,
            residual_wh: -1_250,
            shortfall_wh: 0,
            amount: 50_000,
        };
        let csv = bills_csv(&[bill.clone(), HomeBill { home: 102, ..bill }]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("101,"));
        assert!(lines[1].ends_with(",0,3,94,-1250,0,50000"));
    }
}
