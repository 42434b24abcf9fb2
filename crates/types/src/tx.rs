//! Signed transactions and their canonical encoding.
//!
//! ```text
//! Transaction       = chain_id (varint len <= 64, UTF-8) | sender (32) | nonce (u64 BE) | Call
//! Call              = module (varint len <= 32, [a-z0-9_]) | payload (varint len, bytes)
//! SignedTransaction = Transaction | signature (64)
//! ```
//!
//! The signature is ed25519 by the sender over `Transaction`'s encoding under [`TX_NAMESPACE`];
//! the transaction hash is SHA-256 over the whole signed encoding, so it names exactly one
//! signed byte string.

use crate::Address;
use bytes::{Buf, BufMut, Bytes};
use commonware_codec::{
    DecodeExt, Encode, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use commonware_cryptography::{ed25519, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Domain separation for transaction signatures.
pub const TX_NAMESPACE: &[u8] = b"agora-tx-v1";
/// Largest encoded signed transaction a node accepts.
pub const MAX_TX_BYTES: usize = 1024 * 1024;
/// Largest JSON-RPC response a node sends and a client accepts: a market's open problem at
/// 10,000 homes exceeds jsonrpsee's default of 10 MiB.
pub const MAX_RPC_RESPONSE_BYTES: u32 = 64 * 1024 * 1024;
pub const MAX_CHAIN_ID_LEN: usize = 64;
pub const MAX_MODULE_NAME_LEN: usize = 32;

/// A call to one module: the module's name and its own encoding of a typed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub module: String,
    pub payload: Bytes,
}

/// What the sender asks the chain to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub chain_id: String,
    pub sender: Address,
    /// Equal to the number of transactions of `sender` already executed: orders a sender's
    /// transactions and makes each one executable at most once.
    pub nonce: u64,
    pub call: Call,
}

/// A transaction with the sender's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: ed25519::Signature,
    hash: TxHash,
    size: usize,
}

/// SHA-256 of a signed transaction's encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TxHash(pub [u8; 32]);

/// Why a transaction is refused before it reaches a block.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxError {
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("transaction is {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the sender is not a valid ed25519 public key")]
    InvalidSender,
    #[error("bad signature")]
    BadSignature,
    #[error("transaction is for chain {got:?}, this is chain {expected:?}")]
    WrongChain { expected: String, got: String },
}

fn read_string(buf: &mut impl Buf, max: usize, what: &'static str) -> Result<String, CodecError> {
    let bytes = Bytes::read_cfg(buf, &RangeCfg::from(..=max))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::Invalid(what, "not UTF-8"))
}

fn write_string(s: &str, buf: &mut impl BufMut) {
    Bytes::copy_from_slice(s.as_bytes()).write(buf);
}

fn string_size(s: &str) -> usize {
    commonware_codec::varint::UInt(s.len() as u64).encode_size() + s.len()
}

/// Module names are short lowercase identifiers so they read the same in every tool.
pub fn is_valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MODULE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Write for Call {
    fn write(&self, buf: &mut impl BufMut) {
        write_string(&self.module, buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        string_size(&self.module) + self.payload.encode_size()
    }
}

impl Read for Call {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let module = read_string(buf, MAX_MODULE_NAME_LEN, "Call.module")?;
        if !is_valid_module_name(&module) {
            return Err(CodecError::Invalid("Call.module", "not a module name"));
        }
        let payload = Bytes::read_cfg(buf, &RangeCfg::from(..=MAX_TX_BYTES))?;
        Ok(Self { module, payload })
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        write_string(&self.chain_id, buf);
        self.sender.write(buf);
        self.nonce.write(buf);
        self.call.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        string_size(&self.chain_id) + Address::SIZE + u64::SIZE + self.call.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            chain_id: read_string(buf, MAX_CHAIN_ID_LEN, "Transaction.chain_id")?,
            sender: Address::read(buf)?,
            nonce: u64::read(buf)?,
            call: Call::read(buf)?,
        })
    }
}

impl Transaction {
    /// Signs with `key`, which must be the sender's.
    pub fn sign(self, key: &crate::Keypair) -> SignedTransaction {
        let signature = key.sign(TX_NAMESPACE, &self.encode());
        SignedTransaction::new(self, signature)
    }
}

impl SignedTransaction {
    pub fn new(tx: Transaction, signature: ed25519::Signature) -> Self {
        let size = tx.encode_size() + ed25519::Signature::SIZE;
        let mut this = Self {
            tx,
            signature,
            hash: TxHash::default(),
            size,
        };
        this.hash = TxHash(Sha256::digest(this.encode()).into());
        this
    }

    pub fn hash(&self) -> TxHash {
        self.hash
    }

    /// Encoded size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Decodes a transaction received from outside, refusing oversized input before parsing.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, TxError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                size: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        Self::decode(bytes).map_err(|e| TxError::Malformed(e.to_string()))
    }

    /// Checks everything that needs no state: size, chain and signature.
    pub fn check(&self, chain_id: &str) -> Result<(), TxError> {
        self.check_envelope(chain_id)?;
        self.verify_signature()
    }

    /// The stateless checks that cost next to nothing: size and chain. Made before anything
    /// that reads state or verifies a signature.
    pub fn check_envelope(&self, chain_id: &str) -> Result<(), TxError> {
        if self.size > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                size: self.size,
                max: MAX_TX_BYTES,
            });
        }
        if self.tx.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.to_string(),
                got: self.tx.chain_id.clone(),
            });
        }
        Ok(())
    }

    /// The sender's signature: the costliest stateless check (it hashes the whole
    /// transaction), so admission makes it last.
    pub fn verify_signature(&self) -> Result<(), TxError> {
        let key = self.tx.sender.public_key().ok_or(TxError::InvalidSender)?;
        if !key.verify(TX_NAMESPACE, &self.tx.encode(), &self.signature) {
            return Err(TxError::BadSignature);
        }
        Ok(())
    }
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.size
    }
}

impl Read for SignedTransaction {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tx = Transaction::read(buf)?;
        let signature = ed25519::Signature::read(buf)?;
        Ok(Self::new(tx, signature))
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({self})")
    }
}

impl std::str::FromStr for TxHash {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut bytes)?;
        Ok(Self(bytes))
    }
}

impl Serialize for TxHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TxHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use proptest::prelude::*;

    fn sample(nonce: u64) -> SignedTransaction {
        let key = Keypair::from_seed(1);
        Transaction {
            chain_id: "agora-test".into(),
            sender: key.address(),
            nonce,
            call: Call {
                module: "bank".into(),
                payload: Bytes::from_static(b"\x00payload"),
            },
        }
        .sign(&key)
    }

    #[test]
    fn round_trip_and_check() {
        let tx = sample(3);
        let bytes = tx.encode();
        assert_eq!(bytes.len(), tx.size());
        let back = SignedTransaction::decode_untrusted(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        back.check("agora-test").unwrap();
        assert!(matches!(
            back.check("other"),
            Err(TxError::WrongChain { .. })
        ));
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let mut bytes = sample(3).encode().to_vec();
        // The nonce's last byte sits right before the call.
        let pos = 1 + "agora-test".len() + 32 + 7;
        bytes[pos] ^= 1;
        let tampered = SignedTransaction::decode_untrusted(&bytes).unwrap();
        assert_eq!(tampered.check("agora-test"), Err(TxError::BadSignature));
    }

    #[test]
    fn trailing_bytes_and_bad_module_names_are_refused() {
        let mut bytes = sample(3).encode().to_vec();
        bytes.push(0);
        assert!(SignedTransaction::decode_untrusted(&bytes).is_err());
        assert!(!is_valid_module_name("Bank"));
        assert!(!is_valid_module_name(""));
        assert!(is_valid_module_name("bank"));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(tx) = SignedTransaction::decode_untrusted(&bytes) {
                // Canonical: whatever decodes re-encodes to the same bytes.
                prop_assert_eq!(tx.encode().to_vec(), bytes);
            }
        }

        #[test]
        fn mutated_transactions_never_panic(pos in 0usize..200, byte in any::<u8>()) {
            let mut bytes = sample(9).encode().to_vec();
            let pos = pos % bytes.len();
            bytes[pos] = byte;
            if let Ok(tx) = SignedTransaction::decode_untrusted(&bytes) {
                prop_assert_eq!(tx.encode().to_vec(), bytes.clone());
                let _ = tx.check("agora-test");
            }
        }
    }
}
