//! Signed messages: every message carries its publisher's ed25519 signature over
//! (subject, seq, payload hash, ts), so a reader (the mediator above all) can attribute what it
//! received without trusting the broker (spec §5.3.4, A28).

use crate::{BusError, Subject};
use agora_types::{Address, Keypair};
use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// Namespace of channel signatures, so they can never pass for a transaction's.
pub const ENVELOPE_NAMESPACE: &[u8] = b"agora.channels.v1";

/// One message on a channel as stored and delivered.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct Envelope {
    pub subject: String,
    /// Position in the channel's log: 1 for the first message, then +1 for each.
    pub seq: u64,
    /// The publisher's clock when it signed, in ms since the Unix epoch.
    pub ts_ms: u64,
    pub publisher: Address,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Milliseconds since the Unix epoch (0 for a clock set before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn signed_bytes(subject: &str, seq: u64, ts_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(subject.len() + 4 + 8 + 32 + 8);
    msg.extend_from_slice(&(subject.len() as u32).to_be_bytes());
    msg.extend_from_slice(subject.as_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(&Sha256::digest(payload));
    msg.extend_from_slice(&ts_ms.to_be_bytes());
    msg
}

impl Envelope {
    /// `payload` at position `seq` of `subject`, stamped now and signed by `keypair`.
    pub fn sign(keypair: &Keypair, subject: &Subject, seq: u64, payload: Vec<u8>) -> Self {
        let ts_ms = now_ms();
        let signature = keypair.sign_bytes(
            ENVELOPE_NAMESPACE,
            &signed_bytes(subject.as_str(), seq, ts_ms, &payload),
        );
        Self {
            subject: subject.as_str().to_string(),
            seq,
            ts_ms,
            publisher: keypair.address(),
            payload,
            signature,
        }
    }

    /// Whether the publisher signed exactly this subject, seq, payload and timestamp.
    pub fn verify(&self) -> Result<(), BusError> {
        let msg = signed_bytes(&self.subject, self.seq, self.ts_ms, &self.payload);
        if self.seq == 0
            || !self
                .publisher
                .verifies(ENVELOPE_NAMESPACE, &msg, &self.signature)
        {
            return Err(BusError::BadSignature {
                subject: self.subject.clone(),
                seq: self.seq,
            });
        }
        Ok(())
    }

    /// The wire form (borsh) used by brokers that carry bytes.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes and verifies a message from the wire; anything else is refused, never trusted.
    pub fn decode(bytes: &[u8]) -> Result<Self, BusError> {
        let envelope =
            Self::try_from_slice(bytes).map_err(|e| BusError::Malformed(e.to_string()))?;
        envelope.verify()?;
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_every_signed_field() {
        let key = Keypair::from_seed(1);
        let subject = Subject::new("agora.stream.1.a.7.input").unwrap();
        let good = Envelope::sign(&key, &subject, 3, b"frame".to_vec());
        good.verify().unwrap();
        assert_eq!(Envelope::decode(&good.encode()).unwrap(), good);
        let tampered: [fn(&mut Envelope); 5] = [
            |e| e.subject.push('x'),
            |e| e.seq += 1,
            |e| e.ts_ms += 1,
            |e| e.payload[0] ^= 1,
            |e| e.publisher = Keypair::from_seed(2).address(),
        ];
        for tamper in tampered {
            let mut bad = good.clone();
            tamper(&mut bad);
            assert!(matches!(bad.verify(), Err(BusError::BadSignature { .. })));
        }
        assert!(matches!(
            Envelope::decode(&good.encode()[..10]),
            Err(BusError::Malformed(_))
        ));
    }
}
