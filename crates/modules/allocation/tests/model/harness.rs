//! The model's transitions through the real executor. A long-lived in-memory executor
//! (creating one costs milliseconds) runs the bank and allocation modules and a test module,
//! [`Restore`], whose call first records the state as it finds it and then rewrites it to a
//! stored model state. Expanding a state is one block: restore, the first action's signed call,
//! restore (recording the state that call left), the second action, and so on. The block
//! height grows from state to state; the module writes heights (the candidate's and a
//! finalized record's) but never reads them, so a state's identity ignores them.

use agora_allocation::*;
use agora_bank::{module_account, Bank, Hold};
use agora_hybrid::store::{decode, encode, key};
use agora_ledger::{
    Executor, MemState, Module, ModuleGenesis, QueryError, ReasonCode, StateError, StateRead,
    TxContext,
};
use agora_types::{Address, Block, Keypair, Receipt, Transaction, TxStatus};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const CHAIN: &str = "allocation-model";
/// Every actor's opening balance: enough for any hold the alphabet can ask for.
pub const FUNDS: u64 = 1_000;
const RESTORE: &str = "zz_restore";
/// The executor's nonces: not part of a model state.
const NONCES: &[u8] = b"auth:";

/// The actors of the alphabet; their roles are conventions of the alphabet (the module only
/// knows the market's admin, offers' owners and solutions' creators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Actor {
    Admin,
    P1,
    P2,
    C1,
    C2,
    Solver,
    Outsider,
}

pub const ACTORS: [Actor; 7] = [
    Actor::Admin,
    Actor::P1,
    Actor::P2,
    Actor::C1,
    Actor::C2,
    Actor::Solver,
    Actor::Outsider,
];

impl Actor {
    pub fn key(self) -> Keypair {
        Keypair::from_seed(self as u64 + 1)
    }

    pub fn address(self) -> Address {
        self.key().address()
    }

    pub fn of(address: &Address) -> Option<Actor> {
        ACTORS.into_iter().find(|a| a.address() == *address)
    }
}

/// The ledger's state without the nonces, sorted by key.
pub type Entries = Arc<Vec<(Vec<u8>, Vec<u8>)>>;

/// A model state: the ledger's state and the block clock.
#[derive(Clone)]
pub struct State {
    pub clock: u64,
    pub entries: Entries,
}

/// The market's record and the finalized records with the heights they carry set to 0.
fn without_heights(k: &[u8], v: &[u8]) -> Option<Vec<u8>> {
    if k == key(NAME, "market", 0, &[]).as_slice() {
        let mut m: Market = decode(v).expect("a market");
        m.candidate.height = 0;
        Some(encode(&m))
    } else if k.starts_with(&key(NAME, "final", 0, &[])) {
        let mut f: Final = decode(v).expect("a record");
        f.height = 0;
        Some(encode(&f))
    } else {
        None
    }
}

impl State {
    /// Identifies the state for deduplication: a hash of the clock and every entry, heights
    /// aside (see the module doc).
    pub fn id(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(&self.clock.to_be_bytes());
        for (k, v) in self.entries.iter() {
            let v = without_heights(k, v).unwrap_or_else(|| v.clone());
            h.update(&(k.len() as u64).to_be_bytes());
            h.update(k);
            h.update(&(v.len() as u64).to_be_bytes());
            h.update(&v);
        }
        *h.finalize().as_bytes()
    }
}

/// What the [`Restore`] module shares with the runner: the state to restore, and the states
/// it found (each the state the previous transaction left).
#[derive(Default)]
struct Shared {
    target: Entries,
    found: Vec<Entries>,
}

/// Records the state (nonces aside), then rewrites it to the target.
struct Restore(Arc<Mutex<Shared>>);

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct RestoreError(#[from] StateError);

impl ReasonCode for RestoreError {
    fn reason(&self) -> &'static str {
        "restore_failed"
    }
}

impl Module for Restore {
    type Call = ();
    type Error = RestoreError;

    fn name(&self) -> &'static str {
        RESTORE
    }

    fn decode_call(&self, _: &[u8]) -> Result<(), RestoreError> {
        Ok(())
    }

    fn execute(&self, ctx: &mut TxContext<'_>, _: ()) -> Result<(), RestoreError> {
        let found: Vec<_> = ctx
            .scan(b"")?
            .into_iter()
            .filter(|(k, _)| !k.starts_with(NONCES))
            .collect();
        let mut shared = self.0.lock().expect("the shared state");
        let target = shared.target.clone();
        if found != *target {
            let wanted: BTreeMap<&[u8], &[u8]> = target
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            for (k, v) in &found {
                match wanted.get(k.as_slice()) {
                    Some(w) if *w == v.as_slice() => {}
                    Some(w) => ctx.put(k.clone(), w.to_vec()),
                    None => ctx.delete(k.clone()),
                }
            }
            let have: BTreeMap<&[u8], &[u8]> = found
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            for (k, v) in target
                .iter()
                .filter(|(k, _)| !have.contains_key(k.as_slice()))
            {
                ctx.put(k.clone(), v.clone());
            }
        }
        shared.found.push(Arc::new(found));
        Ok(())
    }

    fn genesis(&self, _: &mut TxContext<'_>, _: &serde_json::Value) -> Result<(), RestoreError> {
        Ok(())
    }

    fn query(
        &self,
        _: &dyn StateRead,
        path: &str,
        _: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        Err(QueryError::UnknownPath {
            module: RESTORE.into(),
            path: path.into(),
        })
    }
}

/// The executor the model's transitions run on.
pub struct Runner {
    exec: Executor,
    shared: Arc<Mutex<Shared>>,
    height: u64,
    restorer: Keypair,
}

impl Runner {
    /// A runner and the state before any market (Fig. 6.3's Init): every actor funded.
    pub fn new() -> (Self, State, View) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let exec = Executor::in_memory(CHAIN)
            .expect("in-memory executor")
            .with_module(Bank)
            .with_module(Allocation)
            .with_module(Restore(shared.clone()));
        let balances: serde_json::Map<_, _> = ACTORS
            .iter()
            .map(|a| (a.address().to_string(), FUNDS.into()))
            .collect();
        let mut genesis = ModuleGenesis::new();
        genesis.insert("bank".into(), json!({ "balances": balances }));
        exec.init_genesis(&genesis, 0).expect("genesis");
        let entries = exec
            .dump_state()
            .expect("dump")
            .into_iter()
            .filter(|(k, _)| !k.starts_with(NONCES))
            .collect();
        let state = State {
            clock: 0,
            entries: Arc::new(entries),
        };
        let view = View::of(&state);
        let runner = Self {
            exec,
            shared,
            height: 0,
            restorer: Keypair::from_seed(1_000),
        };
        (runner, state, view)
    }

    /// Executes each call from `state` at its clock, in one block; returns each call's receipt
    /// and the state it left.
    pub fn expand(
        &mut self,
        state: &State,
        calls: &[(Actor, &AllocationCall)],
    ) -> Vec<(Receipt, State)> {
        {
            let mut shared = self.shared.lock().expect("the shared state");
            shared.target = state.entries.clone();
            shared.found.clear();
        }
        let mut nonces: BTreeMap<Address, u64> = BTreeMap::new();
        let mut sign = |key: &Keypair, call: agora_types::Call| {
            let sender = key.address();
            let nonce = nonces
                .entry(sender)
                .or_insert_with(|| self.exec.nonce(&sender).expect("a nonce"));
            let tx = Transaction {
                chain_id: CHAIN.into(),
                sender,
                nonce: *nonce,
                call,
            }
            .sign(key);
            *nonce += 1;
            tx
        };
        let restore = || agora_types::Call {
            module: RESTORE.into(),
            payload: Vec::new().into(),
        };
        let mut txs = vec![sign(&self.restorer, restore())];
        for (actor, call) in calls {
            txs.push(sign(&actor.key(), (*call).clone().into_call()));
            txs.push(sign(&self.restorer, restore()));
        }
        self.height += 1;
        let block = Block::outside_consensus(self.height, state.clock, txs);
        let applied = self
            .exec
            .apply_block(&block)
            .expect("the block applies")
            .expect("a new block");
        let found = std::mem::take(&mut self.shared.lock().expect("the shared state").found);
        assert_eq!(found.len(), calls.len() + 1, "every restore ran");
        let mut receipts = applied.receipts.into_iter();
        let first = receipts.next().expect("the first restore");
        assert_eq!(first.status, TxStatus::Success, "{:?}", first.message);
        found
            .into_iter()
            .skip(1)
            .map(|entries| {
                let receipt = receipts.next().expect("the call's receipt");
                let restored = receipts.next().expect("a restore's receipt");
                assert_eq!(restored.status, TxStatus::Success, "{:?}", restored.message);
                let after = State {
                    clock: state.clock,
                    entries,
                };
                (receipt, after)
            })
            .collect()
    }
}

/// The same ledger state at a later clock (a clock step is not a transaction).
pub fn at(state: &State, view: &View, clock: u64) -> (State, View) {
    let state = State {
        clock,
        entries: state.entries.clone(),
    };
    let view = View {
        id: state.id(),
        clock,
        ..view.clone()
    };
    (state, view)
}

/// A solution as its query shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Solution {
    pub creator: Address,
    pub cycle: u64,
    pub score: Score,
    pub assignments: Vec<Assignment>,
}

/// What `finalized{cycle}` shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Finalized {
    pub record: Final,
    pub assignments: Vec<Assignment>,
}

/// Everything the properties read of a state, through the modules' queries (and the bank's
/// holds from the state, which the bank lists by id only).
#[derive(Clone, Debug)]
pub struct View {
    pub id: [u8; 32],
    pub clock: u64,
    pub market: Option<Market>,
    pub offers: BTreeMap<OfferId, Offer>,
    pub solutions: BTreeMap<SolutionId, Solution>,
    pub finals: BTreeMap<u64, Finalized>,
    pub zones: BTreeMap<Address, Zone>,
    /// The bank's holds controlled by the allocation module, by id.
    pub holds: BTreeMap<u64, Hold>,
    pub balances: BTreeMap<Actor, u64>,
    /// How many holds the bank has ever made (its next hold id).
    pub holds_made: u64,
    /// The bank's conservation check on this state.
    pub conservation: Result<(), String>,
}

fn query<M: Module, T: serde::de::DeserializeOwned>(
    module: M,
    state: &MemState,
    path: &str,
    params: serde_json::Value,
) -> T {
    let value = module
        .query(state, path, &params)
        .unwrap_or_else(|e| panic!("query {path} {params}: {e}"));
    serde_json::from_value(value).unwrap_or_else(|e| panic!("query {path}: {e}"))
}

impl View {
    pub fn of(state: &State) -> Self {
        let mem = MemState(state.entries.iter().cloned().collect());
        let market: Option<Market> = Allocation
            .query(&mem, "market", &json!({"market": 0}))
            .ok()
            .map(|v| serde_json::from_value(v).expect("a market"));
        let (mut offers, mut solutions, mut finals) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        if let Some(m) = &market {
            for o in 0..m.next_offer {
                let p = json!({"market": 0, "offer": o});
                offers.insert(o, query(Allocation, &mem, "offer", p));
            }
            for s in 0..m.next_solution {
                let p = json!({"market": 0, "solution": s});
                solutions.insert(s, query(Allocation, &mem, "solution", p));
            }
            for c in 0..m.cycle {
                let p = json!({"market": 0, "cycle": c});
                finals.insert(c, query(Allocation, &mem, "finalized", p));
            }
        }
        let zones = ACTORS
            .iter()
            .filter(|_| market.is_some())
            .map(|a| {
                let p = json!({"market": 0, "account": a.address()});
                (a.address(), query(Allocation, &mem, "zone", p))
            })
            .collect();
        let controller = module_account(NAME);
        let holds = state
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(b"bank:hold:"))
            .map(|(_, v)| serde_json::from_slice::<Hold>(v).expect("a hold"))
            .filter(|h| h.controller == controller)
            .map(|h| (h.id, h))
            .collect();
        let balances = ACTORS
            .iter()
            .map(|a| {
                let b: serde_json::Value =
                    query(Bank, &mem, "balance", json!({"address": a.address()}));
                (*a, b["balance"].as_u64().expect("a balance"))
            })
            .collect();
        let holds_made = mem.0.get(b"bank:next_hold".as_slice()).map_or(0, |v| {
            u64::from_be_bytes(v.as_slice().try_into().expect("a counter"))
        });
        View {
            id: state.id(),
            clock: state.clock,
            market,
            offers,
            solutions,
            finals,
            zones,
            holds,
            balances,
            holds_made,
            conservation: Bank::check_conservation(&mem),
        }
    }

    /// When the current phase may end (`Close` in Receive, `Finalize` in Solve).
    pub fn due(&self) -> Option<u64> {
        let m = self.market.as_ref()?;
        let length = match m.phase {
            Phase::Receive => m.params.receive_ms,
            Phase::Solve => m.params.solve_ms,
        };
        Some(m.phase_since_ms + length)
    }

    /// The offers of the current cycle.
    pub fn current_offers(&self) -> impl Iterator<Item = &Offer> {
        let cycle = self.market.as_ref().map(|m| m.cycle);
        self.offers.values().filter(move |o| Some(o.cycle) == cycle)
    }

    /// The posted offers of `cycle`, with their alternatives.
    pub fn posted(&self, cycle: u64) -> Vec<&Offer> {
        self.offers
            .values()
            .filter(|o| o.cycle == cycle && o.posted)
            .collect()
    }
}
