//! Accepted histories of the compute and stream markets, the `modules` target's seeds: each
//! runs one job or one allocation to its end, so mutations start from every state on the way.

use super::modules::{step, Step, GENESIS_MS};
use agora_compute::examples::{self as g4, Party};
use agora_compute::{ComputeCall as C, ExecReport, ResultStatus};
use agora_stream::{hashing, hashing::Output, Slot, StreamCall as S, Terms};
use agora_types::Keypair;

/// One job, matched, executed and accepted (spec compute.md G4's numbers): actor 0 creates the
/// market, 1 is the job creator, 2 the resource provider, 3 the mediator, 4 the directory and
/// 5 the solver.
pub fn compute(actors: &[Keypair], modules: &[&str]) -> Vec<Step> {
    let call = |sender: u8, c: C| step(sender, c.into_call(), 1, modules);
    let (mediator, directory) = (actors[3].address(), actors[4].address());
    let mut steps = vec![call(0, C::CreateMarket(g4::params()))];
    for (party, c) in g4::registrations(0, &mediator, &directory) {
        let sender = match party {
            Party::JobCreator => 1,
            Party::ResourceProvider => 2,
            Party::Mediator => 3,
            Party::Directory => 4,
        };
        steps.push(call(sender, c));
    }
    steps.extend([
        call(1, g4::job_offer(0, &directory, GENESIS_MS + 100_000)),
        call(2, g4::resource_offer(0)),
        call(5, g4::post_match(0, &mediator)),
        call(
            2,
            C::PostResult {
                market: 0,
                match_id: 0,
                report: ExecReport {
                    status: ResultStatus::Completed,
                    output: Some([9; 32]),
                    output_bytes: 100,
                    instructions: 800,
                },
            },
        ),
        call(
            1,
            C::AcceptResult {
                market: 0,
                match_id: 0,
            },
        ),
    ]);
    steps
}

/// One allocation with two replicas, signed, run, revealed, posted and cleared with every
/// output matching (spec stream.md case A): actor 0 is the allocator, 1 the customer, 2 the
/// mediator, 3 and 4 the suppliers, 5 creates the market and clears.
pub fn stream(actors: &[Keypair], modules: &[&str]) -> Vec<Step> {
    let at = |sender: u8, advance: u8, c: S| step(sender, c.into_call(), advance, modules);
    let call = |sender: u8, c: S| at(sender, 1, c);
    // The allocation runs 10 s from 5 s after genesis: N = 12,000 inputs at 1,200 per second,
    // so n = N / ρ = 12 tests, as in G4.
    let terms = Terms {
        start_ms: GENESIS_MS + 5_000,
        end_ms: GENESIS_MS + 15_000,
        rate_milli: 1_200_000,
        ..agora_stream::examples::terms(&actors[1].address(), &actors[2].address())
    };
    let slots: Vec<Slot> = [3, 4]
        .into_iter()
        .map(|i| Slot {
            supplier: actors[i].address(),
            offer: [10 + i as u8; 32],
            hold: None,
            gamma: None,
            matches: false,
        })
        .collect();
    let terms_hash = hashing::terms_hash(0, 0, &actors[0].address(), &terms, &slots);
    let tests: Vec<(u64, Vec<u8>)> = (0..12u64)
        .map(|i| (i * 13 + 3, format!("count={i}").into_bytes()))
        .collect();
    let outputs: Vec<Output<'_>> = tests
        .iter()
        .map(|(seq, output)| Output { seq: *seq, output })
        .collect();
    let mut steps = vec![
        call(5, S::CreateMarket(agora_stream::examples::params())),
        call(0, S::CreateAllocation { market: 0, terms }),
    ];
    for (i, slot) in slots.iter().enumerate() {
        steps.push(call(
            0,
            S::AddSupplier {
                market: 0,
                allocation: 0,
                supplier: slot.supplier,
                offer_hash: slot.offer,
                done: i + 1 == slots.len(),
            },
        ));
    }
    steps.push(call(
        2,
        S::MediatorSign {
            market: 0,
            allocation: 0,
            terms_hash,
        },
    ));
    steps.push(call(
        1,
        S::CustomerSign {
            market: 0,
            allocation: 0,
            terms_hash,
            commitments: slots
                .iter()
                .map(|s| hashing::commitment(0, 0, &s.supplier, &outputs))
                .collect(),
        },
    ));
    for supplier in [3, 4] {
        steps.push(call(
            supplier,
            S::SupplierSign {
                market: 0,
                allocation: 0,
                terms_hash,
            },
        ));
    }
    // Eight blocks 100 ms apart so far; the reveal lands exactly at a_end.
    steps.push(at(
        1,
        142,
        S::RevealChecklist {
            market: 0,
            allocation: 0,
            hashes: hashing::alpha(0, 0, &outputs),
        },
    ));
    for (sender, slot) in [3, 4].into_iter().zip(&slots) {
        steps.push(call(
            sender,
            S::PostOutput {
                market: 0,
                allocation: 0,
                gamma: hashing::gamma(0, 0, &slot.supplier, &outputs),
            },
        ));
    }
    steps.push(call(
        5,
        S::ClearMarket {
            market: 0,
            allocation: 0,
        },
    ));
    steps
}
