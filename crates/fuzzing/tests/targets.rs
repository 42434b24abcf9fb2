//! Every fuzz target, bounded: its seeds and a fixed number of deterministic mutations. A
//! failure prints the input in hex; `agora_fuzzing::<target>::check` replays it.

use agora_fuzzing::{run, targets, Budget, Target};

fn bounded(name: &str, inputs: u64) {
    let all = targets();
    let target: &Target = all
        .iter()
        .find(|t| t.name == name)
        .expect("the target exists");
    let report = run(target, Budget::Inputs(inputs), 0x5eed_d15c_0fe2);
    assert_eq!(report.inputs, inputs);
    assert!(report.crashes.is_empty(), "{:#?}", report.crashes);
}

#[test]
fn transactions_and_blocks() {
    bounded("transaction", 20_000);
}

#[test]
fn module_calls() {
    bounded("modules", 500);
}

#[test]
fn mixer_messages() {
    bounded("mixer", 3_000);
}

#[test]
fn discovery_wire_formats() {
    bounded("discovery", 20_000);
}

/// The seeds reach past decoding: each module's seed history succeeds call by call, so
/// mutations start from deep states rather than from refusals.
#[test]
fn module_seeds_are_accepted_histories() {
    let seeds = agora_fuzzing::modules::seeds();
    assert!(seeds.iter().filter(|s| !s.is_empty()).count() >= 5);
    for s in &seeds {
        for r in agora_fuzzing::modules::replay(s) {
            assert_eq!(r.status, agora_ledger::TxStatus::Success, "{:?}", r.message);
        }
    }
}
