//! Accounts and the keys that control them.

use bytes::{Buf, BufMut};
use commonware_codec::{DecodeExt, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{ed25519, Signer, Verifier};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use std::{fmt, path::Path, str::FromStr};

/// An account: the 32 bytes of an ed25519 public key, shown as lowercase hex.
///
/// An address is only bytes; whether it is a valid curve point matters only when a signature
/// by it is checked, so any 32 bytes may receive funds (and a malformed one can never spend).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 32]);

/// Why a string is not an address.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("an address is 64 hex characters, got {0} characters")]
    Length(usize),
    #[error("an address is hex: {0}")]
    Hex(#[from] hex::FromHexError),
}

impl Address {
    /// The ed25519 key behind this address, if the bytes are a valid key.
    pub fn public_key(&self) -> Option<ed25519::PublicKey> {
        ed25519::PublicKey::decode(&self.0[..]).ok()
    }

    /// Whether `signature` (an encoded ed25519 signature) is this address's over `msg` under
    /// `namespace`. Malformed keys or signatures simply do not verify.
    pub fn verifies(&self, namespace: &[u8], msg: &[u8], signature: &[u8]) -> bool {
        let (Some(key), Ok(sig)) = (self.public_key(), ed25519::Signature::decode(signature))
        else {
            return false;
        };
        key.verify(namespace, msg, &sig)
    }
}

impl From<&ed25519::PublicKey> for Address {
    fn from(key: &ed25519::PublicKey) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_ref());
        Self(bytes)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 64 {
            return Err(AddressError::Length(s.len()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes)?;
        Ok(Self(bytes))
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl borsh::BorshSerialize for Address {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(&self.0)
    }
}

impl borsh::BorshDeserialize for Address {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let mut bytes = [0u8; 32];
        reader.read_exact(&mut bytes)?;
        Ok(Self(bytes))
    }
}

impl Write for Address {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl Read for Address {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

impl FixedSize for Address {
    const SIZE: usize = 32;
}

/// A private key and the address it controls.
#[derive(Clone)]
pub struct Keypair {
    key: ed25519::PrivateKey,
    address: Address,
}

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot access key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} is not a key file: {reason}")]
    Format { path: String, reason: String },
}

/// What a key file holds: JSON, so people can read the address out of it.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    address: Address,
    private_key: String,
}

impl Keypair {
    /// A fresh key from a cryptographic random source.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        use commonware_math::algebra::Random;
        Self::from_private(ed25519::PrivateKey::random(rng))
    }

    /// A key derived from a seed: for tests and simulations only, never for real funds.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_private(ed25519::PrivateKey::from_seed(seed))
    }

    pub fn from_private(key: ed25519::PrivateKey) -> Self {
        let address = Address::from(&key.public_key());
        Self { key, address }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    pub fn public_key(&self) -> ed25519::PublicKey {
        self.key.public_key()
    }

    pub fn private_key(&self) -> &ed25519::PrivateKey {
        &self.key
    }

    pub fn sign(&self, namespace: &[u8], msg: &[u8]) -> ed25519::Signature {
        self.key.sign(namespace, msg)
    }

    /// [`Self::sign`], encoded: for signatures carried inside other messages.
    pub fn sign_bytes(&self, namespace: &[u8], msg: &[u8]) -> Vec<u8> {
        use commonware_codec::Encode;
        self.sign(namespace, msg).encode().to_vec()
    }

    /// The key file's text (JSON with the address and the hex private key).
    pub fn to_file_string(&self) -> String {
        use commonware_codec::Encode;
        let file = KeyFile {
            address: self.address,
            private_key: hex::encode(self.key.encode()),
        };
        // Serializing a struct of two strings cannot fail.
        serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
    }

    /// Parses a key file's text; `path` only names the file in errors.
    pub fn from_file_string(path: &str, text: &str) -> Result<Self, KeyFileError> {
        let format = |reason: String| KeyFileError::Format {
            path: path.to_string(),
            reason,
        };
        let file: KeyFile = serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
        let bytes = hex::decode(file.private_key.trim()).map_err(|e| format(e.to_string()))?;
        let key = ed25519::PrivateKey::decode(&bytes[..]).map_err(|e| format(format!("{e}")))?;
        let keypair = Self::from_private(key);
        if keypair.address != file.address {
            return Err(format(
                "the address does not belong to the private key".into(),
            ));
        }
        Ok(keypair)
    }

    /// Writes a new key file; refuses to overwrite one, so no key is lost by a typo.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyFileError> {
        use std::io::Write as _;
        let io = |source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        file.write_all(self.to_file_string().as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(io)
    }

    pub fn read(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_file_string(&path.display().to_string(), &text)
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_detects_tampering() {
        let key = Keypair::from_seed(7);
        let text = key.to_file_string();
        let back = Keypair::from_file_string("k", &text).unwrap();
        assert_eq!(back.address(), key.address());

        let other = Keypair::from_seed(8).address().to_string();
        let tampered = text.replace(&key.address().to_string(), &other);
        assert!(Keypair::from_file_string("k", &tampered).is_err());
        assert!(Keypair::from_file_string("k", "not json").is_err());
    }

    #[test]
    fn address_parsing() {
        let a = Keypair::from_seed(1).address();
        assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        assert!("abc".parse::<Address>().is_err());
        assert!("zz".repeat(32).parse::<Address>().is_err());
    }
}
