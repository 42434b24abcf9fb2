//! The conformance suite on NATS JetStream, against a real `nats-server` each test starts in a
//! temporary directory on free ports. Without `nats-server` these tests fail, never skip.

mod conformance;

use agora_channels::nats::{NatsAuthority, NatsBus};
use agora_channels::Bus;
use agora_types::Keypair;
use async_trait::async_trait;
use conformance::Fixture;
use std::sync::Arc;

pub struct Nats {
    pub authority: Arc<NatsAuthority>,
    _dir: tempfile::TempDir,
}

impl Nats {
    pub async fn bus(&self, key: &Keypair) -> NatsBus {
        NatsBus::connect(self.authority.clone(), key.clone())
            .await
            .unwrap()
    }
}

#[async_trait]
impl Fixture for Nats {
    async fn connect(&self, key: &Keypair) -> Box<dyn Bus> {
        Box::new(self.bus(key).await)
    }
}

pub async fn fixture() -> Nats {
    fixture_with_quota(agora_channels::DEFAULT_QUOTA).await
}

async fn fixture_with_quota(quota: usize) -> Nats {
    let dir = tempfile::tempdir().unwrap();
    let authority = NatsAuthority::start(dir.path())
        .await
        .unwrap_or_else(|e| panic!("the NATS tests need Debian's nats-server: {e}"))
        .with_quota(quota);
    Nats {
        authority: Arc::new(authority),
        _dir: dir,
    }
}

conformance_tests!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_creating_channels_without_bound() {
    let fixture = fixture_with_quota(conformance::QUOTA).await;
    conformance::attack_creating_channels_without_bound(&fixture).await;
}

/// Without the server the NATS tests fail and say what to install; nothing passes silently.
#[tokio::test]
async fn a_missing_server_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-nats-server-here");
    let error = match NatsAuthority::start_with(dir.path(), &missing).await {
        Ok(_) => panic!("started a server that does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("apt-get install -y nats-server"), "{error}");
}

mod server_enforced {
    //! What the server itself refuses, shown with raw clients that skip the handle's checks.

    use super::*;
    use agora_channels::{Access, BusError, ChannelSpec, Envelope, Filter, Start, Subject};
    use async_nats::client::RequestErrorKind;
    use conformance::{input, next_ok, subject};

    async fn no_route(client: &async_nats::Client, to: String) {
        let result = client.request(to.clone(), "{}".into()).await;
        match result {
            Err(e) if e.kind() == RequestErrorKind::NoResponders => {}
            other => panic!("{to}: expected no responders, got {other:?}"),
        }
    }

    async fn cut_off_from(client: &async_nats::Client, ch: &Subject) {
        let stream = ch.stream_name();
        no_route(client, format!("agora_pub.{ch}")).await;
        no_route(client, ch.to_string()).await;
        no_route(client, format!("agora_get.{stream}")).await;
    }

    /// A party without permission can neither write nor read a channel on the server, a
    /// grant opens exactly its route after a hot reload, and a revocation closes it again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn party_without_permission_cannot_read_or_write_on_the_server() {
        let nats = fixture().await;
        let version = nats.authority.varz().await.unwrap()["version"].clone();
        eprintln!("nats-server {version}");
        let customer = nats.bus(&Keypair::from_seed(1)).await;
        let supplier = nats.bus(&Keypair::from_seed(2)).await;
        let ch = input();
        customer.create(&ch, ChannelSpec::default()).await.unwrap();
        customer.publish(&ch, b"secret".to_vec()).await.unwrap();
        cut_off_from(supplier.client(), &ch).await;
        assert_eq!(
            customer.last_seq(&ch).await.unwrap(),
            1,
            "nothing reached the stream"
        );

        customer
            .grant(&ch, supplier.principal(), Access::Subscribe)
            .await
            .unwrap();
        let got = supplier
            .client()
            .request(
                format!("agora_get.{}", ch.stream_name()),
                r#"{"seq":1}"#.into(),
            )
            .await
            .unwrap();
        assert_eq!(Envelope::decode(&got.payload).unwrap().payload, b"secret");
        no_route(supplier.client(), format!("agora_pub.{ch}")).await;

        customer
            .revoke(&ch, supplier.principal(), Access::Subscribe)
            .await
            .unwrap();
        cut_off_from(supplier.client(), &ch).await;
        assert!(nats
            .authority
            .config()
            .contains("deny: [\"agora_log.agora.stream.1.a.7.input\"]"));
    }

    /// The server cuts a revoked reader's open subscription and says so; the handle turns that
    /// into `Denied`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revoked_subscription_is_cut_by_the_server() {
        let nats = fixture().await;
        let customer = nats.bus(&Keypair::from_seed(1)).await;
        let mediator = nats.bus(&Keypair::from_seed(3)).await;
        let ch = input();
        customer.create(&ch, ChannelSpec::default()).await.unwrap();
        customer
            .grant(&ch, mediator.principal(), Access::Subscribe)
            .await
            .unwrap();
        let mut sub = mediator
            .subscribe(&Filter::from(&ch), Start::New)
            .await
            .unwrap();
        customer.publish(&ch, b"one".to_vec()).await.unwrap();
        assert_eq!(next_ok(&mut sub).await.payload, b"one");
        customer
            .revoke(&ch, mediator.principal(), Access::Subscribe)
            .await
            .unwrap();
        customer.publish(&ch, b"two".to_vec()).await.unwrap();
        match sub.next().await {
            Some(Err(BusError::Denied {
                access: Access::Subscribe,
                ..
            })) => {}
            other => panic!("expected the server's denial, got {other:?}"),
        }
        assert!(sub.next().await.is_none());
    }

    /// Bytes a writer pushes past its handle are stored (the broker is not trusted for
    /// integrity) but every reader refuses them and goes on with the next seq.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_refuse_what_a_writer_injects_past_its_handle() {
        let nats = fixture().await;
        let customer = nats.bus(&Keypair::from_seed(1)).await;
        let supplier = nats.bus(&Keypair::from_seed(2)).await;
        let mediator = nats.bus(&Keypair::from_seed(3)).await;
        let ch = subject("agora.stream.1.a.7.output.0");
        customer.create(&ch, ChannelSpec::default()).await.unwrap();
        customer
            .grant(&ch, supplier.principal(), Access::Publish)
            .await
            .unwrap();
        customer
            .grant(&ch, mediator.principal(), Access::Subscribe)
            .await
            .unwrap();

        let raw = |last: u64, body: Vec<u8>| {
            let client = supplier.client().clone();
            let to = format!("agora_pub.{ch}");
            async move {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Expected-Last-Sequence", last.to_string().as_str());
                client
                    .request_with_headers(to, headers, body.into())
                    .await
                    .unwrap()
            }
        };
        raw(0, b"not an envelope".to_vec()).await;
        let mut forged = Envelope::sign(&Keypair::from_seed(2), &ch, 2, b"as customer".to_vec());
        forged.publisher = customer.principal();
        raw(1, forged.encode()).await;
        supplier.publish(&ch, b"real".to_vec()).await.unwrap();

        let mut sub = mediator
            .subscribe(&Filter::from(&ch), Start::Beginning)
            .await
            .unwrap();
        assert!(matches!(
            sub.next().await,
            Some(Err(BusError::Malformed(_)))
        ));
        assert!(matches!(
            sub.next().await,
            Some(Err(BusError::BadSignature { seq: 2, .. }))
        ));
        let real = next_ok(&mut sub).await;
        assert_eq!((real.seq, real.payload), (3, b"real".to_vec()));
        assert!(matches!(
            mediator.fetch(&ch, 1).await,
            Err(BusError::Malformed(_))
        ));
    }

    /// A public channel named after another channel's log (`agora_log.<S>`) puts its writer's
    /// messages, with any `Nats-Sequence` header, on the subject in MARKET that every reader of
    /// `S` imports. The server does not forward what came in through a service import to a
    /// stream export, so readers still get `S`'s own messages only (checked on 2.9.10).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_a_channel_named_like_a_log_cannot_feed_its_readers() {
        let nats = fixture().await;
        let victim = nats.bus(&Keypair::from_seed(1)).await;
        let reader = nats.bus(&Keypair::from_seed(3)).await;
        let attacker = nats.bus(&Keypair::from_seed(4)).await;
        let offers = subject(&format!(
            "agora.stream.1.offers.customer.{}",
            victim.principal()
        ));
        victim.create(&offers, ChannelSpec::public()).await.unwrap();
        let mut sub = reader
            .subscribe(&Filter::from(&offers), Start::Beginning)
            .await
            .unwrap();
        if let Ok(shadow) = Subject::new(format!("agora_log.{offers}")) {
            if attacker
                .create(&shadow, ChannelSpec::public())
                .await
                .is_ok()
            {
                let fake = Envelope::sign(&Keypair::from_seed(4), &offers, 1, b"fake".to_vec());
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Sequence", "1");
                let stored = attacker
                    .client()
                    .request_with_headers(
                        format!("agora_pub.{shadow}"),
                        headers,
                        fake.encode().into(),
                    )
                    .await;
                assert!(
                    stored.is_ok(),
                    "the shadow channel took the message: {stored:?}"
                );
            }
        }
        victim.publish(&offers, b"real".to_vec()).await.unwrap();
        let first = next_ok(&mut sub).await;
        assert_eq!(
            (first.publisher, first.payload),
            (victim.principal(), b"real".to_vec())
        );
    }

    /// Every stakeholder can create and delete channels; the configuration the server reloads
    /// on each change must grow with the live grants, not with every channel ever made times
    /// every user (a deleted channel's denial lasts one reload, the one that cuts its readers).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_channel_churn_does_not_grow_the_configuration() {
        let nats = fixture().await;
        let churner = nats.bus(&Keypair::from_seed(1)).await;
        let reader = nats.bus(&Keypair::from_seed(3)).await;
        nats.bus(&Keypair::from_seed(4)).await;
        let kept = subject("agora.stream.1.a.7.input");
        churner.create(&kept, ChannelSpec::default()).await.unwrap();
        let churned: Vec<Subject> = (0..3)
            .map(|i| subject(&format!("agora.stream.1.a.{i}.app")))
            .collect();
        for ch in &churned {
            churner.create(ch, ChannelSpec::default()).await.unwrap();
            churner
                .grant(ch, reader.principal(), Access::Subscribe)
                .await
                .unwrap();
            churner.delete(ch).await.unwrap();
        }
        nats.bus(&Keypair::from_seed(5)).await;
        let config = nats.authority.config();
        for ch in churned.iter().chain([&kept]) {
            assert!(!config.contains(ch.as_str()), "{ch} still in\n{config}");
        }
    }

    /// A JetStream API call the caller is allowed to make, which must succeed.
    async fn js_api_answer(client: &async_nats::Client, what: &str, body: String) {
        let reply = client
            .request(format!("$JS.API.{what}"), body.into())
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert!(answer.get("error").is_none(), "{what}: {answer}");
    }

    /// The JetStream API, as each user reaches it in its own account, answers `request` or
    /// refuses it (a denied publish gets no reply: a bounded wait says so).
    async fn js_request(client: &async_nats::Client, what: String, body: &'static str) {
        let request = client.request(format!("$JS.API.{what}"), body.into());
        match tokio::time::timeout(std::time::Duration::from_secs(2), request).await {
            Ok(Ok(reply)) => eprintln!("{what}: {}", String::from_utf8_lossy(&reply.payload)),
            Ok(Err(e)) => eprintln!("{what}: {e}"),
            Err(_) => eprintln!("{what}: no reply"),
        }
    }

    /// A server with a customer, a supplier and a mediator, and slot 0's output channel:
    /// written by the supplier, read by the mediator, held in the customer's account (A22).
    async fn output_channel() -> (Nats, [NatsBus; 3], Subject) {
        let nats = fixture().await;
        let customer = nats.bus(&Keypair::from_seed(1)).await;
        let supplier = nats.bus(&Keypair::from_seed(2)).await;
        let mediator = nats.bus(&Keypair::from_seed(3)).await;
        let out = subject("agora.stream.1.a.7.output.0");
        let grants = [
            (supplier.principal(), Access::Publish),
            (mediator.principal(), Access::Subscribe),
        ];
        customer
            .create_with(&out, ChannelSpec::default(), &grants)
            .await
            .unwrap();
        (nats, [customer, supplier, mediator], out)
    }

    /// The customer holds the suppliers' output channels (A22) and every stakeholder's user
    /// may call the JetStream API in its account to create and delete its streams; neither it
    /// nor anyone else may quietly erase, purge or reconfigure a stored message through it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_no_one_quietly_erases_a_stored_message() {
        let (_nats, [customer, supplier, mediator], out) = output_channel().await;
        supplier.publish(&out, b"count=4".to_vec()).await.unwrap();
        let stream = out.stream_name();
        let update = r#"{"name":"agora-stream-1-a-7-output-0","subjects":["agora.stream.1.a.7.output.0"],"allow_direct":false,"storage":"file"}"#;
        let attempts = [&customer, &supplier, &mediator].map(|party| {
            let client = party.client();
            futures::future::join3(
                js_request(
                    client,
                    format!("STREAM.MSG.DELETE.{stream}"),
                    r#"{"seq":1}"#,
                ),
                js_request(client, format!("STREAM.PURGE.{stream}"), "{}"),
                js_request(client, format!("STREAM.UPDATE.{stream}"), update),
            )
        });
        futures::future::join_all(attempts).await;
        let kept = mediator.fetch(&out, 1).await.unwrap();
        assert_eq!(
            (kept.publisher, kept.payload),
            (supplier.principal(), b"count=4".to_vec())
        );
    }

    /// Headers a publisher sets travel with its message; the server appends its own after
    /// them. Neither the customer (a stream of its own re-publishing onto an output's log,
    /// posing as that output's stream) nor a writer (a forged `Nats-Sequence`) may change what
    /// readers take as a channel's message or last seq.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_forged_stream_headers_do_not_reach_readers() {
        let (_nats, [customer, supplier, mediator], out) = output_channel().await;
        let mut sub = mediator
            .subscribe(&Filter::from(&out), Start::Beginning)
            .await
            .unwrap();
        let forged = |seq: &str| {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Stream", out.stream_name().as_str());
            headers.insert("Nats-Subject", out.as_str());
            headers.insert("Nats-Sequence", seq);
            headers
        };
        let rogue = format!(
            r#"{{"name":"rogue","subjects":["agora.rogue"],"storage":"file","republish":{{"src":"agora.rogue","dest":"agora_log.{out}"}}}}"#
        );
        let customer_raw = customer.client();
        js_api_answer(customer_raw, "STREAM.CREATE.rogue", rogue).await;
        let fake = Envelope::sign(&Keypair::from_seed(1), &out, 1, b"nothing".to_vec());
        customer_raw
            .request_with_headers("agora.rogue", forged("1"), fake.encode().into())
            .await
            .unwrap();
        supplier.publish(&out, b"count=4".to_vec()).await.unwrap();
        let first = next_ok(&mut sub).await;
        assert_eq!(
            (first.publisher, first.payload),
            (supplier.principal(), b"count=4".to_vec())
        );

        let second = Envelope::sign(&Keypair::from_seed(2), &out, 2, b"count=5".to_vec());
        supplier
            .client()
            .request_with_headers(
                format!("agora_pub.{out}"),
                forged("1000000"),
                second.encode().into(),
            )
            .await
            .unwrap();
        assert_eq!(mediator.last_seq(&out).await.unwrap(), 2);
        assert_eq!(next_ok(&mut sub).await, second);
    }

    /// A mediator reads many customers' channels through one wildcard; one customer deleting
    /// its stream past the authority must not stop that subscription for the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_one_vanished_stream_does_not_break_a_wildcard_reader() {
        let nats = fixture().await;
        let saboteur = nats.bus(&Keypair::from_seed(1)).await;
        let customer = nats.bus(&Keypair::from_seed(2)).await;
        let mediator = nats.bus(&Keypair::from_seed(3)).await;
        let [broken, kept] = ["agora.stream.1.a.7.input", "agora.stream.1.a.8.input"].map(subject);
        for (owner, ch) in [(&saboteur, &broken), (&customer, &kept)] {
            owner
                .create_with(
                    ch,
                    ChannelSpec::default(),
                    &[(mediator.principal(), Access::Subscribe)],
                )
                .await
                .unwrap();
            owner.publish(ch, b"frame".to_vec()).await.unwrap();
        }
        let delete = format!("STREAM.DELETE.{}", broken.stream_name());
        js_api_answer(saboteur.client(), &delete, "{}".into()).await;
        let mut all = mediator
            .subscribe(
                &Filter::new("agora.stream.1.a.>").unwrap(),
                Start::Beginning,
            )
            .await
            .unwrap();
        let first = next_ok(&mut all).await;
        assert_eq!(
            (first.subject, first.publisher),
            (kept.to_string(), customer.principal())
        );
    }

    /// A user calling the JetStream API itself, past the authority, still cannot hold more
    /// streams than its channel quota: the server enforces it per account.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_raw_stream_creation_stays_within_the_quota() {
        let nats = fixture_with_quota(conformance::QUOTA).await;
        let attacker = nats.bus(&Keypair::from_seed(4)).await;
        let mut created = 0;
        for i in 0..=conformance::QUOTA {
            let config =
                format!(r#"{{"name":"raw{i}","subjects":["agora.raw.{i}"],"storage":"file"}}"#);
            let reply = attacker
                .client()
                .request(format!("$JS.API.STREAM.CREATE.raw{i}"), config.into())
                .await;
            if let Ok(reply) = reply {
                let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
                created += usize::from(answer.get("error").is_none());
            }
        }
        assert_eq!(created, conformance::QUOTA);
    }

    /// Reaching the NATS port is not enough: a key the authority never registered, or no key,
    /// is refused at login (the configuration has no anonymous user).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_unregistered_keys_cannot_log_in() {
        let nats = fixture().await;
        nats.bus(&Keypair::from_seed(1)).await;
        let stranger = nkeys::KeyPair::new_user().seed().unwrap();
        let as_stranger = async_nats::ConnectOptions::with_nkey(stranger)
            .connect(nats.authority.url())
            .await;
        assert!(as_stranger.is_err(), "a stranger logged in");
        let anonymous = async_nats::connect(nats.authority.url()).await;
        assert!(anonymous.is_err(), "an anonymous client logged in");
    }

    /// A lost connection reaches readers and writers as an error, not as silence.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_server_surfaces_as_errors() {
        let nats = fixture().await;
        let customer = nats.bus(&Keypair::from_seed(1)).await;
        let ch = input();
        customer.create(&ch, ChannelSpec::default()).await.unwrap();
        let mut sub = customer
            .subscribe(&Filter::from(&ch), Start::New)
            .await
            .unwrap();
        nats.authority.shutdown().await.unwrap();
        match sub.next().await {
            Some(Err(BusError::Disconnected(_))) => {}
            other => panic!("expected a disconnection, got {other:?}"),
        }
        let publish = customer.publish(&ch, b"lost".to_vec()).await;
        assert!(
            matches!(publish, Err(BusError::Disconnected(_))),
            "{publish:?}"
        );
    }

    /// A reader that falls thousands of messages behind loses none: the client drops what
    /// overflows its bounded buffer and the subscription fetches it back by seq, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_reader_misses_nothing() {
        let nats = fixture().await;
        let customer = nats.bus(&Keypair::from_seed(1)).await;
        let supplier = nats.bus(&Keypair::from_seed(2)).await;
        let ch = input();
        customer.create(&ch, ChannelSpec::default()).await.unwrap();
        customer
            .grant(&ch, supplier.principal(), Access::Subscribe)
            .await
            .unwrap();
        let mut sub = supplier
            .subscribe(&Filter::from(&ch), Start::New)
            .await
            .unwrap();
        const MESSAGES: u64 = 3000;
        for i in 0..MESSAGES {
            customer
                .publish(&ch, i.to_be_bytes().to_vec())
                .await
                .unwrap();
        }
        for seq in 1..=MESSAGES {
            let m = next_ok(&mut sub).await;
            assert_eq!((m.seq, m.payload), (seq, (seq - 1).to_be_bytes().to_vec()));
        }
    }
}
