//! Random call sequences with clock jumps, honest and dishonest: no panic, tokens conserved
//! after every block (checked by the harness), and a closed allocation holds nothing.

use agora_stream::{hashing, StreamCall as C, *};
use agora_types::Keypair;
use proptest::prelude::*;

mod common;
use common::*;

#[derive(Clone, Debug)]
enum Step {
    Wait(u64),
    Create {
        replicas: u32,
        len_s: u64,
    },
    Add {
        alloc: u64,
        supplier: usize,
        done: bool,
    },
    Sign {
        alloc: u64,
        who: usize,
        honest: bool,
    },
    Reveal {
        alloc: u64,
        honest: bool,
    },
    Post {
        alloc: u64,
        who: usize,
        honest: bool,
    },
    Mediate {
        alloc: u64,
        honest: bool,
        checklist_ok: bool,
    },
    Clear {
        alloc: u64,
    },
    Cancel {
        alloc: u64,
    },
    /// The allocation's next protocol step, honest or not: reaches every closing case.
    Progress {
        alloc: u64,
        /// 0: silent (keeps trying to clear instead), 1: dishonest, else honest.
        mode: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let alloc = 0..3u64;
    let waits = vec![1u64, 1_000, 10_000, 30_000, 120_000];
    prop_oneof![
        1 => prop::sample::select(waits).prop_map(Step::Wait),
        1 => (1..=2u32, 30..=300u64)
            .prop_map(|(replicas, len_s)| Step::Create { replicas, len_s }),
        1 => (alloc.clone(), 0..5usize, any::<bool>())
            .prop_map(|(alloc, supplier, done)| Step::Add { alloc, supplier, done }),
        1 => (alloc.clone(), 0..5usize, any::<bool>())
            .prop_map(|(alloc, who, honest)| Step::Sign { alloc, who, honest }),
        1 => (alloc.clone(), any::<bool>())
            .prop_map(|(alloc, honest)| Step::Reveal { alloc, honest }),
        1 => (alloc.clone(), 0..5usize, any::<bool>())
            .prop_map(|(alloc, who, honest)| Step::Post { alloc, who, honest }),
        1 => (alloc.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(alloc, honest, checklist_ok)| Step::Mediate { alloc, honest, checklist_ok }),
        1 => alloc.clone().prop_map(|alloc| Step::Clear { alloc }),
        1 => alloc.clone().prop_map(|alloc| Step::Cancel { alloc }),
        8 => (alloc, 0..8u8).prop_map(|(alloc, mode)| Step::Progress { alloc, mode }),
    ]
}

/// The test outputs, true or wrong.
fn outputs_of(honest: bool) -> Vec<(u64, Vec<u8>)> {
    tests(!honest)
}

struct World {
    chain: Chain,
    /// allocator, customer, mediator, then suppliers.
    keys: Vec<Keypair>,
}

impl World {
    fn alloc(&self, a: u64) -> Option<Allocation> {
        let view = self
            .chain
            .exec
            .query(
                "stream",
                "allocation",
                &serde_json::json!({"market": 0, "allocation": a}),
            )
            .ok()?;
        serde_json::from_value(view["allocation"].clone()).ok()
    }

    fn call(&self, s: &Step) -> Option<(usize, C)> {
        let th = |a: &Allocation, honest: bool| {
            if honest {
                a.terms_hash.unwrap_or([0; 32])
            } else {
                [7; 32]
            }
        };
        let gamma = |a: &Allocation, slot: usize, honest: bool| {
            let who = a.slots.get(slot).map(|s| s.supplier).unwrap_or_default();
            hashing::gamma(0, a.id, &who, &outputs(&outputs_of(honest)))
        };
        Some(match *s {
            Step::Wait(_) => return None,
            Step::Create { replicas, len_s } => {
                let now = self.chain.now;
                let mut t = terms(&self.keys[1], &self.keys[2]);
                t.replicas = replicas;
                (t.start_ms, t.end_ms) = (now, now + len_s * 1_000);
                (
                    0,
                    C::CreateAllocation {
                        market: 0,
                        terms: t,
                    },
                )
            }
            Step::Add {
                alloc,
                supplier,
                done,
            } => (
                0,
                C::AddSupplier {
                    market: 0,
                    allocation: alloc,
                    supplier: self.keys[supplier].address(),
                    offer_hash: [0; 32],
                    done,
                },
            ),
            Step::Sign { alloc, who, honest } => {
                let a = self.alloc(alloc)?;
                let terms_hash = th(&a, honest);
                let call = match who {
                    2 => C::MediatorSign {
                        market: 0,
                        allocation: alloc,
                        terms_hash,
                    },
                    1 => C::CustomerSign {
                        market: 0,
                        allocation: alloc,
                        terms_hash,
                        commitments: (0..a.slots.len())
                            .map(|i| hashing::double(&gamma(&a, i, honest)))
                            .collect(),
                    },
                    _ => C::SupplierSign {
                        market: 0,
                        allocation: alloc,
                        terms_hash,
                    },
                };
                (who, call)
            }
            Step::Reveal { alloc, honest } => {
                let a = self.alloc(alloc)?;
                let mut hashes = hashing::alpha(0, alloc, &outputs(&outputs_of(honest)));
                hashes.truncate(a.derived.checks as usize);
                (
                    1,
                    C::RevealChecklist {
                        market: 0,
                        allocation: alloc,
                        hashes,
                    },
                )
            }
            Step::Post { alloc, who, honest } => {
                let a = self.alloc(alloc)?;
                let slot = a
                    .slots
                    .iter()
                    .position(|s| s.supplier == self.keys[who].address())
                    .unwrap_or(0);
                (
                    who,
                    C::PostOutput {
                        market: 0,
                        allocation: alloc,
                        gamma: gamma(&a, slot, honest),
                    },
                )
            }
            Step::Mediate {
                alloc,
                honest,
                checklist_ok,
            } => {
                let a = self.alloc(alloc)?;
                let gamma_gammas = (0..a.slots.len())
                    .map(|i| hashing::double(&gamma(&a, i, honest)))
                    .collect();
                (
                    2,
                    C::PostMediation {
                        market: 0,
                        allocation: alloc,
                        gamma_gammas,
                        checklist_ok,
                    },
                )
            }
            Step::Clear { alloc } => (
                4,
                C::ClearMarket {
                    market: 0,
                    allocation: alloc,
                },
            ),
            Step::Cancel { alloc } => (
                3,
                C::ReturnDeposits {
                    market: 0,
                    allocation: alloc,
                },
            ),
            Step::Progress { alloc, mode } => return self.next_step(alloc, mode),
        })
    }

    /// What the allocation's parties would do next.
    fn next_step(&self, alloc: u64, mode: u8) -> Option<(usize, C)> {
        let a = self.alloc(alloc)?;
        let honest = mode > 1;
        if mode == 0 && a.state == State::Running {
            return self.call(&Step::Clear { alloc });
        }
        let step = match a.state {
            State::Allocated => {
                let i = a.slots.len();
                let done = i + 1 == a.terms.replicas as usize;
                Step::Add {
                    alloc,
                    supplier: 3 + i,
                    done,
                }
            }
            State::Signing => {
                let who = if !a.mediator_signed {
                    2
                } else if a.escrow_hold.is_none() {
                    1
                } else {
                    3 + a.slots.iter().position(|s| s.hold.is_none())?
                };
                Step::Sign {
                    alloc,
                    who,
                    honest: true,
                }
            }
            State::Running if !a.revealed => Step::Reveal { alloc, honest },
            State::Running => match a.slots.iter().position(|s| s.gamma.is_none()) {
                Some(i) => Step::Post {
                    alloc,
                    who: 3 + i,
                    honest,
                },
                None => match &a.mediation {
                    Some(m) if m.gamma_gammas.is_none() => Step::Mediate {
                        alloc,
                        honest: true,
                        checklist_ok: honest,
                    },
                    _ => Step::Clear { alloc },
                },
            },
            State::Closed => return None,
        };
        self.call(&step)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn tokens_are_conserved_and_closed_allocations_hold_nothing(
        steps in prop::collection::vec(step(), 20..100)
    ) {
        let keys: Vec<Keypair> = (1..=6).map(Keypair::from_seed).collect();
        let mut p = params();
        // N = 20·len_s inputs, so n ≤ 6 with ρ = 1000.
        p.sign_timeout_ms = 60_000;
        let mut chain = Chain::new(&keys.iter().collect::<Vec<_>>());
        chain.ok_at(0, &keys[5], C::CreateMarket(p));
        let mut world = World { chain, keys };
        for s in &steps {
            if let Step::Wait(ms) = s {
                world.chain.now += ms;
                continue;
            }
            // A running allocation's parties wait for a_end to verify.
            if let Step::Progress { alloc, .. } = s {
                if let Some(a) = world.alloc(*alloc) {
                    if a.state == State::Running {
                        world.chain.now = world.chain.now.max(a.terms.end_ms);
                    }
                }
            }
            // Every block re-checks conservation in the harness.
            if let Some((who, call)) = world.call(s) {
                let now = world.chain.now;
                world.chain.at(now, &world.keys[who], call);
            }
        }
        for a in 0..3 {
            let Some(alloc) = world.alloc(a) else { continue };
            if alloc.state != State::Closed {
                continue;
            }
            let mut holds = vec![alloc.escrow_hold, alloc.deposit_hold];
            holds.extend(alloc.slots.iter().map(|s| s.hold));
            for id in holds.into_iter().flatten() {
                let held = world.chain.exec.query("bank", "hold", &serde_json::json!({"id": id}));
                prop_assert!(held.is_err(), "closed allocation {a} still holds {id}");
            }
        }
    }
}
