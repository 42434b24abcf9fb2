//! What a simulated day reports, and its charts.

use super::Serialize;
use crate::mixing::MixSummary;

#[derive(Clone, Debug, Default, Serialize)]
pub struct IntervalSummary {
    pub interval: u32,
    pub offered_kwh: f64,
    pub requested_kwh: f64,
    pub traded_kwh: f64,
    /// Energy the DSO supplies: requested but not traded locally.
    pub dso_load_kwh: f64,
    /// What it would supply without the market.
    pub dso_load_without_trading_kwh: f64,
    /// Residual consumption the DSO anticipates from the market, summed over homes with its
    /// sign (negative: residual production flows to it): announced net consumption not
    /// covered by trades, -(announced + ΔEPA).
    pub dso_anticipated_kwh: f64,
    /// What it actually supplies, from the meters (-r of eq. 2.16, signed, summed over homes).
    pub dso_actual_kwh: f64,
    /// The substation's physical load without the market: consumption less production of
    /// every home, negative when production exceeds it (Fig. 2.10).
    pub net_load_without_trading_kwh: f64,
    /// With the market: batteries (and the profiles' flexible rows) deliver their trades and
    /// store unsold surplus.
    pub net_load_kwh: f64,
    /// What the batteries delivered (their trades) and stored (unsold surplus of their homes),
    /// summed, and their mean charge at the interval's end (Fig. 2.11); 0 without batteries.
    pub battery_delivered_kwh: f64,
    pub battery_stored_kwh: f64,
    pub battery_charge_kwh: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SolutionCounts {
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// From reading the open problem to the receipt of the accepted solution (solve, submit,
    /// finalize the block, verify on-ledger): median and largest, ms.
    pub round_p50_ms: f64,
    pub round_max_ms: f64,
    /// Every solve: median and largest (ms); the largest LP (variables, rows).
    pub solve_p50_ms: f64,
    pub solve_max_ms: f64,
    pub max_variables: usize,
    pub max_rows: usize,
    /// The module's `verify` of the posted solutions on their instance (largest, ms).
    pub verify_max_ms: f64,
    /// The largest solution: its trades, its signed transactions' bytes, and how many
    /// transactions it took (more than one when staged in parts).
    pub largest_trades: usize,
    pub largest_bytes: usize,
    pub largest_parts: usize,
    /// Solutions the node would not take.
    pub unsendable: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnergySimSummary {
    pub market: u64,
    pub homes: usize,
    pub batteries: usize,
    pub feeders: usize,
    pub total_offered_kwh: f64,
    pub total_requested_kwh: f64,
    pub total_traded_kwh: f64,
    pub intervals: Vec<IntervalSummary>,
    pub solutions: SolutionCounts,
    /// From the moment an interval may be finalized to the DSO agent holding the receipt of
    /// its finalization (ms): median and largest. An offer's trade is final its prediction
    /// window plus T_clear + 1 intervals after it is posted, plus this lag.
    pub finalize_lag_p50_ms: f64,
    pub finalize_lag_max_ms: f64,
    /// Sum of the bills the meters posted (micro-tokens; positive: owed to the DSO).
    pub total_billed: i64,
    /// Every home's bills (written as bills.csv).
    #[serde(skip)]
    pub bills: Vec<crate::meter::HomeBill>,
    /// Groups the homes traded in: one per feeder, or the privacy groups.
    pub trading_groups: Vec<TradingGroup>,
    pub mix: Option<MixSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TradingGroup {
    pub id: u32,
    pub feeders: Vec<u32>,
    pub homes: usize,
    pub c_int: u64,
    pub c_ext: u64,
}

impl EnergySimSummary {
    /// The day's charts: offered, requested and traded energy per interval, and the DSO's
    /// load with and without the market.
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        use crate::plot::{line_chart, Series};
        let series = |name, color, f: fn(&IntervalSummary) -> f64| Series {
            name,
            color,
            points: self
                .intervals
                .iter()
                .map(|i| (i.interval as f64, f(i)))
                .collect(),
        };
        vec![
            (
                "energy.svg",
                line_chart(
                    "Offered, requested and traded energy",
                    "interval (15 min)",
                    "kWh",
                    &[
                        series("offered", "#2a9d8f", |i| i.offered_kwh),
                        series("requested", "#e76f51", |i| i.requested_kwh),
                        series("traded", "#264653", |i| i.traded_kwh),
                    ],
                ),
            ),
            (
                "dso_load.svg",
                line_chart(
                    "Energy the DSO supplies",
                    "interval (15 min)",
                    "kWh",
                    &[
                        series("without trading", "#e76f51", |i| {
                            i.dso_load_without_trading_kwh
                        }),
                        series("with trading", "#264653", |i| i.dso_load_kwh),
                    ],
                ),
            ),
        ]
    }
}
