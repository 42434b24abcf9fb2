//! `agora-testkit`: the chain every market module's tests run on.
//!
//! [`TestChain`] executes one transaction per block through the real [`Executor`], at a block
//! time the test chooses (the clock never goes back), with the bank and the module under test
//! registered and every test account funded at genesis. After every block it checks that the
//! bank's balances and holds sum to its supply, then runs the test's own invariants
//! ([`TestChain::after_every_block`]), so a test cannot pass on a block that broke them.
//!
//! Test code only: it panics on anything unexpected, which is what a failing test should do.

use agora_bank::Bank;
use agora_ledger::{Executor, ModuleGenesis, TxStatus};
use agora_types::{Address, Block, Call, Keypair, Receipt, Transaction};
use std::collections::BTreeMap;

/// An invariant checked after every block.
pub type Check = Box<dyn Fn(&Executor)>;

/// A single-node chain for tests; `C` is the module's call type.
pub struct TestChain<C> {
    pub exec: Executor,
    pub chain_id: String,
    pub height: u64,
    /// The last block's time (ms).
    pub now: u64,
    pub nonces: BTreeMap<Address, u64>,
    wrap: fn(C) -> Call,
    checks: Vec<Check>,
}

impl<C> TestChain<C> {
    /// A chain with the bank and `exec`'s modules; each of `funded` gets `funds` at genesis.
    /// `wrap` turns the module's call into a transaction's call (the module's `into_call`).
    pub fn new(exec: Executor, funded: &[&Keypair], funds: u64, wrap: fn(C) -> Call) -> Self {
        let exec = exec.with_module(Bank);
        let balances: serde_json::Map<_, _> = funded
            .iter()
            .map(|k| (k.address().to_string(), funds.into()))
            .collect();
        let mut genesis = ModuleGenesis::new();
        genesis.insert("bank".into(), serde_json::json!({ "balances": balances }));
        exec.init_genesis(&genesis, 0).expect("the test genesis");
        let chain_id = exec.chain_id().to_string();
        Self {
            exec,
            chain_id,
            height: 0,
            now: 0,
            nonces: BTreeMap::new(),
            wrap,
            checks: Vec::new(),
        }
    }

    /// Sets the clock the first block builds on.
    pub fn starting_at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }

    /// Adds an invariant checked after every block (after token conservation).
    pub fn after_every_block(mut self, check: impl Fn(&Executor) + 'static) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Sends any call, well-formed or not, in a block at time `at` (ms; must not go back).
    pub fn raw_at(&mut self, at: u64, key: &Keypair, call: Call) -> Receipt {
        assert!(at >= self.now, "the block clock never goes back");
        self.now = at;
        let nonce = self.nonces.entry(key.address()).or_default();
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            sender: key.address(),
            nonce: *nonce,
            call,
        }
        .sign(key);
        *nonce += 1;
        self.height += 1;
        let block = Block::outside_consensus(self.height, self.now, vec![tx]);
        let applied = self
            .exec
            .apply_block(&block)
            .expect("the executor")
            .expect("the block applies");
        self.exec
            .with_state(Bank::check_conservation)
            .expect("the state")
            .expect("tokens are conserved");
        for check in &self.checks {
            check(&self.exec);
        }
        applied.receipts.into_iter().next().expect("one receipt")
    }

    /// Sends `call` in a block at time `at`.
    pub fn at(&mut self, at: u64, key: &Keypair, call: C) -> Receipt {
        let call = (self.wrap)(call);
        self.raw_at(at, key, call)
    }

    /// Sends `call` one millisecond after the last block.
    pub fn send(&mut self, key: &Keypair, call: C) -> Receipt {
        self.at(self.now + 1, key, call)
    }

    /// Sends `call` at `at` and asserts it succeeded.
    pub fn ok_at(&mut self, at: u64, key: &Keypair, call: C) -> Receipt {
        let r = self.at(at, key, call);
        assert_eq!(r.status, TxStatus::Success, "{:?}", r.message);
        r
    }

    /// Sends `call` one millisecond after the last block and asserts it succeeded.
    pub fn ok(&mut self, key: &Keypair, call: C) -> Receipt {
        self.ok_at(self.now + 1, key, call)
    }

    /// Sends `call` at `at`, asserts it was refused, and returns its reason code (the state is
    /// unchanged: the test may check).
    pub fn refused_at(&mut self, at: u64, key: &Keypair, call: C) -> String {
        let r = self.at(at, key, call);
        assert_eq!(r.status, TxStatus::Failed, "expected a refusal");
        r.reason.expect("a refusal has a reason")
    }

    /// [`TestChain::refused_at`] one millisecond after the last block.
    pub fn refused(&mut self, key: &Keypair, call: C) -> String {
        self.refused_at(self.now + 1, key, call)
    }

    /// Answers `module`'s query `path`.
    pub fn query_module(
        &self,
        module: &str,
        path: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, agora_ledger::QueryError> {
        self.exec.query(module, path, &params)
    }

    pub fn balance_of(&self, a: &Address) -> u64 {
        let answer = self
            .query_module(
                "bank",
                "balance",
                serde_json::json!({"address": a.to_string()}),
            )
            .expect("the balance query");
        answer["balance"].as_u64().expect("a balance")
    }

    pub fn balance(&self, k: &Keypair) -> u64 {
        self.balance_of(&k.address())
    }

    /// Whether bank hold `id` exists.
    pub fn hold_exists(&self, id: u64) -> bool {
        self.query_module("bank", "hold", serde_json::json!({"id": id}))
            .is_ok()
    }
}

/// Declares `pub struct $name(pub TestChain<$call>)` that dereferences to the [`TestChain`], so
/// a module's tests add their own helpers (queries by the module's types) beside the shared ones.
#[macro_export]
macro_rules! market_chain {
    ($name:ident, $call:ty) => {
        /// The bank and the module under test on a [`TestChain`]($crate::TestChain).
        pub struct $name(pub $crate::TestChain<$call>);

        impl ::std::ops::Deref for $name {
            type Target = $crate::TestChain<$call>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl ::std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}
