//! Making new chains on one machine: the layout `agora devnet` and `agora node` create.
//!
//! ```text
//! DIR/genesis.json, DIR/faucet.key      the chain and the key of its funded faucet account
//! DIR/validator-I/{genesis.json,node.key,...}   validator I's home (several validators)
//! ```
//! With one validator and no `validator-0` folder requested, the node's home is `DIR` itself.

use crate::genesis::{Genesis, GenesisError, Home, ValidatorEntry};
use agora_types::{FeeSchedule, Keypair};
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

/// What the faucet holds at genesis.
pub const FAUCET_BALANCE: u64 = 1_000_000_000_000_000;
/// RPC port of the first local validator; validator I uses `base + 2I` for RPC and
/// `base + 2I + 1` for p2p.
pub const DEFAULT_BASE_PORT: u16 = 8545;
pub const DEFAULT_CHAIN_ID: &str = "agora-local";

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] agora_types::KeyFileError),
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error("ports {base}..{end} do not fit below 65536")]
    Ports { base: u16, end: u32 },
}

/// The chain in `DIR`: its genesis and the homes of its validators.
pub struct Devnet {
    pub dir: PathBuf,
    pub genesis: Genesis,
    pub homes: Vec<Home>,
}

impl Devnet {
    pub fn faucet_key_path(dir: &Path) -> PathBuf {
        dir.join("faucet.key")
    }

    fn homes(dir: &Path, validators: usize, nested: bool) -> Vec<Home> {
        if nested {
            (0..validators)
                .map(|i| Home(dir.join(format!("validator-{i}"))))
                .collect()
        } else {
            vec![Home(dir.to_path_buf())]
        }
    }

    /// Opens the chain in `dir` if there is one.
    pub fn open(dir: &Path) -> Result<Option<Self>, DevnetError> {
        let path = dir.join("genesis.json");
        if !path.exists() {
            return Ok(None);
        }
        let genesis = Genesis::read(&path)?;
        let nested = dir.join("validator-0").exists();
        let homes = Self::homes(dir, genesis.validators.len(), nested);
        Ok(Some(Self {
            dir: dir.to_path_buf(),
            genesis,
            homes,
        }))
    }

    /// Creates a new chain of `validators` local validators in `dir`. `nested` puts each
    /// validator in its own folder (needed for more than one).
    pub fn create(
        dir: &Path,
        validators: usize,
        base_port: u16,
        chain_id: &str,
        nested: bool,
    ) -> Result<Self, DevnetError> {
        let end = base_port as u32 + 2 * validators as u32;
        if end > u16::MAX as u32 {
            return Err(DevnetError::Ports {
                base: base_port,
                end,
            });
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DevnetError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let nested = nested || validators > 1;
        let homes = Self::homes(dir, validators, nested);
        let mut rng = rand::rngs::OsRng;
        let keys: Vec<Keypair> = (0..validators)
            .map(|_| Keypair::generate(&mut rng))
            .collect();
        let faucet = Keypair::generate(&mut rng);
        let localhost = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let genesis = Genesis {
            chain_id: chain_id.to_string(),
            genesis_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            validators: keys
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorEntry {
                    key: k.address(),
                    rpc: localhost(base_port + 2 * i as u16),
                    p2p: localhost(base_port + 2 * i as u16 + 1),
                })
                .collect(),
            modules: [(
                "bank".to_string(),
                serde_json::json!({ "balances": { faucet.address().to_string(): FAUCET_BALANCE } }),
            )]
            .into_iter()
            .collect(),
            fees: FeeSchedule::default(),
        };
        for (home, key) in homes.iter().zip(&keys) {
            std::fs::create_dir_all(&home.0).map_err(io(&home.0))?;
            key.write_new(&home.key())?;
            genesis.write(&home.genesis())?;
        }
        genesis.write(&dir.join("genesis.json"))?;
        faucet.write_new(&Self::faucet_key_path(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            genesis,
            homes,
        })
    }

    /// The RPC URL of each validator.
    pub fn rpc_urls(&self) -> Vec<String> {
        self.genesis
            .validators
            .iter()
            .map(|v| format!("http://{}", v.rpc))
            .collect()
    }
}
