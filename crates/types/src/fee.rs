//! What a transaction costs: the gas schedule of a chain, stated in its genesis file.
//!
//! Fees are in the bank's smallest unit and are burned: they leave the supply, so the bank's
//! conservation invariant (balances and holds add up to the supply) keeps holding.

use serde::{Deserialize, Serialize};

/// The price of block space and state growth. Every field has a default, so a genesis file
/// without a `fees` section gets [`FeeSchedule::default`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeeSchedule {
    /// Per transaction, which carries exactly one module call.
    pub per_call: u64,
    /// Per byte of the signed transaction's encoding: the block space it takes.
    pub per_tx_byte: u64,
    /// Per byte (key and value) a successful call puts into the state.
    pub per_state_byte: u64,
}

impl Default for FeeSchedule {
    /// A transfer costs about 1,200 units, a 1 MiB solution part about 2.1 million (its bytes
    /// and what it stages): small next to the sims' funding of 10^9 per account, large next to
    /// the nothing an unfunded key has.
    fn default() -> Self {
        Self {
            per_call: 1_000,
            per_tx_byte: 1,
            per_state_byte: 1,
        }
    }
}

impl FeeSchedule {
    /// No fees: for executors that run modules alone (module tests, tools).
    pub const FREE: Self = Self {
        per_call: 0,
        per_tx_byte: 0,
        per_state_byte: 0,
    };

    /// Paid before the call runs: the call and the transaction's bytes.
    pub fn admission_fee(&self, tx_size: usize) -> u64 {
        self.per_call
            .saturating_add(self.per_tx_byte.saturating_mul(tx_size as u64))
    }

    /// Paid after a successful call for the bytes it put into the state.
    pub fn write_fee(&self, bytes: u64) -> u64 {
        self.per_state_byte.saturating_mul(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_defaults_and_fees_saturate() {
        let parsed: FeeSchedule = serde_json::from_str(r#"{"per_call": 7}"#).unwrap();
        assert_eq!(
            parsed,
            FeeSchedule {
                per_call: 7,
                ..FeeSchedule::default()
            }
        );
        assert!(serde_json::from_str::<FeeSchedule>(r#"{"per_cal": 7}"#).is_err());
        let huge = FeeSchedule {
            per_call: u64::MAX,
            per_tx_byte: u64::MAX,
            per_state_byte: u64::MAX,
        };
        assert_eq!(huge.admission_fee(10), u64::MAX);
        assert_eq!(huge.write_fee(10), u64::MAX);
        assert_eq!(FeeSchedule::default().admission_fee(200), 1_200);
    }
}
