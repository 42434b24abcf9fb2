//! Deposits and bills (section 2.7.4, eq. 2.16) through the executor.

mod common;

use agora_energy::{interval_bill, AssetTotals, DsoPrice, EnergyCall, MeterReading, Side, Trade};
use agora_types::{Address, Keypair};
use common::*;

const PRICES: [DsoPrice; 2] = [
    DsoPrice { buy: 30, sell: 5 },
    DsoPrice { buy: 40, sell: 10 },
];
/// The interval the tests trade in; its schedule entry is 10 mod 2 = 0.
const T: u32 = 10;

/// A market on feeder 1 with a seller `a` and a buyer `b`, and a prosumer `c` that holds no
/// tokens; each has its own meter.
struct Setup {
    chain: Chain,
    dso: Keypair,
    a: Keypair,
    b: Keypair,
    c: Keypair,
    meters: [Keypair; 3],
}

fn setup() -> Setup {
    let dso = Keypair::from_seed(1);
    let (a, b, c) = (
        Keypair::from_seed(2),
        Keypair::from_seed(3),
        Keypair::from_seed(4),
    );
    let meters = [0, 1, 2].map(|i| Keypair::from_seed(100 + i));
    let mut chain = Chain::new(&[&dso, &a, &b]);
    create_market(&mut chain, &dso, PRICES.to_vec());
    chain.ok(&dso, group(vec![1], 1_000, 1_000));
    for (p, meter) in [&a, &b, &c].into_iter().zip(&meters) {
        chain.ok(
            &dso,
            EnergyCall::RegisterSmartMeter {
                market: 0,
                meter: meter.address(),
                prosumer: p.address(),
                feeder: 1,
                l_prod: 100,
                l_cons: 100,
            },
        );
        chain.ok(
            p,
            EnergyCall::RegisterProsumer {
                market: 0,
                meter: meter.address(),
            },
        );
    }
    Setup {
        chain,
        dso,
        a,
        b,
        c,
        meters,
    }
}

/// Posts `who`'s offer in group 0 for interval T; returns its id.
fn offer(chain: &mut Chain, who: &Keypair, side: Side, energy: u64, price: u64) -> u64 {
    common::offer(chain, who, side, 0, energy, vec![T], price)
}

fn transfer(chain: &mut Chain, from: &Keypair, to: &Keypair, side: Side, energy: u64) {
    chain.ok(
        from,
        EnergyCall::TransferAssets {
            market: 0,
            to: to.address(),
            side,
            group: 0,
            interval: T,
            energy,
        },
    );
}

/// `seller` sells 60 Wh of interval T to `buyer`; every interval up to 11 becomes final.
fn trade_and_finalize(s: &mut Setup, seller: &Keypair, buyer: &Keypair) {
    let sell = offer(&mut s.chain, seller, Side::Sell, 60, 10);
    let buy = offer(&mut s.chain, buyer, Side::Buy, 60, 20);
    s.chain.ok(
        &s.a,
        EnergyCall::PostSolution {
            market: 0,
            trades: vec![Trade {
                sell,
                buy,
                interval: T,
                energy: 60,
                price: 15,
            }],
        },
    );
    s.chain.now = START + 10 * DELTA;
    s.chain.ok(&s.dso, EnergyCall::Finalize { market: 0 });
}

fn deposit(chain: &mut Chain, from: &Keypair, to: Address) {
    chain.ok(
        from,
        EnergyCall::Deposit {
            market: 0,
            interval: T,
            to,
        },
    );
}

fn totals(value: serde_json::Value) -> AssetTotals {
    serde_json::from_value(value).unwrap()
}

/// What a meter reads for interval T: its prosumer's withdrawals and deposit address `to`.
fn reading(chain: &Chain, prosumer: &Keypair, to: Address, measured: i64) -> MeterReading {
    let q = |path: &str, who: Address, name: &str| {
        totals(chain.query(
            path,
            serde_json::json!({"market": 0, name: who.to_string(), "interval": T}),
        ))
    };
    MeterReading {
        withdrawn: q("withdrawn", prosumer.address(), "prosumer"),
        deposited: q("deposits", to, "account"),
        measured,
    }
}

fn bill(first: u32, cycle: u32, residuals: Vec<i64>) -> EnergyCall {
    EnergyCall::PostBill {
        market: 0,
        cycle,
        first,
        residuals,
    }
}

/// A deposit address only the prosumer and its meter know (the sim derives it from a secret).
fn fresh_address(seed: u64) -> Address {
    Keypair::from_seed(seed).address()
}

/// Every entry of the ledger's state whose key or value holds `who`.
fn records_naming(chain: &Chain, who: &Address) -> Vec<(Vec<u8>, Vec<u8>)> {
    let holds = |bytes: &[u8]| bytes.windows(32).any(|w| w == who.0);
    chain
        .exec
        .with_state(|state| state.scan_prefix(b"").unwrap())
        .unwrap()
        .into_iter()
        .filter(|(k, v)| holds(k) || holds(v))
        .collect()
}

#[test]
fn deposits_never_name_the_meter() {
    let mut s = setup();
    let x = Keypair::from_seed(50);
    withdraw_over(&mut s.chain, &s.a, Side::Sell, 0, 100, (T, T));
    withdraw_over(&mut s.chain, &s.b, Side::Buy, 0, 100, (T, T));
    transfer(&mut s.chain, &s.a, &x, Side::Sell, 100);
    let (a, b) = (s.a.clone(), s.b.clone());
    trade_and_finalize(&mut s, &x, &b);
    let meter = s.meters[0].address();
    let before = records_naming(&s.chain, &meter);

    // Naming the meter's or any prosumer's registered address would link x to a's home.
    for public in [meter, a.address(), b.address()] {
        assert!(s
            .chain
            .refused(
                &x,
                EnergyCall::Deposit {
                    market: 0,
                    interval: T,
                    to: public,
                },
            )
            .starts_with("public_deposit_address"));
    }
    let to = fresh_address(500);
    let receipt = s.chain.ok(
        &x,
        EnergyCall::Deposit {
            market: 0,
            interval: T,
            to,
        },
    );
    assert!(!receipt
        .events
        .iter()
        .any(|e| e.data.to_string().contains(&meter.to_string())));
    assert_eq!(records_naming(&s.chain, &meter), before);
    assert_eq!(
        reading(&s.chain, &a, to, 0).deposited,
        AssetTotals { epa: 40, eca: 60 }
    );
    // The meter's bill does not name the deposit address either.
    s.chain.ok(&s.meters[0], bill(T, 0, vec![-60]));
    assert!(records_naming(&s.chain, &to)
        .iter()
        .all(|(_, v)| !v.windows(32).any(|w| w == meter.0)));
}

#[test]
fn a_shortfall_is_caught_and_billed_as_undelivered() {
    let mut s = setup();
    let y = Keypair::from_seed(51);
    withdraw_over(&mut s.chain, &s.a, Side::Sell, 0, 100, (T, T));
    withdraw_over(&mut s.chain, &s.b, Side::Buy, 0, 100, (T, T));
    // b keeps 40 Wh of consumption assets in an account it will not deposit from.
    transfer(&mut s.chain, &s.b, &y, Side::Buy, 40);
    let (a, b) = (s.a.clone(), s.b.clone());
    trade_and_finalize(&mut s, &a, &b);
    let (to_a, to_b) = (fresh_address(500), fresh_address(501));
    deposit(&mut s.chain, &a, to_a);
    deposit(&mut s.chain, &b, to_b);

    // b consumed the 60 Wh it bought: honest, its residual would be 0.
    let r = reading(&s.chain, &b, to_b, -60);
    assert_eq!(r.withdrawn, AssetTotals { epa: 0, eca: 100 });
    assert_eq!(r.deposited, AssetTotals { epa: 60, eca: 0 });
    assert_eq!(r.shortfall(), 40);
    assert_eq!(r.delta_epa().unwrap(), 20);
    assert_eq!(r.residual().unwrap(), -40);

    // Handing the withheld assets to another home's deposit address credits nobody.
    let a_before = reading(&s.chain, &a, to_a, 60).residual().unwrap();
    deposit(&mut s.chain, &y, to_a);
    assert_eq!(
        reading(&s.chain, &a, to_a, 60).residual().unwrap(),
        a_before
    );

    // The 40 Wh are billed at the DSO's selling price of interval T (entry 0: 30).
    let (b0, dso0) = (s.chain.balance(&b), s.chain.balance(&s.dso));
    s.chain
        .ok(&s.meters[1], bill(T, 0, vec![r.residual().unwrap()]));
    assert_eq!(s.chain.balance(&b), b0 - 40 * 30);
    assert_eq!(s.chain.balance(&s.dso), dso0 + 40 * 30);
}

#[test]
fn a_bill_settles_the_schedule_in_tokens() {
    let mut s = setup();
    let (a, b) = (s.a.clone(), s.b.clone());
    withdraw_over(&mut s.chain, &a, Side::Sell, 0, 100, (T, T));
    withdraw_over(&mut s.chain, &b, Side::Buy, 0, 100, (T, T));
    trade_and_finalize(&mut s, &a, &b);
    let to = fresh_address(500);
    deposit(&mut s.chain, &a, to);
    // a sold 60 Wh and produced 80 in interval 10, and consumed 10 in interval 11.
    let r10 = reading(&s.chain, &a, to, 80).residual().unwrap();
    assert_eq!(r10, 20);
    let (a0, dso0) = (s.chain.balance(&a), s.chain.balance(&s.dso));
    let receipt = s.chain.ok(&s.meters[0], bill(T, 0, vec![r10, -10]));
    // 10 -> entry 0: the DSO buys 20 Wh at 5; 11 -> entry 1: it sells 10 Wh at 40.
    let amount = -20 * 5 + 10 * 40;
    assert_eq!(
        receipt.events.last().unwrap().data["bill"]["amount"],
        amount
    );
    assert_eq!(s.chain.balance(&a), a0 - amount as u64);
    assert_eq!(s.chain.balance(&s.dso), dso0 + amount as u64);
    let stored = s.chain.query(
        "bill",
        serde_json::json!({"market": 0, "meter": s.meters[0].address().to_string(), "cycle": 0}),
    );
    assert_eq!(
        (
            &stored["first"],
            &stored["intervals"],
            &stored["settled"],
            &stored["debt"]
        ),
        (&T.into(), &2.into(), &amount.into(), &0.into())
    );

    // A negative bill: the DSO pays the prosumer.
    s.chain.now = START + 13 * DELTA;
    s.chain.ok(&s.dso, EnergyCall::Finalize { market: 0 });
    let a1 = s.chain.balance(&a);
    s.chain.ok(&s.meters[0], bill(12, 1, vec![100]));
    assert_eq!(s.chain.balance(&a), a1 + 100 * 5);
}

#[test]
fn eq_2_16_sign_convention_on_a_worked_example() {
    let price = PRICES[0];
    // A seller withdrew 1000 Wh of EPA and sold 600: it deposits 400 EPA and the buyer's 600 ECA.
    let mut r = MeterReading {
        withdrawn: AssetTotals { epa: 1000, eca: 0 },
        deposited: AssetTotals { epa: 400, eca: 600 },
        measured: 900,
    };
    assert_eq!(r.delta_epa().unwrap(), -600);
    // It produced 900: 300 Wh more than it sold go to the DSO, which pays π^S for them.
    assert_eq!(r.residual().unwrap(), 300);
    assert_eq!(interval_bill(300, price), -300 * 5);
    // The printed eq. 2.16 would charge the prosumer (E + ΔEPA)·π^B = +9000 for this surplus.
    assert_ne!(interval_bill(300, price), 300 * 30);
    // It produced only 400: the DSO supplies the missing 200 Wh at π^B.
    r.measured = 400;
    assert_eq!(r.residual().unwrap(), -200);
    assert_eq!(interval_bill(-200, price), 200 * 30);
    assert_ne!(interval_bill(-200, price), -200 * 5);
    // Delivering exactly its trades costs nothing.
    r.measured = 600;
    assert_eq!(interval_bill(r.residual().unwrap(), price), 0);
}

#[test]
fn only_the_prosumers_meter_posts_once_per_cycle() {
    let mut s = setup();
    s.chain.now = START + 12 * DELTA;
    s.chain.ok(&s.dso, EnergyCall::Finalize { market: 0 });
    let (a, b) = (s.a.clone(), s.b.clone());
    for outsider in [&a, &s.dso.clone(), &Keypair::from_seed(77)] {
        assert!(s
            .chain
            .refused(outsider, bill(T, 0, vec![-10]))
            .starts_with("unknown_meter"));
    }
    // b's meter bills b, never a.
    let (a0, b0) = (s.chain.balance(&a), s.chain.balance(&b));
    s.chain.ok(&s.meters[1], bill(T, 0, vec![-10]));
    assert_eq!(s.chain.balance(&a), a0);
    assert_eq!(s.chain.balance(&b), b0 - 10 * 30);

    let meter = s.meters[1].clone();
    let refused = |s: &mut Setup, call| s.chain.refused(&meter, call);
    assert!(refused(&mut s, bill(T, 0, vec![-10])).starts_with("bill_exists"));
    assert!(refused(&mut s, bill(T, 0, vec![10])).starts_with("bill_exists"));
    assert!(refused(&mut s, bill(T + 1, 2, vec![-10])).starts_with("bill_out_of_order"));
    assert!(refused(&mut s, bill(T, 1, vec![-10])).starts_with("bill_gap"));
    // Intervals up to 13 are final.
    assert!(refused(&mut s, bill(T + 1, 1, vec![-10; 4])).starts_with("interval_not_final"));
    assert!(refused(&mut s, bill(T + 1, 1, vec![])).starts_with("invalid_call"));
    s.chain.ok(&meter, bill(T + 1, 1, vec![-10]));
}

#[test]
fn a_payer_short_of_funds_owes_a_debt() {
    let mut s = setup();
    s.chain.now = START + 12 * DELTA;
    s.chain.ok(&s.dso, EnergyCall::Finalize { market: 0 });
    let (c, meter) = (s.c.clone(), s.meters[2].clone());
    let dso0 = s.chain.balance(&s.dso);
    // c holds no tokens: its bill of 300 becomes a debt ...
    s.chain.ok(&meter, bill(T, 0, vec![-10]));
    assert_eq!(s.chain.balance(&s.dso), dso0);
    let billing = |s: &Setup| {
        s.chain.query(
            "billing",
            serde_json::json!({"market": 0, "meter": meter.address().to_string()}),
        )
    };
    assert_eq!(billing(&s)["debt"], 300);
    // ... and while in debt it cannot withdraw assets to trade.
    assert!(s
        .chain
        .refused(
            &c,
            EnergyCall::WithdrawAssets {
                market: 0,
                side: Side::Sell,
                group: 0,
                energy: 10,
                first: 20,
                last: 20,
            },
        )
        .starts_with("in_debt"));
    // The next cycle's surplus, 100 Wh at π^S = 10 (entry 1), pays 1000 against it.
    s.chain.ok(&meter, bill(T + 1, 1, vec![100]));
    assert_eq!(billing(&s)["debt"], 0);
    assert_eq!(s.chain.balance(&c), 1000 - 300);
    assert_eq!(s.chain.balance(&s.dso), dso0 - 700);
    withdraw_over(&mut s.chain, &c, Side::Sell, 0, 10, (20, 20));
}

proptest::proptest! {
    /// Withholding assets never lowers a bill, and someone else's deposit never raises one.
    #[test]
    fn withholding_never_pays(
        w_epa in 0u64..1_000_000,
        w_eca in 0u64..1_000_000,
        epa_share in 0u64..=100,
        withheld in (0u64..=100, 0u64..=100),
        foreign in (0u64..1_000_000, 0u64..1_000_000),
        measured in -2_000_000i64..2_000_000,
        price in (0u64..1_000, 0u64..1_000),
    ) {
        let price = DsoPrice { buy: price.0, sell: price.1 };
        let total = w_epa + w_eca;
        // Whatever was traded, the home holds EPA + ECA = what it withdrew.
        let epa = total * epa_share / 100;
        let honest = MeterReading {
            withdrawn: AssetTotals { epa: w_epa, eca: w_eca },
            deposited: AssetTotals { epa, eca: total - epa },
            measured,
        };
        let bill = |r: MeterReading| interval_bill(r.residual().unwrap(), price);
        let mut withholding = honest;
        withholding.deposited.epa -= epa * withheld.0 / 100;
        withholding.deposited.eca -= (total - epa) * withheld.1 / 100;
        proptest::prop_assert!(bill(withholding) >= bill(honest));
        let mut gifted = honest;
        gifted.deposited.epa += foreign.0;
        gifted.deposited.eca += foreign.1;
        proptest::prop_assert!(bill(gifted) <= bill(honest));
    }
}
