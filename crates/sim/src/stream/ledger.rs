//! What every stream agent does with the chain: send its calls one nonce at a time while
//! keeping count of its fees, and watch its allocations through the market's `open` query.

use crate::energy::SimError;
use agora_bank::BankCall;
use agora_client::Client;
use agora_stream::{AllocId, Allocation, Hash, MarketId, State, StreamCall, NAME};
use agora_types::{Address, Call, Keypair, Receipt, Transaction, TxHash, TxStatus};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch, Mutex};

/// How long an agent waits for its transaction's receipt.
const RECEIPT_WAIT: Duration = Duration::from_secs(60);
/// How often the watcher reads the market's open allocations.
const WATCH_PERIOD: Duration = Duration::from_millis(150);

/// Waits for transactions through one block subscription instead of polling a receipt per
/// transaction: hundreds of agents each polling every few ms would load a node more than
/// their transactions do.
#[derive(Clone)]
pub struct Inclusions {
    waiting: Arc<StdMutex<HashMap<TxHash, oneshot::Sender<()>>>>,
    /// The newest block's timestamp: the ledger clock time-guarded calls are checked against.
    clock: Arc<AtomicU64>,
}

impl Inclusions {
    /// Subscribes to the node's blocks; the task ends when the subscription does.
    pub async fn start(client: &Client) -> Result<Self, SimError> {
        let mut blocks = client.subscribe_blocks().await?;
        let waiting: Arc<StdMutex<HashMap<TxHash, oneshot::Sender<()>>>> = Arc::default();
        let notify = waiting.clone();
        let clock: Arc<AtomicU64> = Arc::default();
        let ticks = clock.clone();
        tokio::spawn(async move {
            while let Some(Ok(block)) = blocks.next().await {
                ticks.fetch_max(block.timestamp, Ordering::Relaxed);
                let mut waiting = notify.lock().unwrap_or_else(|e| e.into_inner());
                for tx in &block.txs {
                    if let Some(done) = waiting.remove(&tx.hash) {
                        let _ = done.send(());
                    }
                }
            }
        });
        Ok(Self { waiting, clock })
    }

    /// Waits until a block stamped at `ms` or later was seen.
    pub async fn reach(&self, ms: u64) {
        while self.clock.load(Ordering::Relaxed) < ms {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn register(&self, hash: TxHash) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, tx);
        rx
    }
}

/// An account acting on the chain: its calls are sent one at a time, each with the next nonce
/// (counted here, read from the node only at first and after a refusal), while their receipts
/// are awaited concurrently.
pub struct Party {
    pub key: Keypair,
    client: Client,
    inclusions: Inclusions,
    /// The chain id and the next nonce, once known.
    sending: Mutex<Option<(String, u64)>>,
    fees: AtomicU64,
}

impl Party {
    pub fn new(client: Client, inclusions: Inclusions, key: Keypair) -> Self {
        Self {
            key,
            client,
            inclusions,
            sending: Mutex::new(None),
            fees: AtomicU64::new(0),
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn inclusions(&self) -> &Inclusions {
        &self.inclusions
    }

    /// Fees this account paid so far (burned by the ledger, part of its balance delta).
    pub fn fees(&self) -> u64 {
        self.fees.load(Ordering::Relaxed)
    }

    /// Sends `call` and waits for its receipt; a refusal is `Err(reason)`, not an error.
    pub async fn try_call(&self, call: StreamCall) -> Result<Result<Receipt, String>, SimError> {
        Ok(self.execute(call.into_call()).await?.1)
    }

    /// Transfers `amount` to `to` (the faucet funding agents).
    pub async fn transfer(&self, to: Address, amount: u64) -> Result<Receipt, SimError> {
        self.execute(BankCall::Transfer { to, amount }.into_call())
            .await?
            .1
            .map_err(|reason| SimError::Failed {
                what: "transfer".into(),
                reason,
            })
    }

    /// Submits `call` and waits for its receipt; also says when the node accepted it.
    async fn execute(&self, call: Call) -> Result<(Instant, Result<Receipt, String>), SimError> {
        let tx = {
            let mut next = self.sending.lock().await;
            let (chain_id, nonce) = match next.take() {
                Some(known) => known,
                None => (
                    self.client.status().await?.chain_id,
                    self.client.next_nonce(&self.address()).await?,
                ),
            };
            let tx = Transaction {
                chain_id: chain_id.clone(),
                sender: self.address(),
                nonce,
                call,
            }
            .sign(&self.key);
            let included = self.inclusions.register(tx.hash());
            // On a refused submission the nonce is read again next time.
            self.client.submit(&tx).await?;
            *next = Some((chain_id, nonce + 1));
            (tx, included, Instant::now())
        };
        let (tx, included, submitted) = tx;
        // A block the subscription missed leaves the wait to polling.
        let _ = tokio::time::timeout(RECEIPT_WAIT, included).await;
        let receipt = self
            .client
            .wait_for_receipt(&tx.hash(), RECEIPT_WAIT)
            .await?;
        self.fees.fetch_add(receipt.fee, Ordering::Relaxed);
        let outcome = match receipt.status {
            TxStatus::Success => Ok(receipt),
            _ => Err(receipt.reason.clone().unwrap_or_default()),
        };
        Ok((submitted, outcome))
    }

    /// Sends `call`; a refusal is an error naming `what`.
    pub async fn call(&self, what: &str, call: StreamCall) -> Result<Receipt, SimError> {
        Ok(self.call_timed(what, call).await?.1)
    }

    /// [`Self::call`], also saying when the node accepted the transaction (the moment the
    /// caller wrote it, as a latency measurement counts it).
    pub async fn call_timed(
        &self,
        what: &str,
        call: StreamCall,
    ) -> Result<(Instant, Receipt), SimError> {
        let (submitted, outcome) = self.execute(call.into_call()).await?;
        let receipt = outcome.map_err(|reason| SimError::Failed {
            what: what.into(),
            reason,
        })?;
        Ok((submitted, receipt))
    }

    /// Signs an allocation: `false` if it can no longer be signed (signing timed out and it
    /// was cancelled, or the deadline passed), which leaves the signer nothing to do.
    pub async fn sign(&self, what: &str, call: StreamCall) -> Result<bool, SimError> {
        match self.try_call(call).await? {
            Ok(_) => Ok(true),
            Err(reason) if reason == "too_late" || reason == "wrong_state" => {
                tracing::info!(%reason, "{what}: the allocation can no longer be signed");
                Ok(false)
            }
            Err(reason) => Err(SimError::Failed {
                what: what.into(),
                reason,
            }),
        }
    }

    /// Sends a time-guarded call once the ledger clock reached `due_ms`, again on `not_due`;
    /// `false` if it came too late (a time-out closed the allocation first).
    pub async fn call_when_due(
        &self,
        what: &str,
        due_ms: u64,
        call: StreamCall,
    ) -> Result<bool, SimError> {
        self.inclusions.reach(due_ms).await;
        loop {
            match self.try_call(call.clone()).await? {
                Ok(_) => return Ok(true),
                Err(reason) if reason == "not_due" => {
                    tokio::time::sleep(WATCH_PERIOD).await;
                }
                Err(reason) if reason == "too_late" || reason == "wrong_state" => {
                    tracing::info!(%reason, "{what}: too late");
                    return Ok(false);
                }
                Err(reason) => {
                    return Err(SimError::Failed {
                        what: what.into(),
                        reason,
                    })
                }
            }
        }
    }
}

/// An allocation as the module's `allocation` and `open` queries return it (the fields the
/// agents use).
#[derive(Clone, Debug, Deserialize)]
pub struct View {
    pub allocation: Allocation,
    pub sign_deadline_ms: u64,
}

fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, SimError> {
    serde_json::from_value(value).map_err(|e| SimError::Unexpected(e.to_string()))
}

/// One allocation's current view.
pub async fn allocation(client: &Client, m: MarketId, a: AllocId) -> Result<View, SimError> {
    decode(
        client
            .query(
                NAME,
                "allocation",
                serde_json::json!({"market": m, "allocation": a}),
            )
            .await?,
    )
}

/// The checklist α revealed on the ledger for allocation `a`, sorted.
pub async fn checklist(client: &Client, m: MarketId, a: AllocId) -> Result<Vec<Hash>, SimError> {
    let hexes: Vec<String> = decode(
        client
            .query(
                NAME,
                "checklist",
                serde_json::json!({"market": m, "allocation": a}),
            )
            .await?,
    )?;
    let mut hashes = hexes
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .map_err(|e| SimError::Unexpected(format!("checklist hash {h}: {e}")))?;
            Ok(out)
        })
        .collect::<Result<Vec<Hash>, SimError>>()?;
    hashes.sort_unstable();
    Ok(hashes)
}

/// Reads the market's open allocations every few ms and shares them with the agents, so that
/// a hundred agents waiting for a phase cost one query, not a hundred.
#[derive(Clone)]
pub struct Watcher {
    client: Client,
    market: MarketId,
    open: watch::Receiver<BTreeMap<AllocId, View>>,
}

impl Watcher {
    /// Starts watching market `m`; the task ends when every [`Watcher`] is dropped.
    pub fn start(client: Client, m: MarketId) -> Self {
        let (tx, rx) = watch::channel(BTreeMap::new());
        let reader = client.clone();
        tokio::spawn(async move {
            while !tx.is_closed() {
                match reader
                    .query(NAME, "open", serde_json::json!({"market": m}))
                    .await
                    .map_err(SimError::from)
                    .and_then(decode::<Vec<View>>)
                {
                    Ok(views) => {
                        let open = views.into_iter().map(|v| (v.allocation.id, v)).collect();
                        if tx.send(open).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(market = m, error = %e, "cannot read open allocations")
                    }
                }
                tokio::time::sleep(WATCH_PERIOD).await;
            }
        });
        Self {
            client,
            market: m,
            open: rx,
        }
    }

    /// The open allocations as last read.
    pub fn open(&self) -> BTreeMap<AllocId, View> {
        self.open.borrow().clone()
    }

    /// Waits until allocation `a` satisfies `ready` or closes; returns its view then.
    pub async fn until(&self, a: AllocId, ready: impl Fn(&View) -> bool) -> Result<View, SimError> {
        let mut rx = self.open.clone();
        loop {
            let seen = rx.borrow_and_update().get(&a).cloned();
            match seen {
                Some(v) if ready(&v) => return Ok(v),
                Some(_) => {}
                None => {
                    // Not open: closed, or created after the last read.
                    let v = allocation(&self.client, self.market, a).await?;
                    if v.allocation.state == State::Closed || ready(&v) {
                        return Ok(v);
                    }
                }
            }
            rx.changed()
                .await
                .map_err(|_| SimError::Unexpected("the watcher stopped".into()))?;
        }
    }

    /// Waits until allocation `a` is closed.
    pub async fn closed(&self, a: AllocId) -> Result<View, SimError> {
        self.until(a, |v| v.allocation.state == State::Closed).await
    }
}
