//! The agents' channels (spec §5): a [`Network`] hands every agent a [`Bus`] handle for its own
//! key, on the embedded broker or on a NATS server it starts, and counts the messages they
//! publish; the messages the agents exchange; and [`AllocationBus`], the customer's channels of
//! one allocation, opened and closed as the ledger's record of the allocation says.

use super::allocator::{CustomerOffer, SupplierOffer};
use crate::energy::SimError;
use agora_channels::catalogue::{self, AllocationChannels, Role};
use agora_channels::embedded::EmbeddedBroker;
use agora_channels::nats::{NatsAuthority, NatsBus};
use agora_channels::{
    Access, Bus, BusError, ChannelSpec, Envelope, Filter, Published, Start, Subject, Subscription,
};
use agora_stream::{Allocation, MarketId, State};
use agora_types::{Address, Keypair};
use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a reader tries again a channel its owner has not opened to it yet.
const RETRY: Duration = Duration::from_millis(10);

enum Backend {
    Embedded(EmbeddedBroker),
    Nats {
        authority: Arc<NatsAuthority>,
        /// The server's configuration, log and store; removed when the network is dropped.
        _dir: tempfile::TempDir,
    },
}

/// Where one run's channels live.
pub struct Network {
    backend: Backend,
    messages: Arc<AtomicU64>,
}

impl Network {
    /// An in-process broker (the default).
    pub fn embedded() -> Self {
        Self {
            backend: Backend::Embedded(EmbeddedBroker::new()),
            messages: Arc::default(),
        }
    }

    /// A `nats-server` (the binary at `binary`, Debian's package by default) started in a
    /// temporary directory on free ports, stopped when the network is dropped.
    pub async fn nats(binary: Option<&Path>) -> Result<Self, BusError> {
        let dir = tempfile::tempdir()
            .map_err(|e| BusError::Backend(format!("temporary directory: {e}")))?;
        let binary = binary.unwrap_or(Path::new(agora_channels::nats::NATS_SERVER));
        let authority = NatsAuthority::start_with(dir.path(), binary).await?;
        Ok(Self {
            backend: Backend::Nats {
                authority: Arc::new(authority),
                _dir: dir,
            },
            messages: Arc::default(),
        })
    }

    /// `embedded` or `nats`.
    pub fn name(&self) -> &'static str {
        match self.backend {
            Backend::Embedded(_) => "embedded",
            Backend::Nats { .. } => "nats",
        }
    }

    /// A handle acting for `key` (on NATS: its account registered and logged in).
    pub async fn connect(&self, key: &Keypair) -> Result<Arc<dyn Bus>, BusError> {
        let inner: Box<dyn Bus> = match &self.backend {
            Backend::Embedded(broker) => Box::new(broker.connect(key.clone())),
            Backend::Nats { authority, .. } => {
                Box::new(NatsBus::connect(authority.clone(), key.clone()).await?)
            }
        };
        Ok(Arc::new(Counted {
            inner,
            messages: self.messages.clone(),
        }))
    }

    /// Messages stored so far by every handle of this network (retries not counted).
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }
}

/// A handle that counts what it stores.
struct Counted {
    inner: Box<dyn Bus>,
    messages: Arc<AtomicU64>,
}

impl Counted {
    fn count(&self, published: Published) -> Published {
        if !published.duplicate {
            self.messages.fetch_add(1, Ordering::Relaxed);
        }
        published
    }
}

#[async_trait]
impl Bus for Counted {
    fn principal(&self) -> Address {
        self.inner.principal()
    }

    async fn create(&self, subject: &Subject, spec: ChannelSpec) -> Result<(), BusError> {
        self.inner.create(subject, spec).await
    }

    async fn create_with(
        &self,
        subject: &Subject,
        spec: ChannelSpec,
        grants: &[(Address, Access)],
    ) -> Result<(), BusError> {
        self.inner.create_with(subject, spec, grants).await
    }

    async fn grant(&self, subject: &Subject, who: Address, access: Access) -> Result<(), BusError> {
        self.inner.grant(subject, who, access).await
    }

    async fn revoke(
        &self,
        subject: &Subject,
        who: Address,
        access: Access,
    ) -> Result<(), BusError> {
        self.inner.revoke(subject, who, access).await
    }

    async fn delete(&self, subject: &Subject) -> Result<(), BusError> {
        self.inner.delete(subject).await
    }

    async fn publish(&self, subject: &Subject, payload: Vec<u8>) -> Result<Published, BusError> {
        Ok(self.count(self.inner.publish(subject, payload).await?))
    }

    async fn publish_envelope(&self, envelope: &Envelope) -> Result<Published, BusError> {
        Ok(self.count(self.inner.publish_envelope(envelope).await?))
    }

    async fn last_seq(&self, subject: &Subject) -> Result<u64, BusError> {
        self.inner.last_seq(subject).await
    }

    async fn fetch(&self, subject: &Subject, seq: u64) -> Result<Envelope, BusError> {
        self.inner.fetch(subject, seq).await
    }

    async fn subscribe(&self, filter: &Filter, start: Start) -> Result<Subscription, BusError> {
        self.inner.subscribe(filter, start).await
    }
}

/// An offer on `.offers.<role>.<acct>`.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub enum Offer {
    Customer(CustomerOffer),
    Supplier(SupplierOffer),
}

impl Offer {
    /// The account the offer speaks for: it must be the envelope's signer.
    pub fn account(&self) -> Address {
        match self {
            Offer::Customer(c) => c.account,
            Offer::Supplier(s) => s.account,
        }
    }
}

/// `(seq, bytes)` pairs in seq order: inputs on `.input`, outputs on `.output.<slot>`.
pub type Frames = Vec<(u64, Vec<u8>)>;

/// The customer's answer to the mediator on `.mediation.customer`: each test input's seq and
/// the seq of the `.input` message that carried it, so the mediator fetches exactly those.
pub type TestSeqs = Vec<(u64, u64)>;

/// Publishes `message` (borsh) on `subject`.
pub async fn send<T: BorshSerialize>(
    bus: &dyn Bus,
    subject: &Subject,
    message: &T,
) -> Result<Published, SimError> {
    let payload = borsh::to_vec(message).map_err(|e| SimError::Unexpected(e.to_string()))?;
    Ok(bus.publish(subject, payload).await?)
}

/// The message in `envelope` if `from` signed it: the broker is not trusted for who wrote what,
/// so every reader checks the signer against the party the ledger names.
pub fn open<T: BorshDeserialize>(envelope: &Envelope, from: &Address) -> Result<T, BusError> {
    if envelope.publisher != *from {
        return Err(BusError::Malformed(format!(
            "{} seq {} signed by {}, not by {from}",
            envelope.subject, envelope.seq, envelope.publisher
        )));
    }
    T::try_from_slice(&envelope.payload).map_err(|e| BusError::Malformed(e.to_string()))
}

/// Creates the agent's public offers channel in market `m`.
pub async fn open_offers(bus: &dyn Bus, m: MarketId, role: Role) -> Result<Subject, BusError> {
    let subject = catalogue::offers(m, role, &bus.principal());
    let spec = ChannelSpec {
        public: true,
        ..ChannelSpec::default()
    };
    bus.create(&subject, spec).await?;
    Ok(subject)
}

/// Subscribes to a channel another party opens to this one when the ledger says so: until
/// then it is missing or not granted, so this tries again until the wall clock passes
/// `deadline_ms`, and then gives `None`.
pub async fn subscribe_when_open(
    bus: &dyn Bus,
    subject: &Subject,
    deadline_ms: u64,
) -> Result<Option<Subscription>, BusError> {
    loop {
        match bus
            .subscribe(&Filter::from(subject), Start::Beginning)
            .await
        {
            Ok(subscription) => return Ok(Some(subscription)),
            Err(BusError::NotFound(_) | BusError::Denied { .. }) => {
                if super::now_ms() >= deadline_ms {
                    return Ok(None);
                }
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The customer's channels of one allocation (spec §5.2), in line with the ledger: opened with
/// each party's catalogue rights once the ledger shows the allocation's terms and parties fixed
/// (Signing; speculative suppliers can then read before Running), deleted with every right once
/// the ledger shows it closed. The parties come from the ledger's record, never from the
/// allocator's word.
pub struct AllocationBus {
    pub channels: AllocationChannels,
    open: bool,
    closed: bool,
}

impl AllocationBus {
    pub fn new(allocation: &Allocation) -> Self {
        Self {
            channels: AllocationChannels::new(
                allocation.market,
                allocation.id,
                allocation.terms.replicas as usize,
            ),
            open: false,
            closed: false,
        }
    }

    /// Opens or closes the channels as `allocation` (the ledger's record, newly read) requires.
    pub async fn follow(&mut self, bus: &dyn Bus, allocation: &Allocation) -> Result<(), BusError> {
        if allocation.terms.customer != bus.principal() {
            return Err(BusError::NotOwner {
                caller: bus.principal(),
                subject: self.channels.input.to_string(),
            });
        }
        match allocation.state {
            State::Allocated => {}
            State::Signing | State::Running if !self.open && !self.closed => {
                let suppliers: Vec<Address> = allocation.slots.iter().map(|s| s.supplier).collect();
                let spec = ChannelSpec::default();
                self.channels
                    .open(bus, &suppliers, allocation.terms.mediator, spec)
                    .await?;
                self.open = true;
            }
            State::Signing | State::Running => {}
            State::Closed => {
                if self.open {
                    self.channels.close(bus).await?;
                }
                self.open = false;
                self.closed = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
