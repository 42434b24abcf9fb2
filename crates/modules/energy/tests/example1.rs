//! Example 1 of the seed (section 2.8.1.3): temporal flexibility lets the market trade more.
//!
//! Prosumer 102 can sell 10 kWh only in interval 48; prosumer 103 has a battery and can sell
//! 30 kWh in interval 48 or 49; consumer 101 needs 30 kWh in 48 and 10 kWh in 49. Selling all
//! of 103's energy in 48 wastes 102's; the optimum buys 102's 10 kWh and 20 kWh of 103's in 48
//! and the rest of 103's in 49: 40 kWh. Here the real solver finds it on the module's open
//! problem, and the module verifies, accepts and finalizes it.

mod common;

use agora_energy::{DsoPrice, EnergyCall, Market, Side, Trade};
use agora_solver::energy::{solve, EnergyInstance, SolveOptions};
use agora_types::Keypair;
use common::*;

const KWH: u64 = 1_000;

/// Withdraws the assets for one offer and posts it; returns the offer's id.
fn post(chain: &mut Chain, who: &Keypair, side: Side, energy: u64, intervals: Vec<u32>) -> u64 {
    let span = (intervals[0], intervals[intervals.len() - 1]);
    withdraw_over(chain, who, side, 0, energy, span);
    let price = if side == Side::Sell { 10 } else { 20 };
    offer(chain, who, side, 0, energy, intervals, price)
}

fn open_problem(chain: &Chain) -> EnergyInstance {
    serde_json::from_value(chain.query("open_problem", serde_json::json!({"market": 0}))).unwrap()
}

fn traded(trades: &[Trade], interval: u32) -> u64 {
    trades
        .iter()
        .filter(|t| t.interval == interval)
        .map(|t| t.energy)
        .sum()
}

#[test]
fn example_1_trades_40_kwh_through_the_batterys_flexibility() {
    let dso = Keypair::from_seed(1);
    let [p101, p102, p103] = [101, 102, 103].map(Keypair::from_seed);
    let mut chain = Chain::new(&[&dso, &p101, &p102, &p103]);
    create_market(&mut chain, &dso, vec![DsoPrice { buy: 30, sell: 5 }]);
    // The feeder's limits do not bind: only the offers shape the optimum.
    chain.ok(&dso, group(vec![1], 1_000 * KWH, 1_000 * KWH));
    for (i, p) in [&p101, &p102, &p103].into_iter().enumerate() {
        let meter = Keypair::from_seed(200 + i as u64).address();
        chain.ok(
            &dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter,
                prosumer: p.address(),
                feeder: 1,
                l_prod: 30 * KWH,
                l_cons: 30 * KWH,
            },
        );
        chain.ok(p, EnergyCall::RegisterProsumer { market: 0, meter });
    }
    let s102 = post(&mut chain, &p102, Side::Sell, 10 * KWH, vec![48]);
    let s103 = post(&mut chain, &p103, Side::Sell, 30 * KWH, vec![48, 49]);
    post(&mut chain, &p101, Side::Buy, 30 * KWH, vec![48]);
    post(&mut chain, &p101, Side::Buy, 10 * KWH, vec![49]);

    let solution = solve(&open_problem(&chain), &SolveOptions::default()).unwrap();
    assert_eq!(solution.objective, 40 * KWH, "{:?}", solution.trades);
    let from = |offer| {
        solution
            .trades
            .iter()
            .filter(|t| t.sell == offer)
            .map(|t| t.energy)
            .sum::<u64>()
    };
    assert_eq!(from(s102), 10 * KWH, "102's energy is not wasted");
    assert_eq!(from(s103), 30 * KWH);
    chain.ok(
        &p103,
        EnergyCall::PostSolution {
            market: 0,
            trades: solution.trades.clone(),
        },
    );

    // Finalize every interval up to 49; the trades become final as solved.
    chain.now = START + 50 * DELTA;
    loop {
        let market: Market =
            serde_json::from_value(chain.query("market", serde_json::json!({"market": 0})))
                .unwrap();
        if market.next_final > 49 {
            break;
        }
        chain.ok(&dso, EnergyCall::Finalize { market: 0 });
    }
    let finalized = |t: u32| -> Vec<Trade> {
        serde_json::from_value(
            chain.query("finalized", serde_json::json!({"market": 0, "interval": t})),
        )
        .unwrap()
    };
    let (f48, f49) = (finalized(48), finalized(49));
    assert_eq!(traded(&f48, 48), 30 * KWH);
    assert_eq!(traded(&f49, 49), 10 * KWH);
    assert_eq!(
        traded(&solution.trades, 48) + traded(&solution.trades, 49),
        40 * KWH
    );
}
