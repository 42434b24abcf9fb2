//! A validator on a real network: Commonware's authenticated `lookup` p2p (encrypted,
//! mutually authenticated connections to a fixed set of peers at known addresses).

use crate::{
    application::{Application, Ledger, TxPool},
    engine::{Config, Engine, EngineError, Timeouts},
};
use agora_types::{ValidatorKey, MAX_BLOCK_BYTES};
use commonware_consensus::marshal;
use commonware_cryptography::{ed25519, Signer};
use commonware_p2p::{authenticated::lookup, Address, AddressableManager};
use commonware_runtime::{tokio, Metrics};
use commonware_utils::{
    ordered::{Map, Set},
    NZU32,
};
use futures::future::try_join_all;
use governor::Quota;
use std::{net::SocketAddr, time::Duration};
use tracing::error;

const VOTES: u64 = 0;
const CERTIFICATES: u64 = 1;
const RESOLVER: u64 = 2;
const BROADCAST: u64 = 3;
const BACKFILL: u64 = 4;

/// Rate limits sized for a chain that cuts a block every few tens of milliseconds.
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));
const BACKLOG: usize = 4_096;
const MAILBOX: usize = 16_384;
/// The largest p2p message: a full block plus room for certificates.
const MAX_MESSAGE_SIZE: u32 = (MAX_BLOCK_BYTES + 64 * 1024) as u32;
const P2P_NAMESPACE: &[u8] = b"agora-p2p-v1";

/// Where this validator listens and where every validator is.
pub struct NetworkConfig {
    pub signer: ed25519::PrivateKey,
    pub listen: SocketAddr,
    /// Every validator (this one included) and its p2p address.
    pub validators: Vec<(ValidatorKey, SocketAddr)>,
}

/// Runs one validator until one of its actors stops.
pub async fn run_validator<T: TxPool, L: Ledger>(
    context: tokio::Context,
    network: NetworkConfig,
    application: Application<T, L>,
    timeouts: Timeouts,
) -> Result<(), EngineError> {
    let me = network.signer.public_key();
    let mut p2p = lookup::Config::local(
        network.signer.clone(),
        P2P_NAMESPACE,
        network.listen,
        MAX_MESSAGE_SIZE,
    );
    p2p.mailbox_size = MAILBOX;
    let (mut net, mut oracle) = lookup::Network::new(context.with_label("network"), p2p);
    let peers: Map<ValidatorKey, Address> = Map::from_iter_dedup(
        network
            .validators
            .iter()
            .map(|(key, addr)| (key.clone(), Address::Symmetric(*addr))),
    );
    oracle.track(0, peers).await;
    let votes = net.register(VOTES, QUOTA, BACKLOG);
    let certificates = net.register(CERTIFICATES, QUOTA, BACKLOG);
    let resolver = net.register(RESOLVER, QUOTA, BACKLOG);
    let broadcast = net.register(BROADCAST, QUOTA, BACKLOG);
    let backfill = net.register(BACKFILL, QUOTA, BACKLOG);
    let net = net.start();

    let validators = Set::from_iter_dedup(network.validators.into_iter().map(|(k, _)| k));
    let engine = Engine::new(
        context.with_label("engine"),
        Config {
            signer: network.signer,
            validators,
            blocker: oracle.clone(),
            provider: oracle.clone(),
            partition_prefix: "agora".into(),
            application,
            timeouts,
            mailbox_size: MAILBOX,
        },
    )
    .await?;
    let backfill = marshal::resolver::p2p::init(
        &context.with_label("backfill"),
        marshal::resolver::p2p::Config {
            public_key: me,
            peer_provider: oracle.clone(),
            blocker: oracle,
            mailbox_size: MAILBOX,
            initial: Duration::from_millis(200),
            timeout: Duration::from_secs(2),
            fetch_retry_timeout: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );
    let engine = engine.start(votes, certificates, resolver, broadcast, backfill);
    if let Err(e) = try_join_all(vec![net, engine]).await {
        error!(?e, "validator task failed");
    }
    Ok(())
}
