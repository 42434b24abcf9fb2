//! The permission table applied from the ledger's record: each party gets exactly its rights
//! while the allocation is open on the ledger, and loses them when it closes.

use super::*;
use agora_stream::{Slot, StreamParams, Terms};

fn key(seed: u64) -> Keypair {
    Keypair::from_seed(seed)
}

/// The ledger's record of allocation 7 in market 1, customer key 1, mediator key 2, suppliers
/// keys 3 and 4.
fn allocation(state: State) -> Allocation {
    let terms = Terms {
        customer: key(1).address(),
        mediator: key(2).address(),
        customer_offer: [0; 32],
        service: [0; 32],
        start_ms: 1_000,
        end_ms: 2_000,
        rate_milli: 24_000,
        instructions: 1,
        price: 1,
        replicas: 2,
    };
    let params = StreamParams {
        penalty_rate: 20,
        allocator_fee: 0,
        mediator_fee: 0,
        sign_timeout_ms: 1,
        reveal_timeout_ms: 1,
        post_timeout_ms: 1,
        mediation_timeout_ms: 1,
        supplier_timeout_fine_bps: 10_000,
        customer_timeout_fine_bps: 10_000,
        max_replicas: 4,
        max_checks: 16,
        max_open_per_allocator: 4,
    };
    let derived = agora_stream::terms::derive(&params, &terms).unwrap();
    let slot = |k: u64| Slot {
        supplier: key(k).address(),
        offer: [k as u8; 32],
        hold: None,
        gamma: None,
        matches: false,
    };
    Allocation {
        market: 1,
        id: 7,
        allocator: key(9).address(),
        terms,
        derived,
        created_ms: 0,
        state,
        outcome: None,
        terms_hash: None,
        mediator_signed: false,
        escrow_hold: None,
        deposit_hold: None,
        commitments: Vec::new(),
        revealed: false,
        slots: vec![slot(3), slot(4)],
        mediation: None,
    }
}

async fn can_read(bus: &dyn Bus, subject: &Subject) -> bool {
    bus.subscribe(&Filter::from(subject), Start::Beginning)
        .await
        .is_ok()
}

async fn can_write(bus: &dyn Bus, subject: &Subject) -> bool {
    bus.publish(subject, b"x".to_vec()).await.is_ok()
}

#[tokio::test]
async fn rights_follow_the_ledger_from_signing_to_close() {
    let network = Network::embedded();
    let keys = [1, 2, 3, 4, 5].map(key);
    let [customer, mediator, s0, s1, outsider] =
        futures::future::try_join_all(keys.iter().map(|k| network.connect(k)))
            .await
            .unwrap()
            .try_into()
            .unwrap_or_else(|_| unreachable!());
    let mut channels = AllocationBus::new(&allocation(State::Allocated));
    let c = channels.channels.clone();
    // Before the ledger fixes the parties nothing exists, so nobody reads or writes.
    channels
        .follow(&*customer, &allocation(State::Allocated))
        .await
        .unwrap();
    assert!(!can_read(&*s0, &c.input).await);
    channels
        .follow(&*customer, &allocation(State::Signing))
        .await
        .unwrap();
    // Open: each supplier reads the input and writes its own output only; the customer and
    // mediator read outputs; the other supplier does not; an outsider does nothing.
    assert!(can_read(&*s0, &c.input).await && can_read(&*mediator, &c.input).await);
    assert!(can_write(&*s0, &c.outputs[0]).await);
    assert!(!can_write(&*s0, &c.outputs[1]).await);
    assert!(!can_read(&*s1, &c.outputs[0]).await);
    assert!(can_read(&*customer, &c.outputs[0]).await && can_read(&*mediator, &c.outputs[0]).await);
    assert!(!can_write(&*s0, &c.input).await);
    assert!(can_read(&*mediator, &c.mediation_customer).await);
    assert!(!can_read(&*s0, &c.mediation_customer).await);
    for subject in [
        &c.input,
        &c.outputs[0],
        &c.outputs[1],
        &c.mediation_customer,
    ] {
        assert!(!can_read(&*outsider, subject).await, "{subject}");
        assert!(!can_write(&*outsider, subject).await, "{subject}");
    }
    // Running changes nothing; a supplier's open subscription ends when the ledger closes the
    // allocation, and every right is gone with the channels.
    channels
        .follow(&*customer, &allocation(State::Running))
        .await
        .unwrap();
    let mut reading = s0
        .subscribe(&Filter::from(&c.input), Start::Beginning)
        .await
        .unwrap();
    channels
        .follow(&*customer, &allocation(State::Closed))
        .await
        .unwrap();
    assert!(matches!(reading.next().await, Some(Err(_))));
    for bus in [&s0, &s1, &mediator, &outsider] {
        assert!(!can_read(&**bus, &c.input).await);
        assert!(!can_write(&**bus, &c.outputs[0]).await);
        assert!(!can_write(&**bus, &c.outputs[1]).await);
    }
    // A closed allocation is not opened again by a stale view.
    channels
        .follow(&*customer, &allocation(State::Running))
        .await
        .unwrap();
    assert!(!can_read(&*s0, &c.input).await);
    // One message was stored: supplier 0's output, before the close.
    assert_eq!(network.messages(), 1);
}

/// Only the allocation's customer follows it: another account cannot open (and so own) the
/// channels the ledger gives the customer.
#[tokio::test]
async fn only_the_customer_opens_its_allocation() {
    let network = Network::embedded();
    let supplier = network.connect(&key(3)).await.unwrap();
    let signing = allocation(State::Signing);
    let mut channels = AllocationBus::new(&signing);
    assert!(matches!(
        channels.follow(&*supplier, &signing).await,
        Err(BusError::NotOwner { .. })
    ));
}

#[tokio::test]
async fn a_reader_waits_for_the_owner_to_open_the_channel() {
    let network = Network::embedded();
    let (customer, supplier) = (
        network.connect(&key(1)).await.unwrap(),
        network.connect(&key(3)).await.unwrap(),
    );
    let c = AllocationBus::new(&allocation(State::Signing));
    // Never opened: gives up at the deadline.
    assert!(
        subscribe_when_open(&*supplier, &c.channels.input, super::super::now_ms())
            .await
            .unwrap()
            .is_none()
    );
    let waiting = subscribe_when_open(&*supplier, &c.channels.input, u64::MAX);
    let opening = async {
        let mut c = AllocationBus::new(&allocation(State::Signing));
        c.follow(&*customer, &allocation(State::Signing))
            .await
            .unwrap();
        send(
            &*customer,
            &c.channels.input,
            &vec![(0u64, b"frame".to_vec())],
        )
        .await
        .unwrap();
    };
    let (subscription, ()) = futures::join!(waiting, opening);
    let envelope = subscription
        .unwrap()
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();
    let frames: Frames = open(&envelope, &customer.principal()).unwrap();
    assert_eq!(frames, vec![(0, b"frame".to_vec())]);
    // The same message attributed to anyone else is refused.
    assert!(open::<Frames>(&envelope, &supplier.principal()).is_err());
}
