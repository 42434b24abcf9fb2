//! The node's Prometheus metrics, served at `GET /metrics` with Commonware's own (consensus,
//! p2p, storage, runtime) in one text.
//!
//! Counters come from what the node sees happen (applied blocks, their receipts and events,
//! RPC calls), so they restart at zero with the process as Prometheus expects; gauges of the
//! chain and the mempool are read when scraped. Label values are bounded: modules and RPC
//! methods outside the node's own lists count as `other`, and failure reasons are the
//! modules' fixed reason codes.

use agora_ledger::AppliedBlock;
use agora_types::TxStatus;
use jsonrpsee::{
    core::{
        middleware::{Batch, BatchEntry, Notification, RpcServiceT},
        server::BatchResponseBuilder,
    },
    types::Request,
    MethodResponse,
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::{
    collections::BTreeSet,
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

/// The label of a module or RPC method outside the node's own lists.
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleLabel {
    module: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    module: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MarketLabels {
    module: String,
    market: String,
}

/// The open offers of one market when scraped.
#[derive(Clone, Debug)]
pub struct OpenOffers {
    pub module: &'static str,
    pub market: u64,
    pub count: u64,
}

/// What the chain and the mempool look like when scraped.
#[derive(Clone, Copy, Debug)]
pub struct ChainGauges {
    pub executed_height: u64,
    pub finalized_height: u64,
    pub mempool_txs: usize,
    pub mempool_bytes: usize,
    pub mempool_gapped: usize,
}

/// Encodes the metrics Commonware's runtime keeps (its context's `encode`).
type RuntimeEncoder = Box<dyn Fn() -> String + Send + Sync>;

/// Every metric of the node; shared by the executor side and the RPC server.
pub struct NodeMetrics {
    registry: Registry,
    runtime: OnceLock<RuntimeEncoder>,
    modules: BTreeSet<String>,
    executed_height: Gauge,
    finalized_height: Gauge,
    caught_up: Gauge,
    mempool_txs: Gauge,
    mempool_bytes: Gauge,
    mempool_gapped: Gauge,
    blocks: Counter,
    transactions: Counter,
    execution: Histogram,
    module_calls: Family<ModuleLabel, Counter>,
    module_failures: Family<FailureLabels, Counter>,
    rpc_requests: Family<MethodLabel, Counter>,
    rpc_errors: Family<MethodLabel, Counter>,
    energy_offers: Counter,
    energy_solutions: Counter,
    energy_intervals: Counter,
    energy_traded_wh: Counter,
    open_offers: Family<MarketLabels, Gauge>,
}

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMetrics").finish_non_exhaustive()
    }
}

impl NodeMetrics {
    /// Metrics of a node running `modules`.
    pub fn new<'a>(modules: impl IntoIterator<Item = &'a str>) -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("agora"),
            runtime: OnceLock::new(),
            modules: modules.into_iter().map(str::to_string).collect(),
            executed_height: Gauge::default(),
            finalized_height: Gauge::default(),
            caught_up: Gauge::default(),
            mempool_txs: Gauge::default(),
            mempool_bytes: Gauge::default(),
            mempool_gapped: Gauge::default(),
            blocks: Counter::default(),
            transactions: Counter::default(),
            // 1 ms to about 33 s: an empty block to the largest staged solution.
            execution: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 16,
            )),
            module_calls: Family::default(),
            module_failures: Family::default(),
            rpc_requests: Family::default(),
            rpc_errors: Family::default(),
            energy_offers: Counter::default(),
            energy_solutions: Counter::default(),
            energy_intervals: Counter::default(),
            energy_traded_wh: Counter::default(),
            open_offers: Family::default(),
        };
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "executed_height",
            "Last block this node executed (the height `agora status` reports)",
            self.executed_height.clone(),
        );
        r.register(
            "finalized_height",
            "Highest finalized block this node knows of",
            self.finalized_height.clone(),
        );
        r.register(
            "caught_up",
            "1 when the executed height equals the finalized height (what /ready reports)",
            self.caught_up.clone(),
        );
        r.register(
            "mempool_txs",
            "Transactions waiting in the mempool",
            self.mempool_txs.clone(),
        );
        r.register(
            "mempool_bytes",
            "Bytes of the transactions waiting in the mempool",
            self.mempool_bytes.clone(),
        );
        r.register(
            "mempool_gapped_txs",
            "Mempool transactions waiting for an earlier nonce",
            self.mempool_gapped.clone(),
        );
        r.register(
            "blocks_executed",
            "Blocks executed since the node started",
            self.blocks.clone(),
        );
        r.register(
            "transactions_executed",
            "Transactions executed since the node started",
            self.transactions.clone(),
        );
        r.register(
            "block_execution_seconds",
            "Time to execute and commit one finalized block",
            self.execution.clone(),
        );
        r.register(
            "module_calls",
            "Executed transactions by module",
            self.module_calls.clone(),
        );
        r.register(
            "module_failures",
            "Failed transactions by module and reason code",
            self.module_failures.clone(),
        );
        r.register(
            "rpc_requests",
            "JSON-RPC calls by method (each call of a batch counts)",
            self.rpc_requests.clone(),
        );
        r.register(
            "rpc_errors",
            "JSON-RPC calls answered with an error, by method (calls inside batches too)",
            self.rpc_errors.clone(),
        );
        r.register(
            "energy_offers_posted",
            "Energy offers posted",
            self.energy_offers.clone(),
        );
        r.register(
            "energy_solutions_accepted",
            "Energy market solutions accepted as the new candidate",
            self.energy_solutions.clone(),
        );
        r.register(
            "energy_intervals_finalized",
            "Energy market intervals finalized",
            self.energy_intervals.clone(),
        );
        r.register(
            "energy_traded_wh",
            "Energy traded in finalized intervals, in Wh",
            self.energy_traded_wh.clone(),
        );
        r.register(
            "open_offers",
            "Open offers per market (stream: open allocations), read when scraped",
            self.open_offers.clone(),
        );
    }

    /// Adds the metrics of Commonware's runtime (`context.encode()`) to what `/metrics` serves.
    /// Only the first runtime attached counts (a node has one).
    pub fn attach_runtime(&self, runtime: impl commonware_runtime::Metrics) {
        let _ = self.runtime.set(Box::new(move || runtime.encode()));
    }

    fn label(known: &BTreeSet<String>, name: &str) -> String {
        if known.contains(name) {
            name.to_string()
        } else {
            OTHER.to_string()
        }
    }

    /// Counts an executed block: its execution time, its receipts and its market events.
    pub fn on_block(&self, applied: &AppliedBlock, took: Duration) {
        self.blocks.inc();
        self.execution.observe(took.as_secs_f64());
        for receipt in &applied.receipts {
            self.transactions.inc();
            let module = Self::label(&self.modules, &receipt.module);
            if receipt.status == TxStatus::Failed {
                self.module_failures
                    .get_or_create(&FailureLabels {
                        module: module.clone(),
                        reason: receipt.reason.clone().unwrap_or_else(|| OTHER.into()),
                    })
                    .inc();
            }
            self.module_calls
                .get_or_create(&ModuleLabel { module })
                .inc();
            for event in receipt.events.iter().filter(|e| e.module == "energy") {
                match event.name.as_str() {
                    "OfferPosted" => {
                        self.energy_offers.inc();
                    }
                    "SolutionAccepted" => {
                        self.energy_solutions.inc();
                    }
                    "Finalized" => {
                        self.energy_intervals.inc();
                        let wh = event.data["energy"].as_u64().unwrap_or(0);
                        self.energy_traded_wh.inc_by(wh);
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_rpc(&self, known: &BTreeSet<String>, method: &str, failed: bool) {
        let label = MethodLabel {
            method: Self::label(known, method),
        };
        self.rpc_requests.get_or_create(&label).inc();
        if failed {
            self.rpc_errors.get_or_create(&label).inc();
        }
    }

    /// The Prometheus text of every metric, with the chain's gauges set to `chain` and the
    /// markets' to `open`.
    pub fn encode(&self, chain: ChainGauges, open: &[OpenOffers]) -> String {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for o in open {
            let labels = MarketLabels {
                module: o.module.to_string(),
                market: o.market.to_string(),
            };
            self.open_offers.get_or_create(&labels).set(gauge(o.count));
        }
        self.executed_height.set(gauge(chain.executed_height));
        self.finalized_height.set(gauge(chain.finalized_height));
        self.caught_up
            .set(i64::from(chain.executed_height >= chain.finalized_height));
        self.mempool_txs.set(gauge(chain.mempool_txs as u64));
        self.mempool_bytes.set(gauge(chain.mempool_bytes as u64));
        self.mempool_gapped.set(gauge(chain.mempool_gapped as u64));
        let mut text = self
            .runtime
            .get()
            .map(|encode| {
                let runtime = encode();
                // One text, one end marker: ours.
                runtime
                    .strip_suffix("# EOF\n")
                    .unwrap_or(&runtime)
                    .to_string()
            })
            .unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The JSON-RPC middleware that counts calls and errors by method.
#[derive(Clone)]
pub struct Counted<S> {
    pub service: S,
    pub metrics: Arc<NodeMetrics>,
    /// The server's methods; any other name a client sends counts as `other`.
    pub known: Arc<BTreeSet<String>>,
    /// The largest answer the server sends, batches included.
    pub max_response_bytes: usize,
}

impl<S> RpcServiceT for Counted<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let (service, metrics, known) = (
            self.service.clone(),
            self.metrics.clone(),
            self.known.clone(),
        );
        async move {
            let method = request.method_name().to_string();
            let response = service.call(request).await;
            metrics.on_rpc(&known, &method, response.is_error());
            response
        }
    }

    /// Answers each call of the batch through [`Self::call`], so that its errors count like a
    /// single call's; entries that are not valid requests count as errors of `other`. Builds
    /// the batch's answer as jsonrpsee's own service does.
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let mut responses = BatchResponseBuilder::new_with_limit(this.max_response_bytes);
            let mut notified = false;
            for entry in batch {
                let response = match entry {
                    Ok(BatchEntry::Call(request)) => this.call(request).await,
                    Ok(BatchEntry::Notification(n)) => {
                        notified = true;
                        this.service.notification(n).await;
                        continue;
                    }
                    Err(e) => {
                        this.metrics.on_rpc(&this.known, OTHER, true);
                        let (error, id) = e.into_parts();
                        MethodResponse::error(id, error)
                    }
                };
                if let Err(too_large) = responses.append(response) {
                    return too_large;
                }
            }
            if responses.is_empty() && notified {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(responses.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.notification(n)
    }
}
