//! The genesis file and a node's home directory.
//!
//! ```text
//! HOME/genesis.json   chain id, genesis time, validators (key, p2p and RPC addresses), module
//!                     sections, fee schedule
//! HOME/node.key       this validator's key (key-file format of `agora keys new`)
//! HOME/state.redb     executed state, receipts, block records
//! HOME/consensus/     Commonware's storage: consensus journal, finalized blocks, certificates
//! ```

use agora_ledger::ModuleGenesis;
use agora_types::{Address, Digest, FeeSchedule, Keypair, ValidatorKey};
use commonware_codec::DecodeExt;
use commonware_cryptography::{Hasher, Sha256};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// The validator's ed25519 public key (hex), also its account address.
    pub key: Address,
    pub p2p: SocketAddr,
    pub rpc: SocketAddr,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    /// Milliseconds since the Unix epoch: the timestamp of block 0.
    pub genesis_time: u64,
    pub validators: Vec<ValidatorEntry>,
    /// Each module's initial state, by module name.
    #[serde(default)]
    pub modules: ModuleGenesis,
    /// What transactions cost; a genesis without this section gets the default schedule.
    #[serde(default)]
    pub fees: FeeSchedule,
}

#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid genesis file: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl Genesis {
    pub fn read(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Read {
            path: path.into(),
            source,
        })?;
        let genesis: Self = serde_json::from_str(&text).map_err(|e| GenesisError::Invalid {
            path: path.into(),
            reason: e.to_string(),
        })?;
        genesis.validate().map_err(|reason| GenesisError::Invalid {
            path: path.into(),
            reason,
        })?;
        Ok(genesis)
    }

    pub fn write(&self, path: &Path) -> Result<(), GenesisError> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        std::fs::write(path, text).map_err(|source| GenesisError::Write {
            path: path.into(),
            source,
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.chain_id.is_empty() || self.chain_id.len() > agora_types::MAX_CHAIN_ID_LEN {
            return Err("chain_id must have 1 to 64 bytes".into());
        }
        if self.validators.is_empty() {
            return Err("there must be at least one validator".into());
        }
        let mut keys: Vec<_> = self.validators.iter().map(|v| v.key).collect();
        keys.sort();
        keys.dedup();
        if keys.len() != self.validators.len() {
            return Err("a validator is listed twice".into());
        }
        if self.validator_keys().is_none() {
            return Err("a validator key is not a valid ed25519 public key".into());
        }
        Ok(())
    }

    /// A hash of every field, over the canonical JSON (fields in declaration order, map keys
    /// sorted): block 0 commits to it, so two nodes whose genesis files differ in anything
    /// (a balance, a module parameter, a validator) are on different chains.
    pub fn digest(&self) -> Digest {
        // Plain data with string keys: serializing cannot fail.
        Sha256::hash(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// The validators' consensus keys, in genesis order.
    pub fn validator_keys(&self) -> Option<Vec<ValidatorKey>> {
        self.validators
            .iter()
            .map(|v| ValidatorKey::decode(&v.key.0[..]).ok())
            .collect()
    }

    /// The validator that proposes nothing but names block 0: the smallest key.
    pub fn first_validator(&self) -> Option<ValidatorKey> {
        self.validator_keys()?.into_iter().min()
    }
}

/// The files of a node's home directory.
#[derive(Clone, Debug)]
pub struct Home(pub PathBuf);

impl Home {
    pub fn genesis(&self) -> PathBuf {
        self.0.join("genesis.json")
    }
    pub fn key(&self) -> PathBuf {
        self.0.join("node.key")
    }
    pub fn state(&self) -> PathBuf {
        self.0.join("state.redb")
    }
    pub fn consensus(&self) -> PathBuf {
        self.0.join("consensus")
    }
    pub fn is_initialized(&self) -> bool {
        self.genesis().exists() && self.key().exists()
    }
    pub fn read_key(&self) -> Result<Keypair, agora_types::KeyFileError> {
        Keypair::read(&self.key())
    }
}
