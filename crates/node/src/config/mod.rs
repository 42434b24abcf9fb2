//! The configuration file of a node: `agora node --config FILE` reads it (TOML; a missing field
//! takes its default, an unknown one is refused), `agora node --print-config` prints the
//! defaults with every field's documentation as comments ([`NodeConfig::print_defaults`]).

pub mod doc;

use crate::limits::NodeLimits;
use agora_consensus::{BlockTiming, Timeouts};
use commonware_consensus::types::ViewDelta;
use doc::{documented, Documented};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// Why a configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad configuration {path} (`agora node --print-config` prints every field): {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("cannot print the configuration: {0}")]
    Print(#[from] toml::ser::Error),
}

/// How logs are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Documented for LogFormat {}

documented! {
    /// Logging.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct LogConfig {
        /// "text" (one readable line per event) or "json" (one JSON object per line).
        pub format: LogFormat,
        /// Which events to log, as a tracing filter ("info", "agora_node=debug,info", ...);
        /// the environment variable RUST_LOG overrides it.
        pub filter: String,
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info,commonware=warn".into(),
        }
    }
}

documented! {
    /// When this validator cuts blocks and which proposals it accepts. Every validator of a
    /// chain should use the same values.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct BlockConfig {
        /// No block sooner than this after its parent, in ms: transactions arriving meanwhile
        /// are batched.
        pub min_interval_ms: u64,
        /// An empty block at least this often, in ms, so that the chain's clock advances for
        /// time-guarded calls when nobody transacts.
        pub max_interval_ms: u64,
        /// How far ahead of this validator's clock a proposal's timestamp may be, in ms.
        pub max_future_ms: u64,
        /// How long a validator waits, in ms, for its own execution to reach the height whose
        /// state root a proposal claims; past it, the claim is checked at execution.
        pub max_state_wait_ms: u64,
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Default for BlockConfig {
    fn default() -> Self {
        let t = BlockTiming::default();
        Self {
            min_interval_ms: ms(t.min_interval),
            max_interval_ms: ms(t.max_interval),
            max_future_ms: ms(t.max_future),
            max_state_wait_ms: ms(t.max_state_wait),
        }
    }
}

impl BlockConfig {
    pub fn timing(&self) -> BlockTiming {
        BlockTiming {
            min_interval: Duration::from_millis(self.min_interval_ms),
            max_interval: Duration::from_millis(self.max_interval_ms),
            max_future: Duration::from_millis(self.max_future_ms),
            max_state_wait: Duration::from_millis(self.max_state_wait_ms),
        }
    }
}

documented! {
    /// Timeouts of the consensus protocol (Commonware simplex and marshal).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ConsensusConfig {
        /// How long to wait for the leader's proposal before voting to skip its view, in ms.
        pub leader_timeout_ms: u64,
        /// How long to wait for a proposal to be certified (notarized) before voting to skip,
        /// in ms.
        pub certification_timeout_ms: u64,
        /// How often to repeat a vote to skip a view while it is not settled, in ms.
        pub nullify_retry_ms: u64,
        /// How long to wait for a peer to answer a request for a missing block or
        /// certificate, in ms.
        pub fetch_timeout_ms: u64,
        /// Views of recent activity kept to judge which validators participate.
        pub activity_views: u64,
        /// Views a leader that has not participated recently is skipped for.
        pub skip_views: u64,
    }
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        let t = Timeouts::default();
        Self {
            leader_timeout_ms: ms(t.leader),
            certification_timeout_ms: ms(t.certification),
            nullify_retry_ms: ms(t.nullify_retry),
            fetch_timeout_ms: ms(t.fetch),
            activity_views: t.activity.get(),
            skip_views: t.skip.get(),
        }
    }
}

impl ConsensusConfig {
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            leader: Duration::from_millis(self.leader_timeout_ms),
            certification: Duration::from_millis(self.certification_timeout_ms),
            nullify_retry: Duration::from_millis(self.nullify_retry_ms),
            fetch: Duration::from_millis(self.fetch_timeout_ms),
            activity: ViewDelta::new(self.activity_views),
            skip: ViewDelta::new(self.skip_views),
        }
    }
}

documented! {
    /// The configuration of a node.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct NodeConfig {
        /// Where JSON-RPC and the pages (/health, /ready, /metrics) listen, e.g.
        /// "0.0.0.0:8545"; unset, this validator's RPC address in the genesis.
        pub rpc_listen: Option<SocketAddr>,
        /// Where p2p listens, e.g. "0.0.0.0:8546"; unset, this validator's p2p address in the
        /// genesis (which the other validators dial).
        pub p2p_listen: Option<SocketAddr>,
        /// RPC port of the new single-validator chain made in an empty home (p2p uses the next
        /// port); `agora node --base-port` overrides it.
        pub base_port: u16,
        /// Logging.
        pub log: LogConfig,
        /// When blocks are cut.
        pub block: BlockConfig,
        /// Consensus timeouts.
        pub consensus: ConsensusConfig,
        /// Admission limits of the mempool and the RPC server.
        pub limits: NodeLimits,
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            rpc_listen: None,
            p2p_listen: None,
            base_port: crate::devnet::DEFAULT_BASE_PORT,
            log: LogConfig::default(),
            block: BlockConfig::default(),
            consensus: ConsensusConfig::default(),
            limits: NodeLimits::default(),
        }
    }
}

impl NodeConfig {
    /// Parses a configuration file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads the configuration file at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// This configuration as a TOML file with every field documented.
    pub fn to_commented_toml(&self) -> Result<String, ConfigError> {
        Ok(doc::commented_toml(
            self,
            "Configuration of an Agora node: agora node --home DIR --config FILE.\n\
             Every field is optional; a missing one takes the default printed here.",
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_defaults_parse_back_to_the_defaults_with_every_field_documented() {
        let defaults = NodeConfig::default();
        let text = defaults.to_commented_toml().unwrap();
        assert_eq!(
            NodeConfig::parse(&text, Path::new("printed")).unwrap(),
            defaults
        );
        for key in [
            "max_txs",
            "max_request_bytes",
            "limit_loopback",
            "leader_timeout_ms",
            "min_interval_ms",
            "format",
        ] {
            let at = text
                .find(&format!("\n{key} = "))
                .unwrap_or_else(|| panic!("{key}: {text}"));
            let before = &text[..at];
            assert!(
                before.ends_with(|c: char| c != '\n')
                    && before.rsplit('\n').next().unwrap().starts_with('#'),
                "{key} has no comment:\n{text}"
            );
        }
        assert!(text.contains("[limits.mempool]") && text.contains("# rpc_listen is unset"));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let e = NodeConfig::parse("[limits.rpc]\nmax_bach = 4\n", Path::new("node.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("node.toml") && e.contains("max_bach"), "{e}");
        let e = NodeConfig::parse("[log]\nformat = \"xml\"\n", Path::new("node.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("xml"), "{e}");
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let config = NodeConfig::parse(
            "rpc_listen = \"0.0.0.0:9000\"\n[limits.rpc]\nmax_batch = 4\n",
            Path::new("node.toml"),
        )
        .unwrap();
        assert_eq!(config.rpc_listen, Some(([0, 0, 0, 0], 9000).into()));
        assert_eq!(config.limits.rpc.max_batch, 4);
        assert_eq!(config.block, BlockConfig::default());
    }
}
