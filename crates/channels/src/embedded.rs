//! The embedded bus (spec §5.4): one in-process broker holding every channel's rights and log;
//! handles opened with a key act for that key's address. The default for tests, devnets and
//! simulations.

use crate::{
    Access, Bus, BusError, ChannelAcl, ChannelSpec, Envelope, Filter, Published, Signer, Source,
    Start, Subject, Subscription,
};
use agora_types::{Address, Keypair};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Messages a subscription takes from one channel per look at the broker, so one busy channel
/// cannot make a wildcard reader copy its whole log at once.
const BATCH: usize = 256;

struct Channel {
    acl: ChannelAcl,
    spec: ChannelSpec,
    /// `log[i]` has seq `i + 1`.
    log: Vec<Envelope>,
    /// Distinguishes a channel from an earlier one of the same name that was deleted.
    incarnation: u64,
}

#[derive(Default)]
struct State {
    channels: BTreeMap<Subject, Channel>,
    incarnations: u64,
}

impl State {
    /// The channels whose names begin as `filter`'s matches must: a range of the sorted map, so
    /// a reader of one allocation's channel does not scan every channel on the broker.
    fn candidates<'a>(
        &'a self,
        filter: &'a Filter,
    ) -> impl Iterator<Item = (&'a Subject, &'a Channel)> {
        let prefix = filter.literal_prefix();
        self.channels
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(subject, _)| subject.as_str().starts_with(prefix))
            .filter(|(subject, _)| filter.matches(subject))
    }

    fn channel(&self, subject: &Subject) -> Result<&Channel, BusError> {
        self.channels
            .get(subject)
            .ok_or_else(|| BusError::NotFound(subject.to_string()))
    }

    fn channel_mut(&mut self, subject: &Subject) -> Result<&mut Channel, BusError> {
        self.channels
            .get_mut(subject)
            .ok_or_else(|| BusError::NotFound(subject.to_string()))
    }
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every change; subscriptions wait on it instead of holding per-reader queues.
    changed: watch::Sender<u64>,
    /// Channels one principal may own at once.
    quota: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every change is one insert.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// The in-process broker; cheap to clone, shared by every handle.
#[derive(Clone)]
pub struct EmbeddedBroker {
    inner: Arc<Inner>,
}

impl Default for EmbeddedBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl EmbeddedBroker {
    pub fn new() -> Self {
        Self::with_quota(crate::DEFAULT_QUOTA)
    }

    /// A broker on which a principal owns at most `quota` channels at once.
    pub fn with_quota(quota: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed: watch::channel(0).0,
                quota,
            }),
        }
    }

    /// A handle acting for `keypair`'s address.
    pub fn connect(&self, keypair: Keypair) -> EmbeddedBus {
        EmbeddedBus {
            inner: self.inner.clone(),
            signer: Arc::new(Signer::new(keypair)),
        }
    }
}

/// One principal's handle on an [`EmbeddedBroker`].
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
    signer: Arc<Signer>,
}

impl EmbeddedBus {
    fn change_right(
        &self,
        subject: &Subject,
        who: Address,
        access: Access,
        on: bool,
    ) -> Result<(), BusError> {
        let caller = self.principal();
        self.inner
            .lock()
            .channel_mut(subject)?
            .acl
            .set(subject, &caller, who, access, on)?;
        self.inner.notify();
        Ok(())
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    fn principal(&self) -> Address {
        self.signer.address()
    }

    async fn create(&self, subject: &Subject, spec: ChannelSpec) -> Result<(), BusError> {
        let me = self.principal();
        let mut state = self.inner.lock();
        let owned = state
            .channels
            .values()
            .filter(|c| c.acl.owner == me)
            .count();
        crate::acl::admit(subject, &spec, &me, owned, self.inner.quota)?;
        if state.channels.contains_key(subject) {
            return Err(BusError::Exists(subject.to_string()));
        }
        state.incarnations += 1;
        let channel = Channel {
            acl: ChannelAcl::new(self.principal(), spec.public),
            spec,
            log: Vec::new(),
            incarnation: state.incarnations,
        };
        state.channels.insert(subject.clone(), channel);
        drop(state);
        self.inner.notify();
        Ok(())
    }

    async fn grant(&self, subject: &Subject, who: Address, access: Access) -> Result<(), BusError> {
        self.change_right(subject, who, access, true)
    }

    async fn revoke(
        &self,
        subject: &Subject,
        who: Address,
        access: Access,
    ) -> Result<(), BusError> {
        self.change_right(subject, who, access, false)
    }

    async fn delete(&self, subject: &Subject) -> Result<(), BusError> {
        let mut state = self.inner.lock();
        state
            .channel(subject)?
            .acl
            .check_owner(subject, &self.principal())?;
        state.channels.remove(subject);
        drop(state);
        self.inner.notify();
        Ok(())
    }

    async fn publish(&self, subject: &Subject, payload: Vec<u8>) -> Result<Published, BusError> {
        self.signer.publish(self, subject, payload).await
    }

    async fn publish_envelope(&self, envelope: &Envelope) -> Result<Published, BusError> {
        let subject = self.signer.check_own(envelope)?;
        let caller = self.principal();
        let mut state = self.inner.lock();
        let channel = state.channel_mut(&subject)?;
        channel.acl.check(&subject, &caller, Access::Publish)?;
        let next = channel.log.len() as u64 + 1;
        if envelope.seq < next {
            let stored = &channel.log[(envelope.seq - 1) as usize];
            return if stored == envelope {
                Ok(Published {
                    seq: envelope.seq,
                    duplicate: true,
                })
            } else {
                Err(BusError::SeqConflict {
                    subject: subject.to_string(),
                    expected: next,
                    got: envelope.seq,
                })
            };
        }
        if envelope.seq > next {
            return Err(BusError::SeqConflict {
                subject: subject.to_string(),
                expected: next,
                got: envelope.seq,
            });
        }
        if envelope.payload.len() > channel.spec.max_payload as usize {
            return Err(BusError::TooLarge {
                size: envelope.payload.len(),
                max: channel.spec.max_payload,
            });
        }
        if channel.log.len() as u64 >= channel.spec.max_msgs {
            return Err(BusError::Full {
                subject: subject.to_string(),
                max: channel.spec.max_msgs,
            });
        }
        channel.log.push(envelope.clone());
        drop(state);
        self.inner.notify();
        Ok(Published {
            seq: next,
            duplicate: false,
        })
    }

    async fn last_seq(&self, subject: &Subject) -> Result<u64, BusError> {
        let state = self.inner.lock();
        let channel = state.channel(subject)?;
        let caller = self.principal();
        if !channel.acl.allows(&caller, Access::Publish) {
            channel.acl.check(subject, &caller, Access::Subscribe)?;
        }
        Ok(channel.log.len() as u64)
    }

    async fn fetch(&self, subject: &Subject, seq: u64) -> Result<Envelope, BusError> {
        let state = self.inner.lock();
        let channel = state.channel(subject)?;
        channel
            .acl
            .check(subject, &self.principal(), Access::Subscribe)?;
        seq.checked_sub(1)
            .and_then(|i| channel.log.get(i as usize))
            .cloned()
            .ok_or_else(|| BusError::NotFound(format!("{subject} seq {seq}")))
    }

    async fn subscribe(&self, filter: &Filter, start: Start) -> Result<Subscription, BusError> {
        let mut reader = Reader {
            inner: self.inner.clone(),
            who: self.principal(),
            filter: filter.clone(),
            exact: filter.exact(),
            start,
            cursors: HashMap::new(),
            pending: VecDeque::new(),
            changed: self.inner.changed.subscribe(),
            done: false,
        };
        reader.open()?;
        Ok(Subscription::from_source(reader))
    }
}

/// A subscription's state: the next seq to deliver per channel (and its incarnation).
struct Reader {
    inner: Arc<Inner>,
    who: Address,
    filter: Filter,
    exact: Option<Subject>,
    start: Start,
    cursors: HashMap<Subject, (u64, u64)>,
    pending: VecDeque<Envelope>,
    changed: watch::Receiver<u64>,
    done: bool,
}

impl Reader {
    /// Checks an exact subscription's channel and right, and places the first cursors.
    fn open(&mut self) -> Result<(), BusError> {
        let state = self.inner.lock();
        if let Some(subject) = &self.exact {
            state
                .channel(subject)?
                .acl
                .check(subject, &self.who, Access::Subscribe)?;
        }
        for (subject, channel) in state.candidates(&self.filter) {
            let next = self.start.first(channel.log.len() as u64);
            self.cursors
                .insert(subject.clone(), (channel.incarnation, next));
        }
        Ok(())
    }

    /// Moves what is readable now into `pending`; an error ends an exact subscription.
    fn poll_broker(&mut self) -> Result<(), BusError> {
        let state = self.inner.lock();
        if let Some(subject) = &self.exact {
            let channel = state.channel(subject)?;
            channel.acl.check(subject, &self.who, Access::Subscribe)?;
        }
        for (subject, channel) in state.candidates(&self.filter) {
            if !channel.acl.allows(&self.who, Access::Subscribe) {
                continue;
            }
            let first = self.start.first_in_new_channel();
            let cursor = self
                .cursors
                .entry(subject.clone())
                .or_insert((channel.incarnation, first));
            if cursor.0 != channel.incarnation {
                *cursor = (channel.incarnation, first);
            }
            let from = (cursor.1 - 1) as usize;
            let batch = channel.log.iter().skip(from).take(BATCH);
            let before = self.pending.len();
            self.pending.extend(batch.cloned());
            cursor.1 += (self.pending.len() - before) as u64;
        }
        Ok(())
    }
}

#[async_trait]
impl Source for Reader {
    async fn next(&mut self) -> Option<Result<Envelope, BusError>> {
        loop {
            if let Some(envelope) = self.pending.pop_front() {
                return Some(Ok(envelope));
            }
            if self.done {
                return None;
            }
            // Mark the current version seen before looking, so no change is missed in between.
            self.changed.borrow_and_update();
            if let Err(e) = self.poll_broker() {
                self.done = true;
                return Some(Err(e));
            }
            if self.pending.is_empty() && self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}
