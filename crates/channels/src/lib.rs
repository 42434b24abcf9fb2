//! Channels of the stream market (spec `shared/specs/stream.md` §5, docs/stream.md
//! "Channels"): the off-ledger pub/sub that carries offers, inputs and outputs.
//!
//! [`Bus`] is what agents program against; two backends implement it and pass one conformance
//! suite (`tests/conformance`):
//! - [`embedded::EmbeddedBroker`]: an in-process broker, the default for tests, devnets and
//!   simulations.
//! - [`nats::NatsBus`]: NATS JetStream with one account per stakeholder and the server
//!   enforcing the rights.
//!
//! What every backend guarantees (§5.3):
//! - hierarchical [`Subject`]s, subscription by [`Filter`] with `*`/`>` wildcards;
//! - per-channel rights ([`ChannelAcl`]) granted and revoked at run time by the channel's owner;
//!   a handle acts for the one key it was opened with, so identity is a key, not a name;
//! - a market subject that names an account (its offers, allocations, accepts) is created by
//!   that account only; a principal owns at most its quota of channels ([`DEFAULT_QUOTA`]),
//!   each with bounded limits ([`ChannelSpec::check`]);
//! - a durable log per channel: seq 1, 2, ... in one total order every reader sees, replay from
//!   any seq, deletion when the owner closes the channel;
//! - every message an [`Envelope`] signed by its publisher over (subject, seq, payload hash,
//!   ts); a forged one is refused on publish and on receipt;
//! - at-least-once delivery, de-duplicated by (subject, seq): republishing the same envelope is
//!   a no-op, a different one at a taken seq is refused;
//! - bounded memory: a channel holds at most `max_msgs` messages and refuses more
//!   ([`BusError::Full`]) rather than dropping or growing; readers pull at their own pace;
//! - ms timestamps; lost connections surface as [`BusError::Disconnected`].

mod acl;
pub mod catalogue;
pub mod embedded;
mod envelope;
pub mod nats;
mod subject;

pub use acl::{Access, ChannelAcl, ChannelSpec, DEFAULT_QUOTA, MAX_GRANTS, MAX_PAYLOAD};
pub use envelope::{now_ms, Envelope, ENVELOPE_NAMESPACE};
pub use subject::{Filter, Subject, MAX_SUBJECT_LEN};

use agora_types::{Address, Keypair};
use async_trait::async_trait;
use futures::stream::{BoxStream, Stream, StreamExt};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

/// Why a bus call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BusError {
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        subject: String,
        reason: &'static str,
    },
    #[error("no channel {0}")]
    NotFound(String),
    #[error("channel {0} already exists")]
    Exists(String),
    #[error("{who} may not {access} {subject}")]
    Denied {
        who: Address,
        access: Access,
        subject: String,
    },
    #[error("{caller} does not own {subject}")]
    NotOwner { caller: Address, subject: String },
    #[error("{subject}: seq {got} is not the next one ({expected}) nor an identical retry")]
    SeqConflict {
        subject: String,
        expected: u64,
        got: u64,
    },
    #[error("{subject} holds its maximum of {max} messages")]
    Full { subject: String, max: u64 },
    #[error("invalid channel limits: {0}")]
    InvalidSpec(&'static str),
    #[error("{subject} already has its maximum of {max} grants")]
    TooManyGrants { subject: String, max: usize },
    #[error("{who} already owns its quota of {max} channels")]
    Quota { who: Address, max: usize },
    #[error("payload of {size} bytes exceeds the channel's {max}")]
    TooLarge { size: usize, max: u32 },
    #[error("{subject} seq {seq}: signature does not verify")]
    BadSignature { subject: String, seq: u64 },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("connection lost: {0}")]
    Disconnected(String),
    #[error("broker: {0}")]
    Backend(String),
}

/// Where a subscription starts, in each channel it covers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Start {
    /// From seq 1: late joiners miss nothing.
    Beginning,
    /// From this seq on (the mediator resuming, a speculative start).
    Seq(u64),
    /// Only messages published after the subscription was made.
    New,
}

impl Start {
    /// The first seq to deliver from a channel whose last seq is `last` at subscription time.
    pub fn first(self, last: u64) -> u64 {
        match self {
            Start::Beginning => 1,
            Start::Seq(seq) => seq.max(1),
            Start::New => last + 1,
        }
    }

    /// The first seq to deliver from a channel that appeared after the subscription was made:
    /// all of it, unless a seq was asked for.
    pub fn first_in_new_channel(self) -> u64 {
        match self {
            Start::Seq(seq) => seq.max(1),
            Start::Beginning | Start::New => 1,
        }
    }
}

/// What a publish did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Published {
    pub seq: u64,
    /// The same envelope was already stored at `seq`: nothing changed.
    pub duplicate: bool,
}

/// Messages of the channels a filter selects, each channel in its order, each seq once.
/// Ends with an error item when the reader loses its right or the channel is deleted.
pub struct Subscription {
    inner: BoxStream<'static, Result<Envelope, BusError>>,
}

impl Subscription {
    pub fn new(inner: impl Stream<Item = Result<Envelope, BusError>> + Send + 'static) -> Self {
        Self {
            inner: inner.boxed(),
        }
    }

    /// A subscription reading from a backend's reader state.
    pub(crate) fn from_source(source: impl Source) -> Self {
        Self::new(futures::stream::unfold(source, |mut source| async move {
            let item = source.next().await?;
            Some((item, source))
        }))
    }

    /// The next message, or `None` once the subscription ended.
    pub async fn next(&mut self) -> Option<Result<Envelope, BusError>> {
        self.inner.next().await
    }
}

impl Stream for Subscription {
    type Item = Result<Envelope, BusError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// A backend's subscription state, turned into a [`Subscription`] by
/// [`Subscription::from_source`].
#[async_trait]
pub(crate) trait Source: Send + 'static {
    async fn next(&mut self) -> Option<Result<Envelope, BusError>>;
}

/// A connection to a broker acting for one principal (an Agora address).
#[async_trait]
pub trait Bus: Send + Sync {
    /// The address this handle acts for (the key it was opened with).
    fn principal(&self) -> Address;

    /// Creates a channel owned by this principal.
    async fn create(&self, subject: &Subject, spec: ChannelSpec) -> Result<(), BusError>;

    /// Creates a channel with rights already granted: on NATS one configuration reload instead
    /// of one per grant.
    async fn create_with(
        &self,
        subject: &Subject,
        spec: ChannelSpec,
        grants: &[(Address, Access)],
    ) -> Result<(), BusError> {
        self.create(subject, spec).await?;
        for (who, access) in grants {
            self.grant(subject, *who, *access).await?;
        }
        Ok(())
    }

    /// Lets `who` publish on or subscribe to a channel this principal owns.
    async fn grant(&self, subject: &Subject, who: Address, access: Access) -> Result<(), BusError>;

    /// Withdraws a grant; takes effect for open subscriptions too.
    async fn revoke(&self, subject: &Subject, who: Address, access: Access)
        -> Result<(), BusError>;

    /// Deletes a channel this principal owns, with its log (end of retention).
    async fn delete(&self, subject: &Subject) -> Result<(), BusError>;

    /// Signs `payload` with the next seq and stores it.
    async fn publish(&self, subject: &Subject, payload: Vec<u8>) -> Result<Published, BusError>;

    /// Stores an already signed envelope at its seq: the retry path of at-least-once delivery.
    async fn publish_envelope(&self, envelope: &Envelope) -> Result<Published, BusError>;

    /// The last seq stored on a channel (0 when empty).
    async fn last_seq(&self, subject: &Subject) -> Result<u64, BusError>;

    /// The message at `seq` (the mediator fetching test inputs).
    async fn fetch(&self, subject: &Subject, seq: u64) -> Result<Envelope, BusError>;

    /// Messages of every readable channel matching `filter`, from `start`.
    async fn subscribe(&self, filter: &Filter, start: Start) -> Result<Subscription, BusError>;
}

/// Attempts at the next seq before a publish gives up: each conflict means another writer of
/// the same channel got that seq first.
const PUBLISH_ATTEMPTS: usize = 16;

/// Signs for one principal and remembers the last seq it saw per channel, so a publish costs one
/// round trip; backends delegate [`Bus::publish`] to it.
pub struct Signer {
    keypair: Keypair,
    last: Mutex<HashMap<Subject, u64>>,
}

impl Signer {
    pub fn new(keypair: Keypair) -> Self {
        Self {
            keypair,
            last: Mutex::new(HashMap::new()),
        }
    }

    pub fn address(&self) -> Address {
        self.keypair.address()
    }

    /// The subject of an envelope this handle may store: well formed, verified, and signed by
    /// this handle's own key (a handle never relays another key's messages: identity is the key).
    pub fn check_own(&self, envelope: &Envelope) -> Result<Subject, BusError> {
        let subject = Subject::new(envelope.subject.clone())?;
        envelope.verify()?;
        if envelope.publisher != self.address() {
            return Err(BusError::Denied {
                who: self.address(),
                access: Access::Publish,
                subject: subject.to_string(),
            });
        }
        Ok(subject)
    }

    fn cached(&self, subject: &Subject) -> Option<u64> {
        self.last.lock().ok()?.get(subject).copied()
    }

    fn remember(&self, subject: &Subject, seq: u64) {
        if let Ok(mut last) = self.last.lock() {
            last.insert(subject.clone(), seq);
        }
    }

    /// Publishes at the next seq through `bus`. The broker's answer to a conflict (another
    /// writer got that seq first) names the next free seq, so writers without read rights
    /// find it too.
    pub async fn publish(
        &self,
        bus: &(impl Bus + ?Sized),
        subject: &Subject,
        payload: Vec<u8>,
    ) -> Result<Published, BusError> {
        let mut last = match self.cached(subject) {
            Some(seq) => seq,
            None => match bus.last_seq(subject).await {
                Ok(seq) => seq,
                Err(BusError::Denied { .. }) => 0,
                Err(e) => return Err(e),
            },
        };
        let mut conflict = None;
        for _ in 0..PUBLISH_ATTEMPTS {
            let envelope = Envelope::sign(&self.keypair, subject, last + 1, payload.clone());
            match bus.publish_envelope(&envelope).await {
                Ok(published) => {
                    self.remember(subject, published.seq);
                    return Ok(published);
                }
                Err(e @ BusError::SeqConflict { expected, .. }) => {
                    if expected == last + 1 {
                        return Err(e);
                    }
                    last = expected.saturating_sub(1);
                    conflict = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(conflict.unwrap_or_else(|| BusError::Backend("no publish attempt".into())))
    }
}
