//! The conformance suite every [`Bus`] backend passes (spec §5.3, §5.5 last item): one function
//! per guarantee, run against a fresh broker each by `conformance_tests!`.

use agora_channels::catalogue::AllocationChannels;
use agora_channels::{
    Access, Bus, BusError, ChannelSpec, Envelope, Filter, Published, Start, Subject,
};
use agora_types::Keypair;
use async_trait::async_trait;

mod attacks;
pub use attacks::*;

/// A fresh broker that hands out handles acting for given keys.
#[async_trait]
pub trait Fixture: Send + Sync {
    async fn connect(&self, key: &Keypair) -> Box<dyn Bus>;
}

/// The stakeholders of one allocation, and an outsider.
pub struct Parties {
    pub customer: Box<dyn Bus>,
    pub supplier: Box<dyn Bus>,
    pub mediator: Box<dyn Bus>,
    pub outsider: Box<dyn Bus>,
}

pub async fn parties(fixture: &dyn Fixture) -> Parties {
    Parties {
        customer: fixture.connect(&Keypair::from_seed(1)).await,
        supplier: fixture.connect(&Keypair::from_seed(2)).await,
        mediator: fixture.connect(&Keypair::from_seed(3)).await,
        outsider: fixture.connect(&Keypair::from_seed(4)).await,
    }
}

pub fn subject(name: &str) -> Subject {
    Subject::new(name).unwrap()
}

pub fn input() -> Subject {
    subject("agora.stream.1.a.7.input")
}

fn offers(bus: &dyn Bus, role: &str) -> Subject {
    subject(&format!("agora.stream.1.offers.{role}.{}", bus.principal()))
}

/// `owner` creates `ch` and grants each listed right.
pub async fn open(owner: &dyn Bus, ch: &Subject, grants: &[(&dyn Bus, Access)]) {
    owner.create(ch, ChannelSpec::default()).await.unwrap();
    for (who, access) in grants {
        owner.grant(ch, who.principal(), *access).await.unwrap();
    }
}

/// The next message, which must be a message (not an error, not the end).
pub async fn next_ok(sub: &mut agora_channels::Subscription) -> Envelope {
    match sub.next().await {
        Some(Ok(envelope)) => envelope,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn denied(result: Result<impl std::fmt::Debug, BusError>) {
    assert!(
        matches!(result, Err(BusError::Denied { .. })),
        "expected Denied, got {result:?}"
    );
}

/// Without a grant a party can neither write nor read a channel, and only the owner changes it.
pub async fn denies_without_grant(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    open(p.customer.as_ref(), &ch, &[]).await;
    p.customer.publish(&ch, b"secret".to_vec()).await.unwrap();

    denied(p.outsider.publish(&ch, b"spam".to_vec()).await);
    let own = Envelope::sign(&Keypair::from_seed(4), &ch, 2, b"spam".to_vec());
    denied(p.outsider.publish_envelope(&own).await);
    denied(
        p.outsider
            .subscribe(&Filter::from(&ch), Start::Beginning)
            .await
            .map(|_| ()),
    );
    denied(p.outsider.fetch(&ch, 1).await);
    let grant = p
        .outsider
        .grant(&ch, p.outsider.principal(), Access::Subscribe)
        .await;
    assert!(matches!(grant, Err(BusError::NotOwner { .. })), "{grant:?}");
    let delete = p.outsider.delete(&ch).await;
    assert!(
        matches!(delete, Err(BusError::NotOwner { .. })),
        "{delete:?}"
    );

    // A wildcard reader sees the public marker published after the secret, never the secret.
    let market = offers(p.customer.as_ref(), "customer");
    p.customer
        .create(&market, ChannelSpec::public())
        .await
        .unwrap();
    let mut all = p
        .outsider
        .subscribe(&Filter::new("agora.stream.1.>").unwrap(), Start::Beginning)
        .await
        .unwrap();
    p.customer
        .publish(&market, b"marker".to_vec())
        .await
        .unwrap();
    let first = next_ok(&mut all).await;
    assert_eq!(
        (first.subject.as_str(), &first.payload[..]),
        (market.as_str(), &b"marker"[..])
    );
    assert_eq!(p.customer.last_seq(&ch).await.unwrap(), 1);
}

/// Rights granted while a channel is in use take effect at once, and so do revocations, for
/// open subscriptions too.
pub async fn grant_then_revoke_at_run_time(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    let supplier = p.supplier.principal();
    open(p.customer.as_ref(), &ch, &[]).await;
    p.customer.publish(&ch, b"m1".to_vec()).await.unwrap();

    p.customer
        .grant(&ch, supplier, Access::Subscribe)
        .await
        .unwrap();
    let mut sub = p
        .supplier
        .subscribe(&Filter::from(&ch), Start::Beginning)
        .await
        .unwrap();
    assert_eq!(next_ok(&mut sub).await.payload, b"m1");
    denied(p.supplier.publish(&ch, b"m2".to_vec()).await);

    p.customer
        .grant(&ch, supplier, Access::Publish)
        .await
        .unwrap();
    let published = p.supplier.publish(&ch, b"m2".to_vec()).await.unwrap();
    assert_eq!(published.seq, 2);
    let m2 = next_ok(&mut sub).await;
    assert_eq!((m2.seq, m2.publisher), (2, supplier));

    p.customer
        .revoke(&ch, supplier, Access::Publish)
        .await
        .unwrap();
    p.customer
        .revoke(&ch, supplier, Access::Subscribe)
        .await
        .unwrap();
    denied(p.supplier.publish(&ch, b"m3".to_vec()).await);
    denied(p.supplier.fetch(&ch, 1).await);
    denied(
        p.supplier
            .subscribe(&Filter::from(&ch), Start::Beginning)
            .await
            .map(|_| ()),
    );
    p.customer.publish(&ch, b"after".to_vec()).await.unwrap();
    match sub.next().await {
        Some(Err(_)) | None => {}
        Some(Ok(leak)) => panic!("revoked reader received {leak:?}"),
    }
}

/// A reader joining late replays from the start or from any seq; fetch returns one seq.
pub async fn replay_from_start_and_from_seq(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    open(p.customer.as_ref(), &ch, &[]).await;
    for i in 1..=5u8 {
        p.customer.publish(&ch, vec![i]).await.unwrap();
    }
    p.customer
        .grant(&ch, p.mediator.principal(), Access::Subscribe)
        .await
        .unwrap();
    let filter = Filter::from(&ch);

    let mut all = p
        .mediator
        .subscribe(&filter, Start::Beginning)
        .await
        .unwrap();
    for i in 1..=5u8 {
        let m = next_ok(&mut all).await;
        assert_eq!((m.seq, m.payload.clone()), (i as u64, vec![i]));
        m.verify().unwrap();
    }
    let mut from3 = p.mediator.subscribe(&filter, Start::Seq(3)).await.unwrap();
    for i in 3..=5u8 {
        assert_eq!(next_ok(&mut from3).await.payload, vec![i]);
    }
    assert_eq!(p.mediator.fetch(&ch, 4).await.unwrap().payload, vec![4]);
    let missing = p.mediator.fetch(&ch, 99).await;
    assert!(matches!(missing, Err(BusError::NotFound(_))), "{missing:?}");

    let mut new = p.mediator.subscribe(&filter, Start::New).await.unwrap();
    p.customer.publish(&ch, vec![6]).await.unwrap();
    let m = next_ok(&mut new).await;
    assert_eq!((m.seq, m.payload), (6, vec![6]));
    assert_eq!(next_ok(&mut all).await.seq, 6);
}

/// Two writers race on one channel; two readers see the same single order, seq 1..=n.
pub async fn one_order_for_every_reader(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    let sensor = p.outsider;
    let grants = [
        (sensor.as_ref(), Access::Publish),
        (p.supplier.as_ref(), Access::Subscribe),
        (p.mediator.as_ref(), Access::Subscribe),
    ];
    open(p.customer.as_ref(), &ch, &grants).await;
    let mut first = p
        .supplier
        .subscribe(&Filter::from(&ch), Start::Beginning)
        .await
        .unwrap();
    let mut second = p
        .mediator
        .subscribe(&Filter::from(&ch), Start::New)
        .await
        .unwrap();
    async fn write(bus: &dyn Bus, ch: &Subject, tag: u8) {
        for i in 0..20u8 {
            bus.publish(ch, vec![tag, i]).await.unwrap();
        }
    }
    futures::join!(
        write(p.customer.as_ref(), &ch, 0),
        write(sensor.as_ref(), &ch, 1)
    );

    let mut orders = Vec::new();
    for sub in [&mut first, &mut second] {
        let mut order = Vec::new();
        for seq in 1..=40u64 {
            let m = next_ok(sub).await;
            assert_eq!(m.seq, seq, "gap or repeat");
            order.push((m.publisher, m.payload));
        }
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1]);
    for tag in [0u8, 1] {
        let mine: Vec<u8> = orders[0]
            .iter()
            .filter(|(_, p)| p[0] == tag)
            .map(|(_, p)| p[1])
            .collect();
        assert_eq!(
            mine,
            (0..20).collect::<Vec<_>>(),
            "a writer's own order is kept"
        );
    }
}

/// Deleting a channel (end of retention) removes its log and ends its readers.
pub async fn retention_ends_with_deletion(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    open(
        p.customer.as_ref(),
        &ch,
        &[(p.supplier.as_ref(), Access::Subscribe)],
    )
    .await;
    for i in 0..3u8 {
        p.customer.publish(&ch, vec![i]).await.unwrap();
    }
    let mut sub = p
        .supplier
        .subscribe(&Filter::from(&ch), Start::Beginning)
        .await
        .unwrap();
    for _ in 0..3 {
        next_ok(&mut sub).await;
    }
    p.customer.delete(&ch).await.unwrap();
    match sub.next().await {
        Some(Err(_)) | None => {}
        Some(Ok(m)) => panic!("deleted channel delivered {m:?}"),
    }
    assert!(p.customer.fetch(&ch, 1).await.is_err());
    assert!(p.customer.publish(&ch, vec![9]).await.is_err());
    assert!(p
        .supplier
        .subscribe(&Filter::from(&ch), Start::Beginning)
        .await
        .is_err());

    open(p.customer.as_ref(), &ch, &[]).await;
    assert_eq!(p.customer.last_seq(&ch).await.unwrap(), 0);
    assert_eq!(p.customer.publish(&ch, vec![1]).await.unwrap().seq, 1);
}

/// The same envelope twice is stored once; another envelope at a taken or skipped seq is
/// refused, so a reader never sees two messages with one seq.
pub async fn dedupe_by_subject_and_seq(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    let key = Keypair::from_seed(1);
    open(p.customer.as_ref(), &ch, &[]).await;
    let first = Envelope::sign(&key, &ch, 1, b"one".to_vec());
    let stored = Published {
        seq: 1,
        duplicate: false,
    };
    assert_eq!(p.customer.publish_envelope(&first).await.unwrap(), stored);
    let again = p.customer.publish_envelope(&first).await.unwrap();
    assert_eq!(
        again,
        Published {
            seq: 1,
            duplicate: true
        }
    );

    let equivocation = Envelope::sign(&key, &ch, 1, b"other".to_vec());
    let conflict = p.customer.publish_envelope(&equivocation).await;
    assert!(
        matches!(conflict, Err(BusError::SeqConflict { .. })),
        "{conflict:?}"
    );
    let gap = Envelope::sign(&key, &ch, 3, b"three".to_vec());
    let conflict = p.customer.publish_envelope(&gap).await;
    assert!(
        matches!(conflict, Err(BusError::SeqConflict { .. })),
        "{conflict:?}"
    );
    assert_eq!(p.customer.last_seq(&ch).await.unwrap(), 1);

    p.customer.publish(&ch, b"two".to_vec()).await.unwrap();
    let mut sub = p
        .customer
        .subscribe(&Filter::from(&ch), Start::Beginning)
        .await
        .unwrap();
    assert_eq!(next_ok(&mut sub).await, first);
    let second = next_ok(&mut sub).await;
    assert_eq!((second.seq, second.payload), (2, b"two".to_vec()));
}

/// A full channel refuses the publisher instead of growing; readers still get everything.
pub async fn back_pressure_bounds_memory(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    let spec = ChannelSpec {
        max_msgs: 4,
        max_payload: 16,
        ..ChannelSpec::default()
    };
    p.customer.create(&ch, spec).await.unwrap();
    for i in 0..4u8 {
        p.customer.publish(&ch, vec![i]).await.unwrap();
    }
    let full = p.customer.publish(&ch, vec![4]).await;
    assert!(
        matches!(full, Err(BusError::Full { max: 4, .. })),
        "{full:?}"
    );
    assert_eq!(p.customer.last_seq(&ch).await.unwrap(), 4);
    let mut sub = p
        .customer
        .subscribe(&Filter::from(&ch), Start::Beginning)
        .await
        .unwrap();
    for i in 0..4u8 {
        assert_eq!(next_ok(&mut sub).await.payload, vec![i]);
    }
    let other = subject("agora.stream.1.a.7.app");
    p.customer.create(&other, spec).await.unwrap();
    let big = p.customer.publish(&other, vec![0; 17]).await;
    assert!(
        matches!(big, Err(BusError::TooLarge { size: 17, max: 16 })),
        "{big:?}"
    );
}

/// Envelopes whose signature does not verify, or that another key signed, are refused.
pub async fn forged_signature_refused(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    open(
        p.customer.as_ref(),
        &ch,
        &[(p.supplier.as_ref(), Access::Publish)],
    )
    .await;

    let mut tampered = Envelope::sign(&Keypair::from_seed(2), &ch, 1, b"real".to_vec());
    tampered.payload = b"fake".to_vec();
    let result = p.supplier.publish_envelope(&tampered).await;
    assert!(
        matches!(result, Err(BusError::BadSignature { .. })),
        "{result:?}"
    );

    let mut impostor = Envelope::sign(&Keypair::from_seed(2), &ch, 1, b"as customer".to_vec());
    impostor.publisher = p.customer.principal();
    let result = p.supplier.publish_envelope(&impostor).await;
    assert!(
        matches!(result, Err(BusError::BadSignature { .. })),
        "{result:?}"
    );

    let customers = Envelope::sign(&Keypair::from_seed(1), &ch, 1, b"relayed".to_vec());
    denied(p.supplier.publish_envelope(&customers).await);
    assert_eq!(p.customer.last_seq(&ch).await.unwrap(), 0);
}

/// Public market channels: everyone reads them through one wildcard, only the owner writes.
pub async fn wildcard_subscribe_public_market(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let demand = offers(p.customer.as_ref(), "customer");
    let supply = offers(p.supplier.as_ref(), "supplier");
    p.customer
        .create(&demand, ChannelSpec::public())
        .await
        .unwrap();
    p.supplier
        .create(&supply, ChannelSpec::public())
        .await
        .unwrap();
    p.customer.publish(&demand, b"buy".to_vec()).await.unwrap();
    p.supplier.publish(&supply, b"sell".to_vec()).await.unwrap();
    denied(p.outsider.publish(&demand, b"fake offer".to_vec()).await);

    let filter = Filter::new("agora.stream.1.offers.>").unwrap();
    let mut late = p
        .outsider
        .subscribe(&filter, Start::Beginning)
        .await
        .unwrap();
    let mut got = vec![
        next_ok(&mut late).await.payload,
        next_ok(&mut late).await.payload,
    ];
    got.sort();
    assert_eq!(got, vec![b"buy".to_vec(), b"sell".to_vec()]);

    let mut live = p.mediator.subscribe(&filter, Start::New).await.unwrap();
    p.supplier
        .publish(&supply, b"sell more".to_vec())
        .await
        .unwrap();
    let m = next_ok(&mut live).await;
    assert_eq!(
        (m.subject, m.seq, m.payload),
        (supply.to_string(), 2, b"sell more".to_vec())
    );
    assert_eq!(next_ok(&mut late).await.payload, b"sell more");
    assert_eq!(p.mediator.fetch(&demand, 1).await.unwrap().payload, b"buy");
}

/// An allocation's channels carry the catalogue's rights from signing to close (§5.2, A22):
/// each supplier writes only its own output, which other suppliers cannot read.
pub async fn allocation_rights_follow_the_catalogue(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let second = fixture.connect(&Keypair::from_seed(5)).await;
    let suppliers = [p.supplier.principal(), second.principal()];
    let channels = AllocationChannels::new(1, 7, 2);
    channels
        .open(
            p.customer.as_ref(),
            &suppliers,
            p.mediator.principal(),
            ChannelSpec::default(),
        )
        .await
        .unwrap();
    let [out0, out1] = [&channels.outputs[0], &channels.outputs[1]];
    for (slot, supplier) in [&p.supplier, &second].into_iter().enumerate() {
        channels
            .open_evidence(
                supplier.as_ref(),
                slot,
                p.mediator.principal(),
                ChannelSpec::default(),
            )
            .await
            .unwrap();
    }

    p.customer
        .publish(&channels.input, b"frame".to_vec())
        .await
        .unwrap();
    for reader in [&p.supplier, &second, &p.mediator] {
        assert_eq!(
            reader.fetch(&channels.input, 1).await.unwrap().payload,
            b"frame"
        );
    }
    denied(p.supplier.publish(&channels.input, b"fake".to_vec()).await);
    denied(p.outsider.fetch(&channels.input, 1).await);

    p.supplier.publish(out0, b"count=4".to_vec()).await.unwrap();
    second.publish(out1, b"count=4".to_vec()).await.unwrap();
    denied(second.publish(out0, b"copy".to_vec()).await);
    denied(second.fetch(out0, 1).await);
    denied(p.supplier.fetch(out1, 1).await);
    for reader in [&p.customer, &p.mediator] {
        assert_eq!(reader.fetch(out0, 1).await.unwrap().payload, b"count=4");
    }
    denied(
        p.supplier
            .fetch(&channels.mediation_customer, 1)
            .await
            .map(|_| ()),
    );
    second
        .publish(&channels.mediation_suppliers[1], b"evidence".to_vec())
        .await
        .unwrap();
    let evidence = p
        .mediator
        .fetch(&channels.mediation_suppliers[1], 1)
        .await
        .unwrap();
    assert_eq!(evidence.publisher, second.principal());
    denied(p.supplier.fetch(&channels.mediation_suppliers[1], 1).await);

    channels.close(p.customer.as_ref()).await.unwrap();
    assert!(p.mediator.fetch(out0, 1).await.is_err());
    assert!(p.supplier.publish(out0, b"late".to_vec()).await.is_err());
}

/// One `#[tokio::test]` per guarantee, each on a fresh fixture from `$make().await`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            denies_without_grant, grant_then_revoke_at_run_time, replay_from_start_and_from_seq,
            one_order_for_every_reader, retention_ends_with_deletion, dedupe_by_subject_and_seq,
            back_pressure_bounds_memory, forged_signature_refused, wildcard_subscribe_public_market,
            allocation_rights_follow_the_catalogue,
            attack_squatting_another_accounts_market_channels,
            attack_unbounded_channel_specs_refused, attack_customer_silencing_a_suppliers_evidence,
            attack_revoked_reader_behind_a_wildcard);
    };
    (@each $make:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $make().await;
                conformance::$name(&fixture).await;
            }
        )*
    };
}
