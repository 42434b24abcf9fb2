//! Conformance items a hostile stakeholder probes: names it may not take, limits it may not
//! lift, quotas it may not exceed.

use super::{denied, input, next_ok, offers, open, parties, subject, Fixture};
use agora_channels::catalogue::AllocationChannels;
use agora_channels::{Access, BusError, ChannelSpec, Filter, Start, Subject, MAX_PAYLOAD};

/// Nobody opens a market channel that names another account (its offers, allocations or
/// accepts), which would make the squatter its owner; the named account still can.
pub async fn attack_squatting_another_accounts_market_channels(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let victim = p.customer.principal();
    let squatted = [
        offers(p.customer.as_ref(), "customer"),
        subject(&format!("agora.stream.1.allocations.{victim}")),
        subject(&format!("agora.stream.1.accept.{victim}")),
        subject(&format!("agora.stream.1.accept.{victim}.x")),
    ];
    for ch in &squatted {
        let result = p.outsider.create(ch, ChannelSpec::public()).await;
        assert!(
            matches!(result, Err(BusError::NotOwner { .. })),
            "{ch}: {result:?}"
        );
    }
    for ch in &squatted[..3] {
        p.customer.create(ch, ChannelSpec::public()).await.unwrap();
        p.customer.publish(ch, b"mine".to_vec()).await.unwrap();
    }
    denied(p.outsider.publish(&squatted[0], b"fake".to_vec()).await);
}

/// A channel's limits bound what it can cost its broker: no unlimited message count (NATS reads
/// 0 as unlimited) and no payload beyond what every backend carries.
pub async fn attack_unbounded_channel_specs_refused(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let unbounded = [
        ChannelSpec {
            max_msgs: 0,
            ..ChannelSpec::default()
        },
        ChannelSpec {
            max_payload: u32::MAX,
            ..ChannelSpec::default()
        },
        ChannelSpec {
            max_payload: MAX_PAYLOAD + 1,
            ..ChannelSpec::public()
        },
    ];
    for spec in unbounded {
        let result = p.customer.create(&input(), spec).await;
        assert!(
            matches!(result, Err(BusError::InvalidSpec(_))),
            "{spec:?}: {result:?}"
        );
    }
    let largest = ChannelSpec {
        max_msgs: 1,
        max_payload: MAX_PAYLOAD,
        ..ChannelSpec::default()
    };
    p.customer.create(&input(), largest).await.unwrap();
    let payload = vec![7; MAX_PAYLOAD as usize];
    p.customer.publish(&input(), payload.clone()).await.unwrap();
    assert_eq!(
        p.customer.fetch(&input(), 1).await.unwrap().payload,
        payload
    );
}

/// One principal cannot open channels without bound (each costs the broker memory and, on
/// NATS, a stream and a reload for everyone): past its quota, creation is refused, and
/// deleting one frees a place. Run on a broker whose quota is [`QUOTA`].
pub async fn attack_creating_channels_without_bound(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let channels: Vec<Subject> = (0..=QUOTA)
        .map(|a| subject(&format!("agora.stream.1.a.{a}.input")))
        .collect();
    for ch in &channels[..QUOTA] {
        p.customer.create(ch, ChannelSpec::default()).await.unwrap();
    }
    let over = p
        .customer
        .create(&channels[QUOTA], ChannelSpec::default())
        .await;
    assert!(
        matches!(over, Err(BusError::Quota { max: QUOTA, .. })),
        "{over:?}"
    );
    p.outsider
        .create(&channels[QUOTA], ChannelSpec::default())
        .await
        .unwrap();
    p.customer.delete(&channels[0]).await.unwrap();
    p.customer
        .create(&channels[0], ChannelSpec::default())
        .await
        .unwrap();
}

/// The channel quota of the brokers [`attack_creating_channels_without_bound`] runs on.
pub const QUOTA: usize = 3;

/// In a dispute the customer is the supplier's adversary: it must not revoke, delete, read or
/// write the supplier's evidence for the mediator (`.mediation.<slot>`).
pub async fn attack_customer_silencing_a_suppliers_evidence(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let channels = AllocationChannels::new(1, 7, 1);
    let spec = ChannelSpec::default();
    let mediator = p.mediator.principal();
    channels
        .open(
            p.customer.as_ref(),
            &[p.supplier.principal()],
            mediator,
            spec,
        )
        .await
        .unwrap();
    channels
        .open_evidence(p.supplier.as_ref(), 0, mediator, spec)
        .await
        .unwrap();
    let evidence = &channels.mediation_suppliers[0];
    let revoke = p
        .customer
        .revoke(evidence, p.supplier.principal(), Access::Publish)
        .await;
    assert!(
        matches!(revoke, Err(BusError::NotOwner { .. })),
        "{revoke:?}"
    );
    let delete = p.customer.delete(evidence).await;
    assert!(
        matches!(delete, Err(BusError::NotOwner { .. })),
        "{delete:?}"
    );
    denied(p.customer.publish(evidence, b"filler".to_vec()).await);
    p.supplier
        .publish(evidence, b"evidence".to_vec())
        .await
        .unwrap();
    denied(p.customer.fetch(evidence, 1).await);
    let got = p.mediator.fetch(evidence, 1).await.unwrap();
    assert_eq!(
        (got.publisher, got.payload),
        (p.supplier.principal(), b"evidence".to_vec())
    );
    channels.close(p.customer.as_ref()).await.unwrap();
    channels
        .close_evidence(p.supplier.as_ref(), 0)
        .await
        .unwrap();
}

/// A reader whose right is withdrawn gets nothing more from that channel through a wildcard
/// subscription either (which goes on with what it may still read), nor by asking from seq 1
/// again.
pub async fn attack_revoked_reader_behind_a_wildcard(fixture: &dyn Fixture) {
    let p = parties(fixture).await;
    let ch = input();
    let market = offers(p.customer.as_ref(), "customer");
    p.customer
        .create(&market, ChannelSpec::public())
        .await
        .unwrap();
    open(
        p.customer.as_ref(),
        &ch,
        &[(p.supplier.as_ref(), Access::Subscribe)],
    )
    .await;
    let all = Filter::new("agora.stream.1.>").unwrap();
    let mut sub = p.supplier.subscribe(&all, Start::New).await.unwrap();
    p.customer.publish(&ch, b"m1".to_vec()).await.unwrap();
    assert_eq!(next_ok(&mut sub).await.payload, b"m1");

    p.customer
        .revoke(&ch, p.supplier.principal(), Access::Subscribe)
        .await
        .unwrap();
    p.customer.publish(&ch, b"secret".to_vec()).await.unwrap();
    p.customer
        .publish(&market, b"marker".to_vec())
        .await
        .unwrap();
    let next = next_ok(&mut sub).await;
    assert_eq!(
        (next.subject, next.payload),
        (market.to_string(), b"marker".to_vec())
    );
    let mut again = p.supplier.subscribe(&all, Start::Beginning).await.unwrap();
    let first = next_ok(&mut again).await;
    assert_eq!(first.subject, market.to_string());
}
