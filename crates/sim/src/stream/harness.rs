//! One market's population played on the chain (spec 7.2): customers and suppliers in groups
//! by honesty, one allocator, one mediator both sides trust, one keeper, each with its own
//! handle on the run's [`Network`]. Play goes in rounds: every active customer and every
//! supplier publishes an offer for the same window, the allocator reads them, matches and
//! writes the allocations, and each party plays its allocation to the close over the
//! allocation's channels. Utilities are ledger balance deltas (fees included) plus the
//! off-ledger terms.
//!
//! Entry point: [`run_market`] (the strategy and latency experiments, and any demo, drive a
//! market through it).

use super::{
    allocator::Timing, allocator_agent::Allocator, bus::open_offers, bus::Network,
    customer::Customer, keeper::run_keeper, ledger::Party, ledger::Watcher, mediator::Mediator,
    metrics::Metrics, metrics::Samples, now_ms, service::Service, supplier::Supplier, Economy,
    Honesty, Market,
};
use crate::energy::SimError;
use agora_channels::catalogue::Role;
use agora_client::Client;
use agora_stream::{Outcome, StreamCall, StreamParams};
use agora_types::Keypair;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Funds of every agent account (µ).
const FUNDING: u64 = 1_000_000_000;
/// Rounds in a row without an allocation before the market gives up.
const MAX_EMPTY_ROUNDS: u32 = 3;
/// How long before its offers expire a round's matching may start.
const ROUND_SLACK_MS: u64 = 300;

#[derive(Clone, Debug)]
pub struct MarketSetup {
    /// Names the market and keeps its keys apart from other markets' on the same chain.
    pub label: String,
    /// P(s) of each supplier group and P(c) of each customer group.
    pub supplier_groups: Vec<f64>,
    pub customer_groups: Vec<f64>,
    pub group_size: usize,
    /// Allocations to create in all.
    pub allocations: u64,
    pub seed: u64,
    pub economy: Economy,
    pub params: StreamParams,
    pub timing: Timing,
    /// Suppliers start on accept instead of waiting for Running (spec 3.8).
    pub speculative: bool,
    /// Messages each allocation's inputs are cut into ([`Market::batches`]).
    pub batches: u64,
}

/// One customer's or supplier's result.
#[derive(Clone, Debug, Serialize)]
pub struct PartyResult {
    pub group: usize,
    /// Its P(s) or P(c).
    pub honesty: f64,
    pub allocations: u64,
    /// Balance delta plus off-ledger terms (µ).
    pub utility: f64,
    /// Balance delta alone (µ; fees included).
    pub ledger_delta: i64,
    pub fees: u64,
}

/// Mean utility per group member after some allocations.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub allocations: u64,
    pub suppliers: Vec<f64>,
    pub customers: Vec<f64>,
}

/// Tokens in = tokens out: what the faucet gave equals the agents' final balances, the
/// market's treasury and the fees burned (no hold is left once everything closed).
#[derive(Clone, Debug, Serialize)]
pub struct Conservation {
    pub funded: u64,
    pub balances: u64,
    pub treasury: u64,
    pub fees: u64,
    pub conserved: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MarketResult {
    pub label: String,
    pub market: u64,
    pub created: u64,
    pub void: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub suppliers: Vec<PartyResult>,
    pub customers: Vec<PartyResult>,
    pub series: Vec<Sample>,
    pub conservation: Conservation,
    /// The spans the agents timed (the latency experiment's).
    #[serde(skip)]
    pub samples: Samples,
}

/// Deterministic keys per market label, role and index.
fn key(label: &str, seed: u64, role: &str, i: usize) -> Keypair {
    let h = Sha256::digest(format!("{label}/{seed}/{role}/{i}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    Keypair::from_seed(u64::from_be_bytes(b))
}

struct Tally {
    allocations: u64,
    /// b·outputs − π_cg·tests for a customer, −π_sε·processed for a supplier.
    off_ledger: f64,
}

/// Every account of a market: its customers, its suppliers and `others`.
fn parties<'a>(
    customers: &'a [(usize, Customer)],
    suppliers: &'a [(usize, Supplier)],
    others: [&'a Party; 3],
) -> Vec<&'a Party> {
    customers
        .iter()
        .map(|c| &c.1.party)
        .chain(suppliers.iter().map(|s| &s.1.party))
        .chain(others)
        .collect()
}

/// Plays `setup` on the chain behind `client` with the agents' channels on `network`, and
/// `faucet` funding every agent (markets played side by side share both).
pub async fn run_market(
    client: &Client,
    faucet: &Party,
    network: &Network,
    setup: &MarketSetup,
    service: Arc<Service>,
) -> Result<MarketResult, SimError> {
    let (label, seed, size) = (&setup.label, setup.seed, setup.group_size);
    let inclusions = faucet.inclusions().clone();
    let party = |role: &str, i: usize| {
        Party::new(
            client.clone(),
            inclusions.clone(),
            key(label, seed, role, i),
        )
    };
    let groups = |ps: &[f64]| -> Vec<(usize, usize, f64)> {
        ps.iter()
            .enumerate()
            .flat_map(|(g, p)| (0..size).map(move |i| (g, i, *p)))
            .collect()
    };
    let mut customers: Vec<(usize, Customer)> = Vec::new();
    for (k, (g, i, p)) in groups(&setup.customer_groups).into_iter().enumerate() {
        let h = Honesty::new(p, seed ^ (g as u64) << 8, i as u64, size as u64);
        let party = party("customer", k);
        let bus = network.connect(&party.key).await?;
        customers.push((g, Customer::new(party, h, bus)));
    }
    let mut suppliers: Vec<(usize, Supplier)> = Vec::new();
    for (k, (g, i, p)) in groups(&setup.supplier_groups).into_iter().enumerate() {
        let honesty = Honesty::new(p, seed ^ (g as u64) << 16, i as u64, size as u64);
        let party = party("supplier", k);
        let supplier = Supplier {
            bus: network.connect(&party.key).await?,
            party,
            honesty,
            speculative: setup.speculative,
        };
        suppliers.push((g, supplier));
    }
    let allocator_party = party("allocator", 0);
    let allocator_bus = network.connect(&allocator_party.key).await?;
    let mediator_party = party("mediator", 0);
    let mediator = Mediator {
        bus: network.connect(&mediator_party.key).await?,
        party: mediator_party,
    };
    let keeper = Arc::new(party("keeper", 0));
    let everyone = parties(
        &customers,
        &suppliers,
        [&allocator_party, &mediator.party, &keeper],
    );
    let funding = everyone
        .iter()
        .map(|p| faucet.transfer(p.address(), FUNDING));
    futures::future::try_join_all(funding).await?;
    let receipt = allocator_party
        .call(
            "create market",
            StreamCall::CreateMarket(setup.params.clone()),
        )
        .await?;
    let m = receipt
        .events
        .iter()
        .find(|e| e.name == "MarketCreated")
        .and_then(|e| e.data["market"].as_u64())
        .ok_or_else(|| SimError::Unexpected("no MarketCreated event".into()))?;
    for (_, c) in &customers {
        open_offers(&*c.bus, m, Role::Customer).await?;
    }
    for (_, s) in &suppliers {
        open_offers(&*s.bus, m, Role::Supplier).await?;
    }
    let allocator = Allocator::new(allocator_party, &*allocator_bus, m).await?;
    let market = Market {
        id: m,
        params: setup.params.clone(),
        allocator: allocator.party.address(),
        mediator: mediator.party.address(),
        economy: setup.economy.clone(),
        service,
        batches: setup.batches,
        metrics: Metrics::default(),
        watcher: Watcher::start(client.clone(), m),
    };
    let keeper_task = AbortOnDrop(tokio::spawn(run_keeper(
        keeper.clone(),
        market.watcher.clone(),
        m,
        setup.params.clone(),
    )));
    let (created, void, outcomes, series) = play(
        &market, setup, &allocator, &mediator, &customers, &suppliers,
    )
    .await?;
    drop(keeper_task);

    let everyone = parties(
        &customers,
        &suppliers,
        [&allocator.party, &mediator.party, &keeper],
    );
    let mut balances = 0u64;
    for p in &everyone {
        balances += client.balance(&p.address()).await?;
    }
    let treasury = client.balance(&agora_stream::treasury(m)).await?;
    let fees: u64 = everyone.iter().map(|p| p.fees()).sum();
    let funded = FUNDING * everyone.len() as u64;
    let result = |p: &Party, group: usize, honesty: f64, t: &Tally, balance: u64| PartyResult {
        group,
        honesty,
        allocations: t.allocations,
        utility: balance as f64 - FUNDING as f64 + t.off_ledger,
        ledger_delta: balance as i64 - FUNDING as i64,
        fees: p.fees(),
    };
    let mut customer_results = Vec::new();
    for ((g, c), t) in customers.iter().zip(&series.1) {
        let b = client.balance(&c.party.address()).await?;
        customer_results.push(result(&c.party, *g, c.honesty.p, t, b));
    }
    let mut supplier_results = Vec::new();
    for ((g, s), t) in suppliers.iter().zip(&series.2) {
        let b = client.balance(&s.party.address()).await?;
        supplier_results.push(result(&s.party, *g, s.honesty.p, t, b));
    }
    Ok(MarketResult {
        label: label.clone(),
        market: m,
        created,
        void,
        outcomes,
        suppliers: supplier_results,
        customers: customer_results,
        series: series.0,
        conservation: Conservation {
            funded,
            balances,
            treasury,
            fees,
            conserved: funded == balances + treasury + fees,
        },
        samples: market.metrics.samples(),
    })
}

/// Aborts a task when dropped, also when the market ends with an error.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Played = (
    u64,
    u64,
    BTreeMap<String, u64>,
    (Vec<Sample>, Vec<Tally>, Vec<Tally>),
);

/// The rounds, until `setup.allocations` allocations were created and closed.
async fn play(
    market: &Market,
    setup: &MarketSetup,
    allocator: &Allocator,
    mediator: &Mediator,
    customers: &[(usize, Customer)],
    suppliers: &[(usize, Supplier)],
) -> Result<Played, SimError> {
    let new_tally = || Tally {
        allocations: 0,
        off_ledger: 0.0,
    };
    let mut c_tally: Vec<Tally> = customers.iter().map(|_| new_tally()).collect();
    let mut s_tally: Vec<Tally> = suppliers.iter().map(|_| new_tally()).collect();
    let (mut created, mut void, mut round, mut empty) = (0u64, 0u64, 0u64, 0u32);
    let mut outcomes = BTreeMap::new();
    let mut series = Vec::new();
    let e = &setup.economy;
    // δ_alloc as the agents learn it: half the last round's length, at least the setup's.
    let mut timing = setup.timing;
    while created < setup.allocations {
        let lead = timing.alloc_ms + timing.setup_ms;
        let now = now_ms();
        // Offers expire at t_e = start − δ_setup − δ_alloc (A3): leave the allocator time.
        let start = now + lead + ROUND_SLACK_MS;
        let window = (start, start + e.window_ms);
        let active = (setup.allocations - created).min(customers.len() as u64) as usize;
        let first = (round as usize * active) % customers.len();
        let chosen: Vec<usize> = (0..active).map(|i| (first + i) % customers.len()).collect();
        let c_offers = chosen
            .iter()
            .map(|&i| customers[i].1.offer(market, window, round));
        let s_offers = suppliers
            .iter()
            .map(|(_, s)| s.offer(market, window, round));
        futures::try_join!(
            futures::future::try_join_all(c_offers),
            futures::future::try_join_all(s_offers)
        )?;
        let expected = chosen.len() + suppliers.len();
        let (drafts, void_offers) = allocator
            .plan(&market.params, expected, now, timing)
            .await?;
        void += void_offers.len() as u64;
        let by_account =
            |who: &agora_types::Address| customers.iter().position(|c| c.1.party.address() == *who);
        let mut plays = Vec::new();
        for draft in drafts {
            let ci = by_account(&draft.terms.customer)
                .ok_or_else(|| SimError::Unexpected("allocation to an unknown customer".into()))?;
            let c_round = c_tally[ci].allocations;
            let slots: Vec<(usize, u64)> = draft
                .suppliers
                .iter()
                .map(|(s, _)| {
                    let si = suppliers
                        .iter()
                        .position(|x| x.1.party.address() == *s)
                        .unwrap_or(usize::MAX);
                    (si, s_tally.get(si).map_or(0, |t| t.allocations))
                })
                .collect();
            // Each allocation is played as soon as it is written, so signing starts early.
            plays.push(async move {
                let Some(a) = allocator.write(market, &draft).await? else {
                    return Ok(None);
                };
                let customer = customers[ci].1.serve(market, a, &draft, c_round);
                let draft = &draft;
                let workers = slots.iter().enumerate().map(|(slot, (si, k))| async move {
                    let s = &suppliers
                        .get(*si)
                        .ok_or_else(|| SimError::Unexpected("unknown supplier".into()))?
                        .1;
                    s.serve(market, a, draft, slot as u32, *k).await
                });
                let (served, worked, _) = futures::try_join!(
                    customer,
                    futures::future::try_join_all(workers),
                    mediator.serve(market, a, draft)
                )?;
                let closed = market.watcher.closed(a).await?;
                Ok::<_, SimError>(Some((ci, slots, served, worked, closed.allocation.outcome)))
            });
        }
        let results = futures::future::try_join_all(plays).await?;
        timing.alloc_ms = setup.timing.alloc_ms.max(now_ms().saturating_sub(now) / 2);
        let mut ran = 0;
        for (ci, slots, served, worked, outcome) in results.into_iter().flatten() {
            let name = outcome.map_or("open".to_string(), |o| outcome_name(o).to_string());
            *outcomes.entry(name).or_insert(0) += 1;
            if outcome == Some(Outcome::Cancelled) {
                continue;
            }
            ran += 1;
            let c = &mut c_tally[ci];
            c.allocations += 1;
            c.off_ledger += e.benefit * served.outputs as f64 - e.test_cost * served.tests as f64;
            for ((si, _), w) in slots.iter().zip(worked) {
                if let Some(t) = s_tally.get_mut(*si) {
                    t.allocations += 1;
                    t.off_ledger -= e.electricity * w.processed as f64;
                }
            }
        }
        tracing::info!(
            market = market.id,
            round,
            ran,
            in_ms = now_ms() - now,
            "round played"
        );
        if ran == 0 {
            empty += 1;
            if empty == MAX_EMPTY_ROUNDS {
                return Err(SimError::Unexpected(format!(
                    "{empty} rounds in a row ran no allocation"
                )));
            }
        } else {
            empty = 0;
        }
        created += ran;
        round += 1;
        series.push(sample(setup, customers, suppliers, &c_tally, &s_tally, created).await?);
    }
    Ok((created, void, outcomes, (series, c_tally, s_tally)))
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Completed => "completed",
        Outcome::Mediated => "mediated",
        Outcome::CustomerTimedOut => "customer_timed_out",
        Outcome::SupplierTimedOut => "supplier_timed_out",
        Outcome::MediatorTimedOut => "mediator_timed_out",
        Outcome::Cancelled => "cancelled",
    }
}

/// Mean utility per group member now (everything of the round closed, so no hold distorts a
/// balance).
async fn sample(
    setup: &MarketSetup,
    customers: &[(usize, Customer)],
    suppliers: &[(usize, Supplier)],
    c_tally: &[Tally],
    s_tally: &[Tally],
    allocations: u64,
) -> Result<Sample, SimError> {
    let mut c_means = vec![0.0; setup.customer_groups.len()];
    for ((g, c), t) in customers.iter().zip(c_tally) {
        let b = c.party.client().balance(&c.party.address()).await?;
        c_means[*g] += (b as f64 - FUNDING as f64 + t.off_ledger) / setup.group_size as f64;
    }
    let mut s_means = vec![0.0; setup.supplier_groups.len()];
    for ((g, s), t) in suppliers.iter().zip(s_tally) {
        let b = s.party.client().balance(&s.party.address()).await?;
        s_means[*g] += (b as f64 - FUNDING as f64 + t.off_ledger) / setup.group_size as f64;
    }
    Ok(Sample {
        allocations,
        suppliers: s_means,
        customers: c_means,
    })
}
