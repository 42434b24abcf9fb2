//! A chain that runs the bank and stream modules through the executor, one transaction per
//! block at a timestamp the test chooses; conservation of tokens is checked after every block.
//! [`Fixture`] plays spec G4's allocation: r = 2, N = 12 000, n = 12, V = 240 000 µ.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use agora_ledger::Executor;
use agora_stream::{hashing, hashing::Output, StreamCall as C, *};
use agora_testkit::TestChain;
use agora_types::{Address, Keypair, Receipt};

pub const CHAIN: &str = "stream-test";
pub const FUNDS: u64 = 10_000_000;

agora_testkit::market_chain!(Chain, StreamCall);

/// Stream's tests send their calls at the time of the last block unless they say otherwise.
impl Chain {
    pub fn new(keys: &[&Keypair]) -> Self {
        let exec = Executor::in_memory(CHAIN).unwrap().with_module(Stream);
        Self(TestChain::new(exec, keys, FUNDS, StreamCall::into_call))
    }

    pub fn ok(&mut self, key: &Keypair, call: StreamCall) -> Receipt {
        let now = self.now;
        self.ok_at(now, key, call)
    }

    pub fn refused(&mut self, key: &Keypair, call: StreamCall) -> String {
        let now = self.now;
        self.refused_at(now, key, call)
    }

    pub fn query(&self, path: &str, params: serde_json::Value) -> serde_json::Value {
        self.query_module("stream", path, params).unwrap()
    }

    pub fn allocation(&self, a: AllocId) -> Allocation {
        let view = self.query(
            "allocation",
            serde_json::json!({"market": 0, "allocation": a}),
        );
        serde_json::from_value(view["allocation"].clone()).unwrap()
    }
}

pub use agora_stream::examples::params;
pub const START: u64 = agora_stream::examples::START_MS;
pub const END: u64 = agora_stream::examples::END_MS;
pub const D_REVEAL: u64 = END + 30_000;
pub const D_POST: u64 = D_REVEAL + 30_000;

/// G4's terms: λ = 20/s for 10 min, I_c = 1, π_x = 20, r = 2.
pub fn terms(customer: &Keypair, mediator: &Keypair) -> Terms {
    agora_stream::examples::terms(&customer.address(), &mediator.address())
}

/// The n = 12 test outputs; `wrong` changes each so that it differs from the true output.
pub fn tests(wrong: bool) -> Vec<(u64, Vec<u8>)> {
    (0..12u64)
        .map(|i| {
            let count = if wrong { i + 100 } else { i };
            (i * 997 + 3, format!("count={count}").into_bytes())
        })
        .collect()
}

/// Outputs of a replica that skipped the tested inputs.
pub fn skipped() -> Vec<(u64, Vec<u8>)> {
    tests(false)
        .into_iter()
        .map(|(s, _)| (s, b"skipped".to_vec()))
        .collect()
}

pub fn outputs(tests: &[(u64, Vec<u8>)]) -> Vec<Output<'_>> {
    tests
        .iter()
        .map(|(seq, o)| Output {
            seq: *seq,
            output: o,
        })
        .collect()
}

/// The stakeholders of one allocation and the chain they run on.
pub struct Fixture {
    pub chain: Chain,
    pub allocator: Keypair,
    pub customer: Keypair,
    pub mediator: Keypair,
    pub suppliers: Vec<Keypair>,
    pub other: Keypair,
}

pub const A: AllocId = 0;

impl Fixture {
    /// A market (id 0) with `p` at t = 100 and nothing else.
    pub fn new_with(p: StreamParams) -> Self {
        let k: Vec<Keypair> = (1..=6).map(Keypair::from_seed).collect();
        let mut chain = Chain::new(&k.iter().collect::<Vec<_>>());
        chain.ok_at(100, &k[5], C::CreateMarket(p));
        let mut k = k.into_iter();
        let mut next = || k.next().unwrap();
        Self {
            chain,
            allocator: next(),
            customer: next(),
            mediator: next(),
            suppliers: vec![next(), next()],
            other: next(),
        }
    }

    pub fn create(&mut self) {
        let t = terms(&self.customer, &self.mediator);
        self.chain.ok_at(
            200,
            &self.allocator,
            C::CreateAllocation {
                market: 0,
                terms: t,
            },
        );
    }

    pub fn add(&mut self, i: usize, done: bool) -> StreamCall {
        C::AddSupplier {
            market: 0,
            allocation: A,
            supplier: self.suppliers[i].address(),
            offer_hash: [10 + i as u8; 32],
            done,
        }
    }

    pub fn new() -> Self {
        Self::new_with(params())
    }

    /// Created with both suppliers: Signing.
    pub fn signing_with(p: StreamParams) -> Self {
        let mut f = Self::new_with(p);
        f.create();
        let (a0, a1) = (f.add(0, false), f.add(1, true));
        f.chain.ok(&f.allocator, a0);
        f.chain.ok(&f.allocator, a1);
        f
    }

    pub fn signing() -> Self {
        Self::signing_with(params())
    }

    pub fn terms_hash(&self) -> Hash {
        self.chain.allocation(A).terms_hash.unwrap()
    }

    /// Γ_i for every slot from the customer's (claimed) tests.
    pub fn commitments(&self, tests: &[(u64, Vec<u8>)]) -> Vec<Hash> {
        self.suppliers
            .iter()
            .map(|s| hashing::commitment(0, A, &s.address(), &outputs(tests)))
            .collect()
    }

    pub fn sign_mediator(&self) -> StreamCall {
        C::MediatorSign {
            market: 0,
            allocation: A,
            terms_hash: self.terms_hash(),
        }
    }

    pub fn sign_customer(&self, tests: &[(u64, Vec<u8>)]) -> StreamCall {
        C::CustomerSign {
            market: 0,
            allocation: A,
            terms_hash: self.terms_hash(),
            commitments: self.commitments(tests),
        }
    }

    pub fn sign_supplier(&self) -> StreamCall {
        C::SupplierSign {
            market: 0,
            allocation: A,
            terms_hash: self.terms_hash(),
        }
    }

    /// Everyone signed, the customer committing to `tests`: Running.
    pub fn running_in(p: StreamParams, tests: &[(u64, Vec<u8>)]) -> Self {
        let mut f = Self::signing_with(p);
        let (m, c, s) = (f.sign_mediator(), f.sign_customer(tests), f.sign_supplier());
        f.chain.ok(&f.mediator, m);
        f.chain.ok(&f.customer, c);
        for i in 0..2 {
            f.chain.ok(&f.suppliers[i], s.clone());
        }
        assert_eq!(f.chain.allocation(A).state, State::Running);
        f
    }

    pub fn running_with(tests: &[(u64, Vec<u8>)]) -> Self {
        Self::running_in(params(), tests)
    }

    /// Running with the customer's true tests.
    pub fn running() -> Self {
        Self::running_with(&tests(false))
    }

    pub fn reveal_call(&self, tests: &[(u64, Vec<u8>)]) -> StreamCall {
        C::RevealChecklist {
            market: 0,
            allocation: A,
            hashes: hashing::alpha(0, A, &outputs(tests)),
        }
    }

    /// Running under `p`, revealed at a_end.
    pub fn revealed_in(p: StreamParams) -> Self {
        let mut f = Self::running_in(p, &tests(false));
        let r = f.reveal_call(&tests(false));
        f.chain.ok_at(END, &f.customer, r);
        f
    }

    pub fn revealed() -> Self {
        Self::revealed_in(params())
    }

    /// γ of slot `i`'s supplier over `tests`.
    pub fn gamma(&self, i: usize, tests: &[(u64, Vec<u8>)]) -> Hash {
        hashing::gamma(0, A, &self.suppliers[i].address(), &outputs(tests))
    }

    pub fn post_call(gamma: Hash) -> StreamCall {
        C::PostOutput {
            market: 0,
            allocation: A,
            gamma,
        }
    }

    /// Slot `i` posts γ over `tests`.
    pub fn post(&mut self, i: usize, tests: &[(u64, Vec<u8>)]) {
        let g = self.gamma(i, tests);
        self.chain.ok(&self.suppliers[i], Self::post_call(g));
    }

    /// The mediator's honest report: Γ^m_i over the true tests.
    pub fn mediation_call(&self, checklist_ok: bool) -> StreamCall {
        C::PostMediation {
            market: 0,
            allocation: A,
            gamma_gammas: self.commitments(&tests(false)),
            checklist_ok,
        }
    }

    pub fn clear_call() -> StreamCall {
        C::ClearMarket {
            market: 0,
            allocation: A,
        }
    }

    pub fn clear_at(&mut self, at: u64) {
        let who = &self.other;
        self.chain.ok_at(at, who, Self::clear_call());
        let a = self.chain.allocation(A);
        assert_eq!(a.state, State::Closed);
    }

    /// Net change of (allocator, slot 0, slot 1, mediator, customer, treasury) since genesis.
    pub fn deltas(&self) -> [i64; 6] {
        let d = |a: &Address| self.chain.balance_of(a) as i64 - FUNDS as i64;
        [
            d(&self.allocator.address()),
            d(&self.suppliers[0].address()),
            d(&self.suppliers[1].address()),
            d(&self.mediator.address()),
            d(&self.customer.address()),
            self.chain.balance_of(&treasury(0)) as i64,
        ]
    }

    /// Nothing of the allocation is still held (every hold slashed or released once).
    pub fn assert_nothing_held(&self) {
        let a = self.chain.allocation(A);
        let mut holds = vec![a.escrow_hold, a.deposit_hold];
        holds.extend(a.slots.iter().map(|s| s.hold));
        for id in holds.into_iter().flatten() {
            let r = self
                .chain
                .exec
                .query("bank", "hold", &serde_json::json!({"id": id}));
            assert!(r.is_err(), "hold {id} still exists after closing");
        }
    }
}
