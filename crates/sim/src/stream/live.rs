//! The stream market kept busy on a devnet, without end: four customers each offer a one-second
//! window of the WebAssembly CRC-32 service every round, four suppliers (honest nine times in
//! ten, so some allocations go to mediation) offer their capacity for it, the allocator
//! matches and writes the allocations, the mediator both sides trust signs and mediates, and
//! the keeper closes what falls due. Offers, inputs, outputs and test seqs go over the
//! embedded bus, in the devnet's process. The market's terms are those of `agora sim stream
//! strategies` (`strategies::params` and `strategies::economy`).
//!
//! The market and every agent's key go to `stream.json` in the devnet's market directory; a
//! later start that finds the market on the chain reuses it (allocations the last run left
//! open are closed by the keeper when their time-outs fall due).

use super::{
    allocator::{Draft, Timing},
    allocator_agent::Allocator,
    bus::{open_offers, Network},
    customer::Customer,
    keeper::run_keeper,
    ledger::{Inclusions, Party, Watcher},
    mediator::Mediator,
    metrics::Metrics,
    now_ms,
    service::Service,
    strategies::{economy, params},
    supplier::Supplier,
    Honesty, Market,
};
use crate::{
    demo::{
        key_from_json, key_to_json, pay, read_state, supervise, supervise_top_up, write_state,
        DemoContext, DemoError, DemoMarket, Started,
    },
    energy::{SimError, FUNDING},
};
use agora_bank::BankCall;
use agora_channels::catalogue::Role;
use agora_client::Client;
use agora_stream::{Outcome, StreamCall, StreamMarket};
use agora_types::{Address, Keypair};
use futures::future::BoxFuture;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Customers and suppliers of the demo.
const CUSTOMERS: usize = 4;
const SUPPLIERS: usize = 4;
/// P(s) of every supplier.
const SUPPLIER_HONESTY: f64 = 0.9;
/// The allocator's first estimate of δ_alloc and δ_setup; δ_alloc then follows half the last
/// round's length.
const TIMING: Timing = Timing {
    alloc_ms: 3_000,
    setup_ms: 200,
};
/// How long before its offers expire a round's matching may start.
const ROUND_SLACK_MS: u64 = 300;
/// Messages each allocation's inputs are cut into.
const BATCHES: u64 = 10;

/// The stream market of `agora devnet --markets`.
pub struct StreamDemo;

impl DemoMarket for StreamDemo {
    fn name(&self) -> &'static str {
        "stream"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a DemoContext,
        agents: &'a mut JoinSet<()>,
    ) -> BoxFuture<'a, Result<Started, DemoError>> {
        Box::pin(start(ctx, agents))
    }
}

/// What a later start needs to resume: the market and the keys of its agents.
#[derive(Serialize, Deserialize)]
struct State {
    market: u64,
    allocator: serde_json::Value,
    mediator: serde_json::Value,
    keeper: serde_json::Value,
    customers: Vec<serde_json::Value>,
    suppliers: Vec<serde_json::Value>,
}

/// Everyone of the market, shared by its tasks.
struct Population {
    /// The broker every agent's bus handle talks to.
    _network: Network,
    market: Market,
    allocator: Allocator,
    mediator: Mediator,
    customers: Vec<Customer>,
    suppliers: Vec<Supplier>,
}

async fn start(ctx: &DemoContext, agents: &mut JoinSet<()>) -> Result<Started, DemoError> {
    let path = ctx.dir.join("stream.json");
    let service = Arc::new(
        Service::crc32().map_err(|e| SimError::Unexpected(format!("stream service: {e}")))?,
    );
    let stored = match read_state::<State>(&path)? {
        Some(state) if on_chain(&ctx.client, state.market).await => Some(state),
        Some(state) => {
            warn!(
                market = state.market,
                file = %path.display(),
                "the stored stream market is not on this chain; setting up a new one"
            );
            None
        }
        None => None,
    };
    let resumed = stored.is_some();
    let state = match stored {
        Some(state) => state,
        None => set_up_new(ctx, &path).await?,
    };
    let m = state.market;
    let inclusions = Inclusions::start(&ctx.client).await?;
    let party = |key: &serde_json::Value| {
        Ok::<_, DemoError>(Party::new(
            ctx.client.clone(),
            inclusions.clone(),
            key_from_json(&path, key)?,
        ))
    };
    let network = Network::embedded();
    let allocator_party = party(&state.allocator)?;
    let allocator_bus = network
        .connect(&allocator_party.key)
        .await
        .map_err(SimError::from)?;
    let allocator = Allocator::new(allocator_party, &*allocator_bus, m).await?;
    let mediator_party = party(&state.mediator)?;
    let mediator = Mediator {
        bus: network
            .connect(&mediator_party.key)
            .await
            .map_err(SimError::from)?,
        party: mediator_party,
    };
    let keeper = Arc::new(party(&state.keeper)?);
    let mut customers = Vec::new();
    for (i, key) in state.customers.iter().enumerate() {
        let party = party(key)?;
        let bus = network.connect(&party.key).await.map_err(SimError::from)?;
        open_offers(&*bus, m, Role::Customer)
            .await
            .map_err(SimError::from)?;
        let honesty = Honesty::new(1.0, m, i as u64, CUSTOMERS as u64);
        customers.push(Customer::new(party, honesty, bus));
    }
    let mut suppliers = Vec::new();
    for (i, key) in state.suppliers.iter().enumerate() {
        let party = party(key)?;
        let bus = network.connect(&party.key).await.map_err(SimError::from)?;
        open_offers(&*bus, m, Role::Supplier)
            .await
            .map_err(SimError::from)?;
        suppliers.push(Supplier {
            party,
            honesty: Honesty::new(SUPPLIER_HONESTY, m, i as u64, SUPPLIERS as u64),
            speculative: false,
            bus,
        });
    }
    let accounts: Vec<Address> = [&allocator.party, &mediator.party, &*keeper]
        .into_iter()
        .chain(customers.iter().map(|c| &c.party))
        .chain(suppliers.iter().map(|s| &s.party))
        .map(Party::address)
        .collect();
    let population = Arc::new(Population {
        _network: network,
        market: Market {
            id: m,
            params: params(),
            allocator: allocator.party.address(),
            mediator: mediator.party.address(),
            economy: economy(),
            service,
            batches: BATCHES,
            metrics: Metrics::default(),
            watcher: Watcher::start(ctx.client.clone(), m),
        },
        allocator,
        mediator,
        customers,
        suppliers,
    });
    info!(market = m, resumed, "stream market running");

    agents.spawn(run_keeper(
        keeper,
        population.market.watcher.clone(),
        m,
        params(),
    ));
    let round = Arc::new(AtomicU64::new(0));
    {
        let population = population.clone();
        supervise(agents, "stream rounds".into(), move || {
            let (population, round) = (population.clone(), round.clone());
            async move { run_rounds(&population, &round).await }
        });
    }
    supervise_top_up(agents, ctx, "stream", accounts, FUNDING, None);
    Ok(Started {
        name: "stream",
        market: m,
        explorer: format!("/explorer/stream/{m}"),
        resumed,
    })
}

/// Whether the chain has market `m` with the demo's terms.
async fn on_chain(client: &Client, m: u64) -> bool {
    let found = client
        .query(
            agora_stream::NAME,
            "market",
            serde_json::json!({"market": m}),
        )
        .await
        .ok()
        .and_then(|v| serde_json::from_value::<StreamMarket>(v).ok());
    found.is_some_and(|market| market.params == params())
}

/// Funds new agents, creates the market and writes the state file.
async fn set_up_new(ctx: &DemoContext, path: &Path) -> Result<State, DemoError> {
    let keys =
        |n: usize| -> Vec<Keypair> { (0..n).map(|_| Keypair::generate(&mut OsRng)).collect() };
    let (roles, customers, suppliers) = (keys(3), keys(CUSTOMERS), keys(SUPPLIERS));
    let funding = roles
        .iter()
        .chain(&customers)
        .chain(&suppliers)
        .map(|k| {
            BankCall::Transfer {
                to: k.address(),
                amount: FUNDING,
            }
            .into_call()
        })
        .collect();
    pay(&ctx.client, &ctx.faucet, funding, "stream funding").await?;
    let inclusions = Inclusions::start(&ctx.client).await?;
    let allocator = Party::new(ctx.client.clone(), inclusions, roles[0].clone());
    let receipt = allocator
        .call("create market", StreamCall::CreateMarket(params()))
        .await?;
    let market = receipt
        .events
        .iter()
        .find(|e| e.name == "MarketCreated")
        .and_then(|e| e.data["market"].as_u64())
        .ok_or_else(|| SimError::Unexpected("no MarketCreated event".into()))?;
    let state = State {
        market,
        allocator: key_to_json(&roles[0]),
        mediator: key_to_json(&roles[1]),
        keeper: key_to_json(&roles[2]),
        customers: customers.iter().map(key_to_json).collect(),
        suppliers: suppliers.iter().map(key_to_json).collect(),
    };
    write_state(path, &state)?;
    Ok(state)
}

/// Round after round: every customer and supplier offers the same window, the allocator
/// matches and writes the allocations, and each is played to its close.
async fn run_rounds(p: &Population, next_round: &AtomicU64) -> Result<(), SimError> {
    let market = &p.market;
    let mut timing = TIMING;
    loop {
        let round = next_round.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        // Offers expire at t_e = start − δ_setup − δ_alloc (A3): leave the allocator time.
        let start = now + timing.alloc_ms + timing.setup_ms + ROUND_SLACK_MS;
        let window = (start, start + market.economy.window_ms);
        let offers = (
            futures::future::try_join_all(
                p.customers.iter().map(|c| c.offer(market, window, round)),
            ),
            futures::future::try_join_all(
                p.suppliers.iter().map(|s| s.offer(market, window, round)),
            ),
        );
        futures::try_join!(offers.0, offers.1)?;
        let expected = p.customers.len() + p.suppliers.len();
        let (drafts, void) = p
            .allocator
            .plan(&market.params, expected, now, timing)
            .await?;
        let plays = drafts.into_iter().map(|d| play(p, d, round));
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        for outcome in futures::future::try_join_all(plays)
            .await?
            .into_iter()
            .flatten()
        {
            let name = outcome.map_or("open".into(), |o| format!("{o:?}").to_lowercase());
            *outcomes.entry(name).or_default() += 1;
        }
        timing.alloc_ms = TIMING.alloc_ms.max(now_ms().saturating_sub(now) / 2);
        info!(
            market = market.id,
            round,
            ?outcomes,
            void = void.len(),
            "stream round played"
        );
    }
}

/// Writes `draft` and plays it to its close: its outcome, or `None` if the ledger refused it
/// as too late.
async fn play(
    p: &Population,
    draft: Draft,
    round: u64,
) -> Result<Option<Option<Outcome>>, SimError> {
    let market = &p.market;
    let Some(a) = p.allocator.write(market, &draft).await? else {
        return Ok(None);
    };
    let customer = p
        .customers
        .iter()
        .find(|c| c.party.address() == draft.terms.customer)
        .ok_or_else(|| SimError::Unexpected("allocation to an unknown customer".into()))?;
    let workers = draft.suppliers.iter().enumerate().map(|(slot, (s, _))| {
        let draft = &draft;
        async move {
            let supplier = p
                .suppliers
                .iter()
                .find(|x| x.party.address() == *s)
                .ok_or_else(|| SimError::Unexpected("allocation to an unknown supplier".into()))?;
            supplier.serve(market, a, draft, slot as u32, round).await
        }
    });
    futures::try_join!(
        customer.serve(market, a, &draft, round),
        futures::future::try_join_all(workers),
        p.mediator.serve(market, a, &draft)
    )?;
    let closed = market.watcher.closed(a).await?;
    Ok(Some(closed.allocation.outcome))
}
