//! Sending a solution to the ledger: one transaction, or a staged solution's parts pipelined
//! (spec 7.3; seed `createSolution`/`addAssignment`, section 6.4.3).
//!
//! A solution too large for one transaction goes as the market's own staging calls, sent by
//! one account in nonce order with up to `window` of them awaiting execution: the parts of a
//! large solution are executed in consecutive blocks instead of one round trip each. The first
//! refused call stops the sending; calls already in flight still execute (the ledger checks
//! each on its own, so they cannot make an infeasible solution). When a market names a staged
//! solution only once it exists (allocation's `CreateSolution`), that call goes first and alone,
//! and the parts are built from the id its receipt carries.

use crate::energy::SimError;
use agora_client::Client;
use agora_types::{Call, Keypair, Receipt, SignedTransaction, Transaction, TxStatus};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// Transactions of one solution awaiting execution at once: well below the 16 a node keeps of
/// one sender behind a nonce gap, so that even requests reordered on the way are all kept, and
/// few enough that little still executes after a refused part.
pub const IN_FLIGHT: usize = 8;

/// How long a call may take from submission to its receipt.
const RECEIPT_WAIT: Duration = Duration::from_secs(120);

/// Reason recorded when every call of a staged solution executed but none made it the
/// candidate (it ranked at or below the candidate when complete).
pub const NOT_CANDIDATE: &str = "solution_not_better";

/// A staged solution's parts, built from the id the ledger gave it.
pub type Parts = Box<dyn FnOnce(u64) -> Vec<Call> + Send>;

/// How a solution reaches the ledger, as the market's own calls.
pub enum Plan {
    /// Calls sent in this order by one account: a whole solution, or a staged one whose parts
    /// name their slot themselves (energy: `StageSolution` parts, then `PostStagedSolution`).
    Calls(Vec<Call>),
    /// A staged solution the ledger names when it creates it (allocation): `create` is sent
    /// alone, `id` reads the new solution's id from its receipt, and `parts(id)` fill it in
    /// order.
    Create {
        create: Call,
        id: fn(&Receipt) -> Option<u64>,
        parts: Parts,
    },
}

impl Plan {
    /// More than one transaction.
    pub fn staged(&self) -> bool {
        match self {
            Self::Calls(calls) => calls.len() > 1,
            Self::Create { .. } => true,
        }
    }
}

/// The first call the ledger did not execute successfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Its position among the solution's calls (0: the first).
    pub index: usize,
    /// The ledger's reason code, or why the call never executed or could not be followed
    /// (`unsendable`, `no_receipt`, `no_solution_id`).
    pub reason: String,
}

/// What the ledger did with a solution's calls.
#[derive(Debug)]
pub struct Verdict {
    /// Receipts of the calls sent, in order, up to the first that did not come.
    pub receipts: Vec<Receipt>,
    /// Transactions the node took, and their signed bytes.
    pub sent: usize,
    pub bytes: usize,
    /// Calls never sent because an earlier one was refused.
    pub unsent: usize,
    pub refused: Option<Refusal>,
    /// From the first submission to the last receipt (ms).
    pub submit_ms: f64,
}

impl Verdict {
    /// The ledger made the solution the candidate: every call executed successfully and one of
    /// them says so (the `SolutionAccepted` event every hybrid market emits).
    pub fn accepted(&self, module: &str) -> bool {
        self.refused.is_none()
            && self
                .receipts
                .iter()
                .flat_map(|r| &r.events)
                .any(|e| e.module == module && e.name == "SolutionAccepted")
    }

    /// Why the solution is not the candidate (none: it is).
    pub fn reason(&self, module: &str) -> Option<String> {
        match &self.refused {
            Some(r) => Some(r.reason.clone()),
            None if self.accepted(module) => None,
            None => Some(NOT_CANDIDATE.to_string()),
        }
    }

    /// The block of the last receipt (0 without one).
    pub fn height(&self) -> u64 {
        self.receipts.last().map_or(0, |r| r.height)
    }
}

/// A solution's calls on their way to the ledger.
pub struct InFlight {
    client: Client,
    txs: Vec<SignedTransaction>,
    receipts: Vec<Receipt>,
    refused: Option<Refusal>,
    unsent: usize,
    started: Instant,
    finished: Option<Instant>,
}

impl InFlight {
    /// Waits for the receipt of the oldest call without one; false once one is refused.
    async fn settle_one(&mut self) -> bool {
        if self.refused.is_some() {
            return false;
        }
        let index = self.receipts.len();
        let Some(tx) = self.txs.get(index) else {
            return true;
        };
        let receipt = self.client.wait_for_receipt(&tx.hash(), RECEIPT_WAIT).await;
        self.finished = Some(Instant::now());
        let reason = match receipt {
            Ok(r) if r.status == TxStatus::Success => {
                self.receipts.push(r);
                return true;
            }
            Ok(r) => {
                let reason = r.reason.clone().unwrap_or_default();
                self.receipts.push(r);
                reason
            }
            Err(e) => {
                warn!(%e, index, "a solution's call got no receipt");
                "no_receipt".to_string()
            }
        };
        debug!(index, %reason, "a solution's call was refused");
        self.refused = Some(Refusal { index, reason });
        false
    }

    /// Waits for the ledger's verdict on every call sent.
    pub async fn verdict(mut self) -> Verdict {
        while self.receipts.len() < self.txs.len() && self.settle_one().await {}
        Verdict {
            sent: self.txs.len(),
            bytes: self.txs.iter().map(SignedTransaction::size).sum(),
            unsent: self.unsent,
            refused: self.refused,
            submit_ms: self
                .finished
                .map_or(0.0, |f| (f - self.started).as_secs_f64() * 1e3),
            receipts: self.receipts,
        }
    }
}

/// Signs and submits calls of one account in nonce order.
struct Signer<'a> {
    client: &'a Client,
    key: &'a Keypair,
    chain_id: String,
    nonce: u64,
}

impl Signer<'_> {
    async fn submit(&mut self, call: Call) -> Result<SignedTransaction, String> {
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            sender: self.key.address(),
            nonce: self.nonce,
            call,
        }
        .sign(self.key);
        self.client
            .submit(&tx)
            .await
            .map_err(|e| format!("unsendable: {e}"))?;
        self.nonce += 1;
        Ok(tx)
    }
}

/// Sends `plan` from `key`, at most `window` calls awaiting execution at once (at least 1),
/// and returns once every call is sent or one was refused; [`InFlight::verdict`] waits for the
/// rest; an error only if the node does not answer for the chain id or the nonce. Nothing else
/// may be sent from the account meanwhile: the nonces follow the node's next one (which counts
/// what waits in its pool).
pub async fn send(
    client: &Client,
    key: &Keypair,
    plan: Plan,
    window: usize,
) -> Result<InFlight, SimError> {
    let mut signer = Signer {
        client,
        key,
        chain_id: client.status().await?.chain_id,
        nonce: client.next_nonce(&key.address()).await?,
    };
    let mut flight = InFlight {
        client: client.clone(),
        txs: Vec::new(),
        receipts: Vec::new(),
        refused: None,
        unsent: 0,
        started: Instant::now(),
        finished: None,
    };
    let calls = match plan {
        Plan::Calls(calls) => calls,
        Plan::Create { create, id, parts } => {
            if !push(&mut flight, &mut signer, create).await || !flight.settle_one().await {
                return Ok(flight);
            }
            match flight.receipts.last().and_then(id) {
                Some(id) => parts(id),
                None => {
                    warn!("the staged solution's creation names no solution");
                    flight.refused = Some(Refusal {
                        index: 0,
                        reason: "no_solution_id".into(),
                    });
                    return Ok(flight);
                }
            }
        }
    };
    let total = calls.len();
    for (i, call) in calls.into_iter().enumerate() {
        while flight.txs.len() - flight.receipts.len() >= window.max(1) {
            if !flight.settle_one().await {
                flight.unsent = total - i;
                return Ok(flight);
            }
        }
        if !push(&mut flight, &mut signer, call).await {
            flight.unsent = total - i - 1;
            return Ok(flight);
        }
    }
    Ok(flight)
}

/// Submits `call` as the next of `flight`; false (recorded as its refusal) if the node did
/// not take it.
async fn push(flight: &mut InFlight, signer: &mut Signer<'_>, call: Call) -> bool {
    match signer.submit(call).await {
        Ok(tx) => {
            flight.txs.push(tx);
            true
        }
        Err(reason) => {
            warn!(%reason, index = flight.txs.len(), "the node did not take a solution's call");
            // Earlier calls are judged first: the refusal is this one's only if none was.
            while flight.receipts.len() < flight.txs.len() && flight.settle_one().await {}
            if flight.refused.is_none() {
                flight.refused = Some(Refusal {
                    index: flight.txs.len(),
                    reason: "unsendable".into(),
                });
            }
            false
        }
    }
}
