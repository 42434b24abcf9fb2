//! One stakeholder's connection to the NATS bus.

use super::authority::{login_seed, NatsAuthority};
use super::config::{account_name, Entry, GET_PREFIX, LOG_PREFIX, PUBLISH_PREFIX};
use crate::{
    Access, Bus, BusError, ChannelSpec, Envelope, Filter, Published, Signer, Source, Start,
    Subject, Subscription,
};
use agora_types::{Address, Keypair};
use async_nats::client::RequestErrorKind;
use async_nats::{Client, Event, HeaderMap, Message, StatusCode};
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// JetStream's error code for a publish whose expected last sequence is not the stream's.
const WRONG_LAST_SEQUENCE: u64 = 10071;

/// Messages a subscription buffers in the client; beyond, the client drops them (a slow
/// consumer) and the subscription fetches them back by seq, so a slow reader's memory stays
/// bounded without losing anything.
const SUBSCRIPTION_CAPACITY: usize = 1024;

/// What the connection reports to its subscriptions.
#[derive(Clone, Debug)]
enum ConnectionEvent {
    /// The server cut the subscription on this wire subject (its reader lost the right): it
    /// ends with this error.
    Cut { subject: String, error: BusError },
    /// The connection dropped: subscriptions report it and go on once the client reconnected.
    Lost(BusError),
    /// Messages may have been missed (a slow consumer, a reconnect): re-read each channel's
    /// last seq and fetch what is missing.
    CatchUp,
}

/// A stakeholder's handle on the NATS bus.
#[derive(Clone)]
pub struct NatsBus {
    client: Client,
    signer: Arc<Signer>,
    authority: Arc<NatsAuthority>,
    events: broadcast::Sender<ConnectionEvent>,
}

/// The subject in a server's `Permissions Violation for Subscription to "..."` error.
fn cut_subscription(message: &str) -> Option<String> {
    let rest = &message[message.find("Subscription to ")? + "Subscription to ".len()..];
    let rest = rest.trim_start_matches(['\'', '"']);
    let end = rest.find(['"', '\''])?;
    Some(rest[..end].to_string())
}

/// A header as the server set it: its last value. The server appends its own headers after
/// whatever the publisher sent, so an earlier value may be forged.
fn server_header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    Some(message.headers.as_ref()?.get_last(name)?.as_str())
}

fn header_u64(message: &Message, name: &str) -> Option<u64> {
    server_header(message, name)?.parse().ok()
}

/// The envelope the stream holds at `seq` of `subject`: verified, and signed for that place.
fn stored_at(bytes: &[u8], subject: &Subject, seq: u64) -> Result<Envelope, BusError> {
    let envelope = Envelope::decode(bytes)?;
    if envelope.subject != subject.as_str() || envelope.seq != seq {
        return Err(BusError::Malformed(format!(
            "{subject} seq {seq} holds a message signed for {} seq {}",
            envelope.subject, envelope.seq
        )));
    }
    Ok(envelope)
}

impl NatsBus {
    /// Registers `keypair`'s account with the authority and logs in with that key.
    pub async fn connect(
        authority: Arc<NatsAuthority>,
        keypair: Keypair,
    ) -> Result<Self, BusError> {
        let who = keypair.address();
        authority.register(who).await?;
        let (events, _) = broadcast::channel(64);
        let sender = events.clone();
        let client = async_nats::ConnectOptions::with_nkey(login_seed(&keypair)?)
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let sender = sender.clone();
                async move {
                    let event = match event {
                        Event::ServerError(error) => {
                            let text = error.to_string();
                            let Some(subject) = cut_subscription(&text) else {
                                tracing::warn!(%who, %text, "nats server error");
                                return;
                            };
                            let channel = subject
                                .strip_prefix(&format!("{LOG_PREFIX}."))
                                .unwrap_or(&subject)
                                .to_string();
                            ConnectionEvent::Cut {
                                error: BusError::Denied {
                                    who,
                                    access: Access::Subscribe,
                                    subject: channel,
                                },
                                subject,
                            }
                        }
                        Event::Disconnected => ConnectionEvent::Lost(BusError::Disconnected(
                            "nats connection lost".into(),
                        )),
                        Event::SlowConsumer(_) | Event::Connected => ConnectionEvent::CatchUp,
                        _ => return,
                    };
                    let _ = sender.send(event);
                }
            })
            .connect(authority.url())
            .await
            .map_err(|e| BusError::Disconnected(format!("connecting to nats: {e}")))?;
        Ok(Self {
            client,
            signer: Arc::new(Signer::new(keypair)),
            authority,
            events,
        })
    }

    /// The underlying client, for tests that bypass this handle's own checks.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn is_home(&self, entry: &Entry) -> bool {
        entry.home() == account_name(&self.principal())
    }

    /// The direct-get subject of a channel's stream, as this account reaches it.
    fn get_subject(&self, entry: &Entry, subject: &Subject) -> String {
        let stream = subject.stream_name();
        if self.is_home(entry) {
            format!("$JS.API.DIRECT.GET.{stream}")
        } else {
            format!("{GET_PREFIX}.{stream}")
        }
    }

    fn readable_entry(&self, subject: &Subject) -> Result<Entry, BusError> {
        let entry = self.authority.entry(subject)?;
        entry
            .acl
            .check(subject, &self.principal(), Access::Subscribe)?;
        Ok(entry)
    }

    /// A direct get; `None` when the stream has no such message.
    async fn direct_get(
        &self,
        entry: &Entry,
        subject: &Subject,
        body: Value,
    ) -> Result<Option<Message>, BusError> {
        let reply = self
            .client
            .request(self.get_subject(entry, subject), body.to_string().into())
            .await
            .map_err(|e| self.request_error(subject, Access::Subscribe, e))?;
        match reply.status {
            Some(StatusCode::NOT_FOUND) => Ok(None),
            Some(status) if status != StatusCode::OK => Err(BusError::Backend(format!(
                "direct get on {subject}: {status} {}",
                reply.description.unwrap_or_default()
            ))),
            _ => Ok(Some(reply)),
        }
    }

    /// A request nobody answered means the server gave this account no route to the channel.
    fn request_error(
        &self,
        subject: &Subject,
        access: Access,
        e: async_nats::RequestError,
    ) -> BusError {
        match e.kind() {
            RequestErrorKind::NoResponders => BusError::Denied {
                who: self.principal(),
                access,
                subject: subject.to_string(),
            },
            _ => BusError::Disconnected(format!("{subject}: {e}")),
        }
    }

    /// The stored envelope at `seq`, checked against its subject and seq.
    async fn fetch_from(
        &self,
        entry: &Entry,
        subject: &Subject,
        seq: u64,
    ) -> Result<Envelope, BusError> {
        let reply = self
            .direct_get(entry, subject, json!({ "seq": seq }))
            .await?
            .ok_or_else(|| BusError::NotFound(format!("{subject} seq {seq}")))?;
        stored_at(&reply.payload, subject, seq)
    }

    /// Answers a refused expected-last-sequence: an identical envelope already stored is a
    /// duplicate, anything else a conflict naming the next free seq.
    async fn resolve_conflict(
        &self,
        entry: &Entry,
        subject: &Subject,
        envelope: &Envelope,
        last: u64,
    ) -> Result<Published, BusError> {
        if envelope.seq <= last {
            if let Ok(stored) = self.fetch_from(entry, subject, envelope.seq).await {
                if stored == *envelope {
                    return Ok(Published {
                        seq: envelope.seq,
                        duplicate: true,
                    });
                }
            }
        }
        Err(BusError::SeqConflict {
            subject: subject.to_string(),
            expected: last + 1,
            got: envelope.seq,
        })
    }
}

#[async_trait]
impl Bus for NatsBus {
    fn principal(&self) -> Address {
        self.signer.address()
    }

    async fn create(&self, subject: &Subject, spec: ChannelSpec) -> Result<(), BusError> {
        self.create_with(subject, spec, &[]).await
    }

    async fn create_with(
        &self,
        subject: &Subject,
        spec: ChannelSpec,
        grants: &[(Address, Access)],
    ) -> Result<(), BusError> {
        self.authority
            .create(&self.client, self.principal(), subject, spec, grants)
            .await
    }

    async fn grant(&self, subject: &Subject, who: Address, access: Access) -> Result<(), BusError> {
        self.authority
            .set_right(self.principal(), subject, who, access, true)
            .await
    }

    async fn revoke(
        &self,
        subject: &Subject,
        who: Address,
        access: Access,
    ) -> Result<(), BusError> {
        self.authority
            .set_right(self.principal(), subject, who, access, false)
            .await
    }

    async fn delete(&self, subject: &Subject) -> Result<(), BusError> {
        self.authority
            .delete(&self.client, self.principal(), subject)
            .await
    }

    async fn publish(&self, subject: &Subject, payload: Vec<u8>) -> Result<Published, BusError> {
        self.signer.publish(self, subject, payload).await
    }

    async fn publish_envelope(&self, envelope: &Envelope) -> Result<Published, BusError> {
        let subject = self.signer.check_own(envelope)?;
        let me = self.principal();
        let entry = self.authority.entry(&subject)?;
        entry.acl.check(&subject, &me, Access::Publish)?;
        if envelope.payload.len() > entry.spec.max_payload as usize {
            return Err(BusError::TooLarge {
                size: envelope.payload.len(),
                max: entry.spec.max_payload,
            });
        }
        let target = if self.is_home(&entry) {
            subject.to_string()
        } else {
            format!("{PUBLISH_PREFIX}.{subject}")
        };
        let bytes = envelope.encode();
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Sequence",
            (envelope.seq - 1).to_string().as_str(),
        );
        headers.insert(
            "Nats-Msg-Id",
            hex::encode(&Sha256::digest(&bytes)[..16]).as_str(),
        );
        let reply = self
            .client
            .request_with_headers(target, headers, bytes.into())
            .await
            .map_err(|e| self.request_error(&subject, Access::Publish, e))?;
        let ack: Value = serde_json::from_slice(&reply.payload)
            .map_err(|e| BusError::Backend(format!("publish ack on {subject}: {e}")))?;
        if let Some(error) = ack.get("error") {
            let description = error["description"].as_str().unwrap_or_default();
            if error["err_code"].as_u64() == Some(WRONG_LAST_SEQUENCE) {
                let last = description
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| BusError::Backend(format!("{subject}: {description}")))?;
                return self
                    .resolve_conflict(&entry, &subject, envelope, last)
                    .await;
            }
            if description.contains("maximum messages") {
                return Err(BusError::Full {
                    subject: subject.to_string(),
                    max: entry.spec.max_msgs,
                });
            }
            return Err(BusError::Backend(format!("publish on {subject}: {error}")));
        }
        let seq = ack["seq"].as_u64().unwrap_or(0);
        let duplicate = ack["duplicate"].as_bool().unwrap_or(false);
        if seq != envelope.seq {
            return Err(BusError::Backend(format!(
                "{subject}: stored at seq {seq}, signed for {}",
                envelope.seq
            )));
        }
        Ok(Published { seq, duplicate })
    }

    async fn last_seq(&self, subject: &Subject) -> Result<u64, BusError> {
        let entry = self.readable_entry(subject)?;
        let last = self
            .direct_get(&entry, subject, json!({ "last_by_subj": subject.as_str() }))
            .await?;
        match last {
            None => Ok(0),
            Some(reply) => header_u64(&reply, "Nats-Sequence").ok_or_else(|| {
                BusError::Malformed(format!("{subject}: direct get without Nats-Sequence"))
            }),
        }
    }

    async fn fetch(&self, subject: &Subject, seq: u64) -> Result<Envelope, BusError> {
        let entry = self.readable_entry(subject)?;
        self.fetch_from(&entry, subject, seq).await
    }

    async fn subscribe(&self, filter: &Filter, start: Start) -> Result<Subscription, BusError> {
        let exact = filter.exact();
        if let Some(subject) = &exact {
            self.readable_entry(subject)?;
        }
        let events = self.events.subscribe();
        let wire = format!("{LOG_PREFIX}.{filter}");
        let live = self
            .client
            .subscribe(wire.clone())
            .await
            .map_err(|e| BusError::Disconnected(format!("subscribing to {filter}: {e}")))?;
        let mut reader = Reader {
            bus: self.clone(),
            live,
            events,
            wire,
            exact,
            start,
            cursors: HashMap::new(),
            backlog: VecDeque::new(),
            pending: VecDeque::new(),
            done: false,
        };
        let readable = self.authority.readable(filter, &self.principal());
        let lasts = futures::future::join_all(readable.iter().map(|s| self.last_seq(s))).await;
        for (subject, last) in readable.into_iter().zip(lasts) {
            let last = match last {
                Ok(last) => last,
                // One unreachable channel (its owner deleted the stream past the authority)
                // must not stop a wildcard reader of many owners' channels: it skips it.
                Err(e) if reader.exact.is_none() => {
                    tracing::debug!(%subject, %e, "wildcard subscription skips a channel");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let next = start.first(last);
            if next <= last {
                reader.backlog.push_back((subject.clone(), next, last));
            }
            reader.cursors.insert(subject, next);
        }
        Ok(Subscription::from_source(reader))
    }
}

/// A subscription's state: the next seq per channel and the ranges still to fetch.
struct Reader {
    bus: NatsBus,
    live: async_nats::Subscriber,
    events: broadcast::Receiver<ConnectionEvent>,
    wire: String,
    exact: Option<Subject>,
    start: Start,
    cursors: HashMap<Subject, u64>,
    /// (channel, from, to): seqs to fetch before anything newer on that channel.
    backlog: VecDeque<(Subject, u64, u64)>,
    pending: VecDeque<Result<Envelope, BusError>>,
    done: bool,
}

impl Reader {
    /// Delivers `item` (the message or the reason it was refused) at `seq` if it is the next
    /// one of its channel.
    fn deliver(&mut self, subject: &Subject, seq: u64, item: Result<Envelope, BusError>) {
        let cursor = self.cursors.entry(subject.clone()).or_insert(1);
        if seq == *cursor {
            *cursor += 1;
            self.pending.push_back(item);
        }
    }

    async fn fetch_backlog(&mut self) {
        let Some((subject, from, to)) = self.backlog.pop_front() else {
            return;
        };
        if from < to {
            self.backlog.push_front((subject.clone(), from + 1, to));
        }
        let entry = match self.bus.authority.entry(&subject) {
            Ok(entry) => entry,
            Err(e) => return self.lost(&subject, e),
        };
        match self.bus.fetch_from(&entry, &subject, from).await {
            Err(e @ (BusError::Denied { .. } | BusError::NotFound(_))) => self.lost(&subject, e),
            item => self.deliver(&subject, from, item),
        }
    }

    /// Queues every channel's messages past its cursor up to its last seq now.
    async fn catch_up(&mut self) {
        let channels: Vec<(Subject, u64)> =
            self.cursors.iter().map(|(s, c)| (s.clone(), *c)).collect();
        for (subject, cursor) in channels {
            match self.bus.last_seq(&subject).await {
                Ok(last) if last >= cursor => {
                    self.backlog.retain(|(s, _, _)| *s != subject);
                    self.backlog.push_back((subject, cursor, last));
                }
                Ok(_) => {}
                Err(e @ (BusError::Denied { .. } | BusError::NotFound(_))) => {
                    self.lost(&subject, e)
                }
                Err(e) => tracing::debug!(%subject, %e, "catch-up deferred"),
            }
        }
    }

    /// A channel became unreadable: an exact subscription ends, a wildcard one skips it.
    fn lost(&mut self, subject: &Subject, error: BusError) {
        self.backlog.retain(|(s, _, _)| s != subject);
        if self.exact.is_some() {
            self.pending.push_back(Err(error));
            self.done = true;
        }
    }

    fn on_live(&mut self, message: Message) {
        let name = message.subject.as_str();
        let Some(subject) = name
            .strip_prefix(&format!("{LOG_PREFIX}."))
            .and_then(|s| Subject::new(s).ok())
        else {
            return;
        };
        // The channel's own stream re-published it, not another stream of the home account
        // re-publishing onto the same log subject.
        if server_header(&message, "Nats-Stream") != Some(subject.stream_name().as_str()) {
            return;
        }
        let Some(seq) = header_u64(&message, "Nats-Sequence") else {
            return;
        };
        let first = self.start.first_in_new_channel();
        let cursor = *self.cursors.entry(subject.clone()).or_insert(first);
        if seq > cursor {
            // Missed messages (slow consumer, reconnect): fetch them, this one included.
            self.backlog.push_back((subject, cursor, seq));
            return;
        }
        let item = stored_at(&message.payload, &subject, seq);
        self.deliver(&subject, seq, item);
    }
}

#[async_trait]
impl Source for Reader {
    async fn next(&mut self) -> Option<Result<Envelope, BusError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if !self.backlog.is_empty() {
                self.fetch_backlog().await;
                continue;
            }
            tokio::select! {
                message = self.live.next() => match message {
                    Some(message) => self.on_live(message),
                    None => {
                        self.done = true;
                        return Some(Err(BusError::Disconnected("subscription closed".into())));
                    }
                },
                event = self.events.recv() => match event {
                    Ok(ConnectionEvent::Cut { subject, error }) if subject == self.wire => {
                        self.done = true;
                        return Some(Err(error));
                    }
                    Ok(ConnectionEvent::Cut { .. }) => {}
                    Ok(ConnectionEvent::Lost(error)) => return Some(Err(error)),
                    Ok(ConnectionEvent::CatchUp) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.catch_up().await;
                    }
                    Err(broadcast::error::RecvError::Closed) => self.done = true,
                },
            }
        }
    }
}
