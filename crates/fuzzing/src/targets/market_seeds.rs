//! Accepted histories of the compute and stream markets, the `modules` target's seeds: each
//! runs one job or one allocation to its end, so mutations start from every state on the way.

use super::modules::{step, Step, GENESIS_MS};
use agora_compute::{
    ComputeCall as C, ExecReport, JobSpec, MarketParams, Prices, Resources, ResultStatus, TrustKind,
};
use agora_stream::{hashing, hashing::Output, Slot, StreamCall as S, StreamParams, Terms};
use agora_types::Keypair;

/// One job, matched, executed and accepted (spec compute.md G4's numbers): actor 0 creates the
/// market, 1 is the job creator, 2 the resource provider, 3 the mediator, 4 the directory and
/// 5 the solver.
pub fn compute(actors: &[Keypair], modules: &[&str]) -> Vec<Step> {
    let call = |sender: u8, c: C| step(sender, c.into_call(), 1, modules);
    let runtime = [7; 32];
    let trust = |kind, target: usize| C::SetTrust {
        market: 0,
        kind,
        target: actors[target].address(),
        trusted: true,
    };
    let mut steps = vec![
        call(
            0,
            C::CreateMarket(MarketParams {
                penalty_rate: 50,
                verification_count: 2,
                reaction_window_ms: 1_000,
                mediation_window_ms: 1_000,
                min_match_incentive: 10,
            }),
        ),
        call(1, C::RegisterJobCreator { market: 0 }),
        call(
            2,
            C::RegisterResourceProvider {
                market: 0,
                instructions_per_sec: 1_000_000,
            },
        ),
        call(
            3,
            C::RegisterMediator {
                market: 0,
                prices: Prices {
                    instruction: 3,
                    bandwidth: 2,
                },
                availability_fee: 30,
            },
        ),
        call(
            4,
            C::RegisterDirectory {
                market: 0,
                availability_fee: 20,
                endpoint: "http://127.0.0.1:7000".into(),
            },
        ),
        call(1, trust(TrustKind::Mediator, 3)),
        call(2, trust(TrustKind::Mediator, 3)),
        call(1, trust(TrustKind::Directory, 4)),
        call(2, trust(TrustKind::Directory, 4)),
        call(3, trust(TrustKind::Directory, 4)),
    ];
    for supporter in [2, 3] {
        steps.push(call(
            supporter,
            C::SetRuntime {
                market: 0,
                runtime,
                supported: true,
            },
        ));
    }
    steps.extend([
        call(
            1,
            C::PostJobOffer {
                market: 0,
                job: JobSpec {
                    module: [1; 32],
                    input: [2; 32],
                    module_bytes: 120,
                    input_bytes: 80,
                    runtime,
                    directory: actors[4].address(),
                },
                limits: Resources {
                    instructions: 1_000,
                    memory: 65_536,
                    storage: 200,
                    bandwidth: 500,
                },
                max_prices: Prices {
                    instruction: 4,
                    bandwidth: 2,
                },
                completion_deadline_ms: GENESIS_MS + 100_000,
                match_incentive: 10,
                deposit: 260_060,
            },
        ),
        call(
            2,
            C::PostResourceOffer {
                market: 0,
                caps: Resources {
                    instructions: 10_000,
                    memory: 1 << 20,
                    storage: 1_000,
                    bandwidth: 1_000,
                },
                prices: Prices {
                    instruction: 3,
                    bandwidth: 1,
                },
                match_incentive: 10,
                deposit: 300_000,
            },
        ),
        call(
            5,
            C::PostMatch {
                market: 0,
                job_offer: 0,
                resource_offer: 1,
                mediator: actors[3].address(),
            },
        ),
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
        customer: actors[1].address(),
        mediator: actors[2].address(),
        customer_offer: [1; 32],
        service: [2; 32],
        start_ms: GENESIS_MS + 5_000,
        end_ms: GENESIS_MS + 15_000,
        rate_milli: 1_200_000,
        instructions: 1,
        price: 20,
        replicas: 2,
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
        call(
            5,
            S::CreateMarket(StreamParams {
                penalty_rate: 1_000,
                allocator_fee: 3_000,
                mediator_fee: 33,
                sign_timeout_ms: 30_000,
                reveal_timeout_ms: 30_000,
                post_timeout_ms: 30_000,
                mediation_timeout_ms: 60_000,
                supplier_timeout_fine_bps: 10_000,
                customer_timeout_fine_bps: 10_000,
                max_replicas: 16,
                max_checks: 1_024,
                max_open_per_allocator: 1_000,
            }),
        ),
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
