//! The end-to-end latency experiment (seed §4.7.3, Fig. 4.7; spec 7.3) on the ledger: one
//! market's agents play allocations over the channels of a [`Network`] (embedded or NATS)
//! and time three spans, each defined as the seed's figure does:
//!
//! - `input_to_output_ms` (Fig. 4.7b, "Customer-1 to Customer-6"): the customer publishes an
//!   input on its input channel → it receives the first replica's output for it on an output
//!   channel. Like the seed's, it includes the service's compute time, reported beside it as
//!   `service_ms` (one message's run on the supplier) so the channels' overhead is the gap.
//! - `offer_to_allocation_ms` (Fig. 4.7a, "Supplier-1 to Supplier-3"): a supplier publishes
//!   its offer → the ledger's receipt of the call that completes the allocation holding it
//!   (the last `AddSupplier`): the allocation exists on the ledger, not just on a channel.
//! - `mediation_ms` (Fig. 4.7c, "Mediator-10 to Mediator-11"): the mediator reads the request
//!   (`MediationRequested`, on the ledger) → it writes its verdict (the node accepted its
//!   `PostMediation`): reading the customer's test seqs, fetching those inputs, re-running them.
//!
//! `messages` counts what the agents stored on the bus (offers, inputs, outputs, answers).
//! The population is the seed's shape scaled to a debug run: customers that verify, suppliers
//! of which one group skips work in half its allocations (so some allocations are mediated),
//! r = 2 replicas, one input per message.

use super::allocator::Timing;
use super::bus::Network;
use super::harness::{run_market, MarketSetup};
use super::ledger::{Inclusions, Party};
use super::metrics::Quantiles;
use super::service::Service;
use super::strategies;
use crate::energy::SimError;
use agora_client::Client;
use agora_stream::StreamParams;
use agora_types::Keypair;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Customers, and suppliers per group (the honest one and the half-lazy one).
const GROUP_SIZE: usize = 3;
/// One allocation's window in ledger ms: λ is the frames per allocation over it.
const WINDOW_MS: u64 = 1_000;
/// ρ: n = ⌈N/ρ⌉ tests; at 100 an allocation may carry up to 9 999 frames (n < ρ).
const PENALTY_RATE: u64 = 100;
/// δ_alloc and δ_setup: a round's window opens this long after its offers, time enough for
/// a debug node to write and sign a few allocations.
const TIMING: Timing = Timing {
    alloc_ms: 3_000,
    setup_ms: 200,
};

#[derive(Clone, Debug)]
pub struct LatencySetup {
    /// Allocations to play.
    pub allocations: u64,
    /// Inputs per allocation, one message each.
    pub frames: u64,
    /// Keys and which allocations the lazy group skips.
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencyReport {
    pub bus: &'static str,
    pub allocations: u64,
    pub frames: u64,
    pub input_to_output_ms: Quantiles,
    pub offer_to_allocation_ms: Quantiles,
    pub mediation_ms: Quantiles,
    /// The supplier's compute time per input message, part of `input_to_output_ms`.
    pub service_ms: Quantiles,
    pub messages: u64,
    pub outcomes: BTreeMap<String, u64>,
    /// funded = balances + treasury + fees burned.
    pub conserved: bool,
}

fn market(setup: &LatencySetup) -> MarketSetup {
    let economy = super::Economy {
        rate_milli: setup.frames * 1_000_000 / WINDOW_MS,
        replicas: 2,
        window_ms: WINDOW_MS,
        ..strategies::economy()
    };
    let params = StreamParams {
        penalty_rate: PENALTY_RATE,
        ..strategies::params()
    };
    MarketSetup {
        label: "fig4.7".into(),
        supplier_groups: vec![1.0, 0.5],
        customer_groups: vec![1.0],
        group_size: GROUP_SIZE,
        allocations: setup.allocations,
        seed: setup.seed,
        economy,
        params,
        timing: TIMING,
        speculative: false,
        batches: setup.frames,
    }
}

/// Plays `setup` on the chain behind `client` (funded by `faucet`) with the agents' channels
/// on `network`.
pub async fn run_latency(
    client: &Client,
    faucet: &Keypair,
    network: &Network,
    setup: &LatencySetup,
    service: Arc<Service>,
) -> Result<LatencyReport, SimError> {
    let inclusions = Inclusions::start(client).await?;
    let faucet = Party::new(client.clone(), inclusions, faucet.clone());
    let result = run_market(client, &faucet, network, &market(setup), service).await?;
    let s = &result.samples;
    Ok(LatencyReport {
        bus: network.name(),
        allocations: result.created,
        frames: setup.frames,
        input_to_output_ms: Quantiles::of(&s.input_to_output),
        offer_to_allocation_ms: Quantiles::of(&s.offer_to_allocation),
        mediation_ms: Quantiles::of(&s.mediation),
        service_ms: Quantiles::of(&s.service),
        messages: network.messages(),
        outcomes: result.outcomes,
        conserved: result.conservation.conserved,
    })
}

impl LatencyReport {
    /// The text `agora sim stream latency` prints.
    pub fn text(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let mut s = format!(
            "{} allocations of {} inputs on the {} bus; ms, p50 / p99 (samples)\n",
            self.allocations, self.frames, self.bus
        );
        for (name, q, seed) in [
            (
                "input_to_output_ms",
                &self.input_to_output_ms,
                "29 ms on Pulsar",
            ),
            ("  of which service_ms", &self.service_ms, ""),
            (
                "offer_to_allocation_ms",
                &self.offer_to_allocation_ms,
                "380 ms",
            ),
            ("mediation_ms", &self.mediation_ms, "33 ms"),
        ] {
            let seed = if seed.is_empty() {
                String::new()
            } else {
                format!("  (seed: {seed})")
            };
            s += &format!(
                "  {name:<24} {:>9} / {:>9} ({}){seed}\n",
                ms(q.p50),
                ms(q.p99),
                q.samples
            );
        }
        s += &format!(
            "messages {}; outcomes {:?}; tokens conserved: {}",
            self.messages, self.outcomes, self.conserved
        );
        s
    }
}
