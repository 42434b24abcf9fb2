//! A validator on a real network: Commonware's authenticated `lookup` p2p (encrypted,
//! mutually authenticated connections to a fixed set of peers at known addresses), with the
//! recommended settings and a rate limit per channel sized to what each carries.

use crate::{
    application::{Application, Ledger, TxPool},
    engine::{Config, Engine, EngineError, Timeouts},
    execution::Execution,
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
use futures::FutureExt;
use governor::Quota;
use std::{net::SocketAddr, time::Duration};
use tracing::error;

/// A p2p channel and the messages per second one peer may send on it. A chain cuts at most a
/// block every 20 ms (50 per second, each proposer a share of them): votes and certificates are
/// small and a few per view, blocks up to [`MAX_BLOCK_BYTES`] and one per view, fetches rarer.
struct Channel {
    id: u64,
    quota: Quota,
}

const VOTES: Channel = Channel {
    id: 0,
    quota: Quota::per_second(NZU32!(1_000)),
};
const CERTIFICATES: Channel = Channel {
    id: 1,
    quota: Quota::per_second(NZU32!(1_000)),
};
const RESOLVER: Channel = Channel {
    id: 2,
    quota: Quota::per_second(NZU32!(200)),
};
/// Full blocks (up to 4 MiB each): 64 a second is above what one proposer can cut.
const BROADCAST: Channel = Channel {
    id: 3,
    quota: Quota::per_second(NZU32!(64)),
};
/// Marshal's block and certificate fetches, used to catch up.
const BACKFILL: Channel = Channel {
    id: 4,
    quota: Quota::per_second(NZU32!(200)),
};

const BACKLOG: usize = 4_096;
const MAILBOX: usize = 16_384;
/// The largest p2p message: a full block plus room for certificates.
const MAX_MESSAGE_SIZE: u32 = (MAX_BLOCK_BYTES + 64 * 1024) as u32;
/// The recommended setting allows one reconnection per peer a minute; a restarted validator
/// would then wait up to a minute to rejoin. Peers are the genesis's validators only.
const RECONNECT_QUOTA: Quota = Quota::per_second(NZU32!(1));

/// Domain separation for the p2p handshake, bound to the chain like consensus signatures.
pub fn p2p_namespace(chain_id: &str) -> Vec<u8> {
    [b"agora-p2p-v1/".as_slice(), chain_id.as_bytes()].concat()
}

/// Where this validator listens and where every validator is.
pub struct NetworkConfig {
    pub chain_id: String,
    pub signer: ed25519::PrivateKey,
    pub listen: SocketAddr,
    /// Every validator (this one included) and its p2p address.
    pub validators: Vec<(ValidatorKey, SocketAddr)>,
}

/// Runs one validator until one of its actors stops.
pub async fn run_validator<T: TxPool, L: Ledger>(
    context: tokio::Context,
    network: NetworkConfig,
    (application, execution): (Application<T, L>, Execution<L>),
    timeouts: Timeouts,
) -> Result<(), EngineError> {
    let me = network.signer.public_key();
    let mut p2p = lookup::Config::recommended(
        network.signer.clone(),
        &p2p_namespace(&network.chain_id),
        network.listen,
        MAX_MESSAGE_SIZE,
    );
    p2p.mailbox_size = MAILBOX;
    p2p.allowed_connection_rate_per_peer = RECONNECT_QUOTA;
    // A chain whose validators all sit on private or loopback addresses (a devnet) must be
    // allowed to dial them; a public chain keeps refusing private addresses.
    p2p.allow_private_ips = network.validators.iter().all(|(_, addr)| !is_public(addr));
    let (mut net, mut oracle) = lookup::Network::new(context.with_label("network"), p2p);
    let peers: Map<ValidatorKey, Address> = Map::from_iter_dedup(
        network
            .validators
            .iter()
            .map(|(key, addr)| (key.clone(), Address::Symmetric(*addr))),
    );
    oracle.track(0, peers).await;
    let mut register = |c: Channel| net.register(c.id, c.quota, BACKLOG);
    let votes = register(VOTES);
    let certificates = register(CERTIFICATES);
    let resolver = register(RESOLVER);
    let broadcast = register(BROADCAST);
    let backfill = register(BACKFILL);
    let net = net.start();

    let validators = Set::from_iter_dedup(network.validators.into_iter().map(|(k, _)| k));
    let engine = Engine::new(
        context.with_label("engine"),
        Config {
            chain_id: network.chain_id,
            signer: network.signer,
            validators,
            blocker: oracle.clone(),
            provider: oracle.clone(),
            partition_prefix: "agora".into(),
            application,
            execution,
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
    futures::select! {
        result = engine.fuse() => result.unwrap_or(Err(EngineError::Stopped)),
        result = net.fuse() => {
            if let Err(e) = result {
                error!(?e, "p2p network stopped");
            }
            Err(EngineError::Stopped)
        },
    }
}

fn is_public(addr: &SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => {
            !(ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified())
        }
        std::net::IpAddr::V6(ip) => {
            !(ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00)
        }
    }
}
