//! Wires simplex, marshal and the block buffer into one validator, over any Commonware runtime
//! (tokio for real nodes, the deterministic runtime for simulations).

use crate::{
    application::{Ledger, EPOCH},
    execution::{Execution, ExecutionError},
};
use agora_types::{Block, Context, Digest, ValidatorKey};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox},
        resolver::handler,
        standard::{Deferred, Standard},
        Update,
    },
    simplex::{self, elector::RoundRobin, scheme::ed25519::Scheme, types::Finalization},
    types::{Epoch, FixedEpocher, Height, ViewDelta},
    Reporter, VerifyingApplication,
};
use commonware_cryptography::{certificate::ConstantProvider, ed25519};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_resolver::Resolver;
use commonware_runtime::{
    buffer::paged::CacheRef, spawn_cell, BufferPooler, Clock, ContextCell, Handle, Metrics,
    Spawner, Storage,
};
use commonware_storage::{
    archive::immutable,
    metadata::{self, Metadata},
};
use commonware_utils::{channel::mpsc, ordered::Set, sequence::U64, NZUsize, NZU16, NZU64};
use futures::{future::try_join_all, FutureExt};
use rand::{CryptoRng, Rng};
use std::{num::NonZero, time::Duration};
use tracing::{error, warn};

/// Domain separation for consensus signatures, bound to the chain: validators that reuse their
/// keys on another chain sign votes no validator of this one accepts.
pub fn consensus_namespace(chain_id: &str) -> Vec<u8> {
    [b"agora-consensus-v1/".as_slice(), chain_id.as_bytes()].concat()
}

/// Where marshal records the last height the application acknowledged, and its key.
const PROCESSED_PARTITION: &str = "application-metadata";
const PROCESSED_KEY: U64 = U64::new(0xFF);

const PRUNABLE_ITEMS_PER_SECTION: NonZero<u64> = NZU64!(4_096);
const IMMUTABLE_ITEMS_PER_SECTION: NonZero<u64> = NZU64!(262_144);
const FREEZER_TABLE_RESIZE_FREQUENCY: u8 = 4;
const FREEZER_TABLE_RESIZE_CHUNK_SIZE: u32 = 2u32.pow(16);
const FREEZER_TABLE_INITIAL_SIZE: u32 = 2u32.pow(14);
const FREEZER_JOURNAL_TARGET_SIZE: u64 = 256 * 1024 * 1024;
const REPLAY_BUFFER: NonZero<usize> = NZUsize!(1024 * 1024);
const WRITE_BUFFER: NonZero<usize> = NZUsize!(256 * 1024);
const PAGE_CACHE_PAGE_SIZE: NonZero<u16> = NZU16!(4_096);
const PAGE_CACHE_CAPACITY: NonZero<usize> = NZUsize!(1_024);
const MAX_REPAIR: NonZero<usize> = NZUsize!(32);
const MAX_PENDING_ACKS: NonZero<usize> = NZUsize!(16);
/// Validators keep views for longer than consensus does so peers near the tip can catch up.
const VIEW_RETENTION_MULTIPLIER: u64 = 10;

/// Timeouts of the consensus protocol.
#[derive(Clone, Debug)]
pub struct Timeouts {
    pub leader: Duration,
    pub certification: Duration,
    pub nullify_retry: Duration,
    pub fetch: Duration,
    pub activity: ViewDelta,
    pub skip: ViewDelta,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_secs(2),
            certification: Duration::from_secs(3),
            nullify_retry: Duration::from_secs(5),
            fetch: Duration::from_secs(1),
            activity: ViewDelta::new(256),
            skip: ViewDelta::new(32),
        }
    }
}

/// What the engine needs from an application: Agora's [`crate::Application`], or in
/// simulations a Byzantine variant of it.
pub trait App<E>:
    VerifyingApplication<E, SigningScheme = Scheme, Context = Context, Block = Block>
    + Reporter<Activity = Update<Block>>
where
    E: Rng + Spawner + Metrics + Clock,
{
}

impl<E, A> App<E> for A
where
    E: Rng + Spawner + Metrics + Clock,
    A: VerifyingApplication<E, SigningScheme = Scheme, Context = Context, Block = Block>
        + Reporter<Activity = Update<Block>>,
{
}

/// One validator's configuration.
pub struct Config<
    B: Blocker<PublicKey = ValidatorKey>,
    P: Provider<PublicKey = ValidatorKey>,
    A,
    L: Ledger,
> {
    /// Binds consensus signatures to this chain ([`consensus_namespace`]).
    pub chain_id: String,
    pub signer: ed25519::PrivateKey,
    pub validators: Set<ValidatorKey>,
    pub blocker: B,
    pub provider: P,
    /// Prefix of the storage partitions, so several validators can share one runtime's storage.
    pub partition_prefix: String,
    pub application: A,
    /// The task executing what `application` finalizes (from [`crate::Application::new`]).
    pub execution: Execution<L>,
    pub timeouts: Timeouts,
    pub mailbox_size: usize,
}

type Marshaled<E, A> = Deferred<E, Scheme, A, Block, FixedEpocher>;
type Marshal<E> = MarshalActor<
    E,
    Standard<Block>,
    ConstantProvider<Scheme, Epoch>,
    immutable::Archive<E, Digest, Finalization<Scheme, Digest>>,
    immutable::Archive<E, Digest, Block>,
    FixedEpocher,
    Sequential,
>;

/// What a validator needs of its runtime (a trait of its own so that the engine's type and
/// its impl name one bound).
pub trait Runtime:
    BufferPooler + Clock + governor::clock::Clock + Rng + CryptoRng + Spawner + Storage + Metrics
{
}

impl<E> Runtime for E where
    E: BufferPooler
        + Clock
        + governor::clock::Clock
        + Rng
        + CryptoRng
        + Spawner
        + Storage
        + Metrics
{
}

/// A validator: consensus, marshal, the block buffer and the execution task, ready to be
/// started on five channels.
pub struct Engine<E, B, P, A, L>
where
    E: Runtime,
    B: Blocker<PublicKey = ValidatorKey>,
    P: Provider<PublicKey = ValidatorKey>,
    A: App<E>,
    L: Ledger,
{
    context: ContextCell<E>,
    buffer: buffered::Engine<E, ValidatorKey, Block, P>,
    buffer_mailbox: buffered::Mailbox<ValidatorKey, Block>,
    marshal: Marshal<E>,
    marshaled: Marshaled<E, A>,
    execution: Execution<L>,
    consensus: Simplex<E, B, A>,
}

type Simplex<E, B, A> = simplex::Engine<
    E,
    Scheme,
    RoundRobin,
    B,
    Digest,
    Marshaled<E, A>,
    Marshaled<E, A>,
    MarshalMailbox<Scheme, Standard<Block>>,
    Sequential,
>;

/// Why a validator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("this node's key is not one of the validators")]
    NotAValidator,
    #[error("cannot open the block archive: {0}")]
    Archive(String),
    #[error("this validator halted: {0}")]
    Halted(#[from] ExecutionError),
    #[error("a consensus actor stopped")]
    Stopped,
}

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: FREEZER_TABLE_INITIAL_SIZE,
        freezer_table_resize_frequency: FREEZER_TABLE_RESIZE_FREQUENCY,
        freezer_table_resize_chunk_size: FREEZER_TABLE_RESIZE_CHUNK_SIZE,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_key_write_buffer: WRITE_BUFFER,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_write_buffer: WRITE_BUFFER,
        freezer_value_target_size: FREEZER_JOURNAL_TARGET_SIZE,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        ordinal_write_buffer: WRITE_BUFFER,
        items_per_section: IMMUTABLE_ITEMS_PER_SECTION,
        codec_config,
        replay_buffer: REPLAY_BUFFER,
    }
}

impl<E, B, P, A, L> Engine<E, B, P, A, L>
where
    E: Runtime,
    B: Blocker<PublicKey = ValidatorKey>,
    P: Provider<PublicKey = ValidatorKey>,
    A: App<E>,
    L: Ledger,
{
    pub async fn new(context: E, cfg: Config<B, P, A, L>) -> Result<Self, EngineError> {
        use commonware_cryptography::{certificate::Scheme as _, Signer};
        let prefix = cfg.partition_prefix.clone();
        let (buffer, buffer_mailbox) = buffered::Engine::new(
            context.with_label("buffer"),
            buffered::Config {
                public_key: cfg.signer.public_key(),
                mailbox_size: cfg.mailbox_size,
                deque_size: 10,
                priority: true,
                codec_config: (),
                peer_provider: cfg.provider,
            },
        );
        let page_cache = CacheRef::from_pooler(&context, PAGE_CACHE_PAGE_SIZE, PAGE_CACHE_CAPACITY);
        let finalizations = immutable::Archive::init(
            context.with_label("finalizations_by_height"),
            archive_config(
                &prefix,
                "finalizations-by-height",
                &page_cache,
                Scheme::certificate_codec_config_unbounded(),
            ),
        )
        .await
        .map_err(|e| EngineError::Archive(e.to_string()))?;
        let blocks = immutable::Archive::init(
            context.with_label("finalized_blocks"),
            archive_config(&prefix, "finalized-blocks", &page_cache, ()),
        )
        .await
        .map_err(|e| EngineError::Archive(e.to_string()))?;

        rewind_processed_height(&context, &prefix, cfg.execution.executed_height()?).await?;
        let scheme = Scheme::signer(
            &consensus_namespace(&cfg.chain_id),
            cfg.validators.clone(),
            cfg.signer.clone(),
        )
        .ok_or(EngineError::NotAValidator)?;
        let epocher = FixedEpocher::new(NZU64!(u64::MAX));
        let (marshal, marshal_mailbox, _) = MarshalActor::init(
            context.with_label("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider: ConstantProvider::new(scheme.clone()),
                epocher: epocher.clone(),
                partition_prefix: prefix.clone(),
                mailbox_size: cfg.mailbox_size,
                view_retention_timeout: ViewDelta::new(
                    cfg.timeouts
                        .activity
                        .get()
                        .saturating_mul(VIEW_RETENTION_MULTIPLIER),
                ),
                prunable_items_per_section: PRUNABLE_ITEMS_PER_SECTION,
                replay_buffer: REPLAY_BUFFER,
                key_write_buffer: WRITE_BUFFER,
                value_write_buffer: WRITE_BUFFER,
                block_codec_config: (),
                max_repair: MAX_REPAIR,
                max_pending_acks: MAX_PENDING_ACKS,
                page_cache: page_cache.clone(),
                strategy: Sequential,
            },
        )
        .await;
        let marshaled = Marshaled::new(
            context.with_label("marshaled"),
            cfg.application,
            marshal_mailbox.clone(),
            epocher,
        );
        let consensus = simplex::Engine::new(
            context.with_label("consensus"),
            simplex::Config {
                epoch: EPOCH,
                scheme,
                elector: RoundRobin::default(),
                automaton: marshaled.clone(),
                relay: marshaled.clone(),
                reporter: marshal_mailbox,
                partition: format!("{prefix}-consensus"),
                mailbox_size: cfg.mailbox_size,
                leader_timeout: cfg.timeouts.leader,
                certification_timeout: cfg.timeouts.certification,
                timeout_retry: cfg.timeouts.nullify_retry,
                fetch_timeout: cfg.timeouts.fetch,
                activity_timeout: cfg.timeouts.activity,
                skip_timeout: cfg.timeouts.skip,
                fetch_concurrent: 4,
                replay_buffer: REPLAY_BUFFER,
                write_buffer: WRITE_BUFFER,
                blocker: cfg.blocker,
                page_cache,
                strategy: Sequential,
            },
        );
        Ok(Self {
            context: ContextCell::new(context),
            buffer,
            buffer_mailbox,
            marshal,
            marshaled,
            execution: cfg.execution,
            consensus,
        })
    }

    /// Starts every actor; the handle resolves when any of them stops, with the execution
    /// task's error if that is what stopped.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        mut self,
        votes: (
            impl Sender<PublicKey = ValidatorKey>,
            impl Receiver<PublicKey = ValidatorKey>,
        ),
        certificates: (
            impl Sender<PublicKey = ValidatorKey>,
            impl Receiver<PublicKey = ValidatorKey>,
        ),
        resolver: (
            impl Sender<PublicKey = ValidatorKey>,
            impl Receiver<PublicKey = ValidatorKey>,
        ),
        broadcast: (
            impl Sender<PublicKey = ValidatorKey>,
            impl Receiver<PublicKey = ValidatorKey>,
        ),
        backfill: (
            mpsc::Receiver<handler::Message<Digest>>,
            impl Resolver<Key = handler::Request<Digest>, PublicKey = ValidatorKey>,
        ),
    ) -> Handle<Result<(), EngineError>> {
        spawn_cell!(self.context, {
            let execution = self
                .context
                .with_label("execution")
                .spawn(|_| self.execution.run());
            let buffer = self.buffer.start(broadcast);
            // Marshal starts before consensus so that consensus's replay on restart finds it.
            let marshal = self
                .marshal
                .start(self.marshaled, self.buffer_mailbox, backfill);
            let consensus = self.consensus.start(votes, certificates, resolver);
            let actors = try_join_all(vec![buffer, marshal, consensus]);
            futures::select! {
                result = execution.fuse() => match result {
                    Ok(Err(e)) => {
                        error!(error = %e, "execution failed; halting this validator");
                        Err(e.into())
                    }
                    _ => Err(EngineError::Stopped),
                },
                result = actors.fuse() => {
                    if let Err(e) = result {
                        error!(?e, "validator stopped");
                    } else {
                        warn!("validator stopped");
                    }
                    Err(EngineError::Stopped)
                },
            }
        })
    }
}

/// Makes marshal deliver again, from its archive, every finalized block above what the ledger
/// executed: after the state store was lost or restored from an older copy, the state is rebuilt
/// by re-execution rather than left behind consensus.
async fn rewind_processed_height<E: Clock + Storage + Metrics>(
    context: &E,
    prefix: &str,
    executed: u64,
) -> Result<(), EngineError> {
    let mut processed: Metadata<E, U64, Height> = Metadata::init(
        context.with_label("processed_height_check"),
        metadata::Config {
            partition: format!("{prefix}-{PROCESSED_PARTITION}"),
            codec_config: (),
        },
    )
    .await
    .map_err(|e| EngineError::Archive(e.to_string()))?;
    let Some(marked) = processed.get(&PROCESSED_KEY).map(|h| h.get()) else {
        return Ok(());
    };
    if marked > executed {
        warn!(
            executed,
            finalized = marked,
            "the state is behind the finalized blocks; executing them again from the archive"
        );
        processed
            .put_sync(PROCESSED_KEY, Height::new(executed))
            .await
            .map_err(|e| EngineError::Archive(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::{
        simplex::types::{Notarize, Proposal},
        types::{Round, View},
    };
    use commonware_cryptography::{Hasher, Sha256, Signer};

    #[test]
    fn votes_signed_for_one_chain_do_not_verify_on_another() {
        let keys: Vec<_> = (0..4).map(ed25519::PrivateKey::from_seed).collect();
        let validators = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let scheme = |chain: &str| {
            Scheme::signer(
                &consensus_namespace(chain),
                validators.clone(),
                keys[0].clone(),
            )
            .unwrap()
        };
        let proposal = Proposal::new(
            Round::new(EPOCH, View::new(5)),
            View::new(4),
            Sha256::hash(b"block"),
        );
        let vote = Notarize::sign(&scheme("chain-a"), proposal).unwrap();
        let mut rng = rand::rngs::OsRng;
        assert!(vote.verify(&mut rng, &scheme("chain-a"), &Sequential));
        assert!(!vote.verify(&mut rng, &scheme("chain-b"), &Sequential));
    }
}
