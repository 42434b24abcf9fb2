//! Calls to every module the node runs, from senders the fuzzer picks, at block times it picks.
//!
//! An input is a sequence of steps, each `[sender][module][advance][len: u16 LE][payload]`:
//! the call goes to the module at index `module` (mod the number of modules) of
//! [`agora_node::node::executor_with_modules`], so a module registered there is fuzzed without
//! touching this file; `sender` picks one of six funded accounts; the block is `advance`
//! tenths of a second after the last. Each input starts from a fresh genesis with the node's
//! fees, so an input replays alone.

use agora_allocation::{AllocationCall, Alternative};
use agora_bank::{Bank, BankCall};
use agora_energy::{DsoPrice, EnergyCall};
use agora_ledger::{Executor, ModuleGenesis};
use agora_types::{Block, Call, FeeSchedule, Keypair, Receipt, Transaction};
use std::sync::OnceLock;

const CHAIN: &str = "fuzz";
/// Genesis time; the seeds' energy market starts one second later.
pub(super) const GENESIS_MS: u64 = 1_000_000;
/// Steps beyond this are ignored: an input is a short history, not a long one.
const MAX_STEPS: usize = 64;
const FUNDS: u64 = 1_000_000_000;

fn actors() -> &'static [Keypair; 6] {
    static ACTORS: OnceLock<[Keypair; 6]> = OnceLock::new();
    ACTORS.get_or_init(|| std::array::from_fn(|i| Keypair::from_seed(i as u64 + 1)))
}

/// One transaction of an input.
pub(super) struct Step {
    sender: u8,
    module: u8,
    advance: u8,
    payload: Vec<u8>,
}

fn parse(mut data: &[u8]) -> Vec<Step> {
    let mut steps = Vec::new();
    while let [sender, module, advance, l0, l1, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(rest.len());
        steps.push(Step {
            sender: *sender,
            module: *module,
            advance: *advance,
            payload: rest[..len].to_vec(),
        });
        data = &rest[len..];
    }
    steps
}

fn encode(steps: &[Step]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in steps {
        out.extend([s.sender, s.module, s.advance]);
        let len = u16::try_from(s.payload.len()).unwrap_or(u16::MAX);
        out.extend(len.to_le_bytes());
        out.extend(&s.payload[..usize::from(len)]);
    }
    out
}

fn executor() -> Executor {
    let exec = agora_node::node::executor_with_modules(
        Executor::in_memory(CHAIN).expect("an in-memory store opens"),
        FeeSchedule::default(),
    );
    let balances: serde_json::Map<_, _> = actors()
        .iter()
        .map(|k| (k.address().to_string(), FUNDS.into()))
        .collect();
    let mut genesis = ModuleGenesis::new();
    genesis.insert("bank".into(), serde_json::json!({ "balances": balances }));
    exec.init_genesis(&genesis, GENESIS_MS)
        .expect("the fuzz genesis is valid");
    exec
}

fn supply(exec: &Executor) -> u64 {
    exec.query("bank", "supply", &serde_json::Value::Null)
        .ok()
        .and_then(|v| v["supply"].as_u64())
        .expect("the bank answers its supply")
}

/// Panics if `data` breaks the property: no step panics or fails the executor (a refused call
/// is a receipt), and after every block the bank's balances and holds sum to its supply, which
/// never grows (fees are burned).
pub fn check(data: &[u8]) {
    replay(data);
}

/// Runs `data`'s steps as [`check`] does and returns their receipts.
pub fn replay(data: &[u8]) -> Vec<Receipt> {
    let exec = executor();
    let mut receipts = Vec::new();
    let modules: Vec<&'static str> = exec.module_names().collect();
    let mut supply_before = supply(&exec);
    let mut now = GENESIS_MS;
    for (height, step) in (1..).zip(parse(data).into_iter().take(MAX_STEPS)) {
        let key = &actors()[usize::from(step.sender) % actors().len()];
        let module = modules[usize::from(step.module) % modules.len()];
        now += u64::from(step.advance) * 100;
        let tx = Transaction {
            chain_id: CHAIN.into(),
            sender: key.address(),
            nonce: exec.nonce(&key.address()).expect("nonces are readable"),
            call: Call {
                module: module.into(),
                payload: step.payload.into(),
            },
        }
        .sign(key);
        let applied = exec
            .apply_block(&Block::outside_consensus(height, now, vec![tx]))
            .unwrap_or_else(|e| panic!("block {height} failed the executor: {e}"));
        let applied = applied.unwrap_or_else(|| panic!("block {height} was not applied"));
        receipts.extend(applied.receipts);
        exec.with_state(Bank::check_conservation)
            .expect("state is readable")
            .unwrap_or_else(|e| panic!("after block {height}: {e}"));
        let supply_after = supply(&exec);
        assert!(
            supply_after <= supply_before,
            "block {height} minted: supply {supply_before} -> {supply_after}"
        );
        supply_before = supply_after;
    }
    receipts
}

pub(super) fn step(sender: u8, call: Call, advance: u8, modules: &[&str]) -> Step {
    let module = modules
        .iter()
        .position(|m| *m == call.module)
        .expect("the seed's module is registered");
    Step {
        sender,
        module: module as u8,
        advance,
        payload: call.payload.to_vec(),
    }
}

/// Valid histories: an energy market with a group, a prosumer, assets and offers on both
/// sides; an allocation market with an offer each side and a solution; transfers and holds.
pub fn seeds() -> Vec<Vec<u8>> {
    let modules: Vec<&str> = executor().module_names().collect();
    let [dso, a, b, c, ..] = actors();
    let energy = |sender, call: EnergyCall| step(sender, call.into_call(), 1, &modules);
    let meters = [
        Keypair::from_seed(100).address(),
        Keypair::from_seed(101).address(),
    ];
    let mut energy_market = vec![
        energy(
            0,
            EnergyCall::CreateMarket(agora_energy::MarketParams {
                interval_ms: 1_000,
                start_ms: GENESIS_MS + 1_000,
                t_clear: 1,
                prices: vec![DsoPrice { buy: 30, sell: 5 }],
            }),
        ),
        energy(
            0,
            EnergyCall::DefineGroup {
                market: 0,
                feeders: vec![1],
                c_int: 500,
                c_ext: 500,
            },
        ),
    ];
    for (i, (prosumer, side, price)) in [
        (a, agora_energy::Side::Sell, 10),
        (b, agora_energy::Side::Buy, 20),
    ]
    .into_iter()
    .enumerate()
    {
        let sender = i as u8 + 1;
        let meter = meters[i];
        energy_market.extend([
            energy(
                0,
                EnergyCall::RegisterSmartMeter {
                    market: 0,
                    meter,
                    prosumer: prosumer.address(),
                    feeder: 1,
                    l_prod: 100,
                    l_cons: 100,
                },
            ),
            energy(sender, EnergyCall::RegisterProsumer { market: 0, meter }),
            energy(
                sender,
                EnergyCall::WithdrawAssets {
                    market: 0,
                    side,
                    group: 0,
                    energy: 50,
                    first: 10,
                    last: 20,
                },
            ),
            energy(
                sender,
                EnergyCall::PostOffer {
                    market: 0,
                    side,
                    group: 0,
                    energy: 50,
                    intervals: vec![10, 11],
                    price,
                },
            ),
        ]);
    }
    energy_market.push(energy(
        3,
        EnergyCall::PostSolution {
            market: 0,
            trades: vec![agora_energy::Trade {
                sell: 0,
                buy: 1,
                interval: 10,
                energy: 50,
                price: 15,
            }],
        },
    ));
    let allocation = |sender, call: AllocationCall| step(sender, call.into_call(), 1, &modules);
    let allocation_market = vec![
        allocation(
            0,
            AllocationCall::CreateMarket(agora_allocation::examples::params(true)),
        ),
        allocation(
            1,
            AllocationCall::PlaceOffer {
                market: 0,
                side: agora_allocation::Side::Provide,
                misc: 0,
                alternatives: vec![Alternative {
                    rtype: 1,
                    quantity: 10,
                    value: 5,
                }],
            },
        ),
        allocation(
            2,
            AllocationCall::PlaceOffer {
                market: 0,
                side: agora_allocation::Side::Consume,
                misc: 0,
                alternatives: vec![Alternative {
                    rtype: 1,
                    quantity: 10,
                    value: 9,
                }],
            },
        ),
        // Close is due when the Receive phase (1 s) has passed.
        step(
            3,
            AllocationCall::Close { market: 0 }.into_call(),
            10,
            &modules,
        ),
    ];
    let bank = |sender, call: BankCall| step(sender, call.into_call(), 1, &modules);
    let bank_calls = vec![
        bank(
            1,
            BankCall::Transfer {
                to: b.address(),
                amount: 10,
            },
        ),
        bank(
            2,
            BankCall::Hold {
                amount: 100,
                controller: c.address(),
            },
        ),
        bank(
            3,
            BankCall::Slash {
                hold: 0,
                amount: 40,
                beneficiary: dso.address(),
            },
        ),
        bank(3, BankCall::Release { hold: 0 }),
    ];
    vec![
        encode(&energy_market),
        encode(&allocation_market),
        encode(&bank_calls),
        encode(&super::market_seeds::compute(actors(), &modules)),
        encode(&super::market_seeds::stream(actors(), &modules)),
        Vec::new(),
    ]
}
