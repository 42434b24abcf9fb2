//! The signed messages members exchange, and their canonical (borsh) encoding.

use agora_types::{Address, Keypair};
use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

/// Domain of every mixer message signature.
pub const MESSAGE_NAMESPACE: &[u8] = b"agora-mix-msg-v1";

/// Largest encoded message accepted from a peer: 50 members' ciphertexts fit many times over.
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;

/// What a member says in one step of a run.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Body {
    /// Step 1: this run's X25519 encryption key.
    Announce { ek: [u8; 32] },
    /// Step 2, to the next member: the ciphertexts so far.
    Shuffle { layers: Vec<Vec<u8>> },
    /// Step 2, by the last member to all: the shuffled output accounts.
    Final { outputs: Vec<Address> },
    /// Step 3: digest of the announced keys and the final list as this member saw them.
    Confirm { digest: [u8; 32] },
    /// Step 4: the signature over the caller's statement.
    Sign { signature: Vec<u8> },
    /// Step 5: whom this member accuses, or which blame (by [`Signed::digest`]) it answers;
    /// its run key (none once it signed, to keep that run's outputs unlinkable); and every
    /// message of the run it holds.
    Blame {
        accused: Vec<Accusation>,
        answers: Option<[u8; 32]>,
        dk: Option<[u8; 32]>,
        evidence: Vec<Signed>,
    },
    /// Step 5, second round: every blame of the run this member holds, so that a blame sent
    /// to some members only reaches all before anyone judges.
    Echo { blames: Vec<Signed> },
}

impl Body {
    /// Small tag identifying the step, for bookkeeping.
    pub fn kind(&self) -> u8 {
        match self {
            Body::Announce { .. } => 0,
            Body::Shuffle { .. } => 1,
            Body::Final { .. } => 2,
            Body::Confirm { .. } => 3,
            Body::Sign { .. } => 4,
            Body::Blame { .. } => 5,
            Body::Echo { .. } => 6,
        }
    }
}

/// Step tags ([`Body::kind`]).
pub const ANNOUNCE: u8 = 0;
pub const SHUFFLE: u8 = 1;
pub const FINAL: u8 = 2;
pub const CONFIRM: u8 = 3;
pub const SIGN: u8 = 4;
pub const BLAME: u8 = 5;
pub const ECHO: u8 = 6;

/// "The member at `position` of the run did not send me a valid message of step `kind`."
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Accusation {
    pub position: u16,
    pub kind: u8,
}

/// A message signed by a member: the envelope names the session, the run and the sender so a
/// message can never be replayed into another context.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signed {
    pub session: [u8; 32],
    pub run: u32,
    pub from: Address,
    pub body: Body,
    pub signature: Vec<u8>,
}

fn signed_bytes(session: &[u8; 32], run: u32, from: &Address, body: &Body) -> Vec<u8> {
    borsh::to_vec(&(session, run, from, body)).unwrap_or_default()
}

impl Signed {
    pub fn new(key: &Keypair, session: [u8; 32], run: u32, body: Body) -> Self {
        let from = key.address();
        let signature = key.sign_bytes(
            MESSAGE_NAMESPACE,
            &signed_bytes(&session, run, &from, &body),
        );
        Self {
            session,
            run,
            from,
            body,
            signature,
        }
    }

    /// Whether the signature is the sender's.
    pub fn verify(&self) -> bool {
        self.from.verifies(
            MESSAGE_NAMESPACE,
            &signed_bytes(&self.session, self.run, &self.from, &self.body),
            &self.signature,
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Names this message: a blame answers another by its digest.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }

    /// Whether this is a validly signed blame of `session` and `run` whose evidence is only
    /// validly signed messages of steps 1-4 of the same run.
    pub fn is_valid_blame(&self, session: &[u8; 32], run: u32) -> bool {
        let Body::Blame { evidence, .. } = &self.body else {
            return false;
        };
        self.session == *session
            && self.run == run
            && evidence
                .iter()
                .all(|e| e.session == *session && e.run == run && e.body.kind() < BLAME)
            && self.verify()
            && evidence.iter().all(Signed::verify)
    }

    /// Decodes a peer's bytes; `None` if they are not exactly one message with a valid
    /// signature (and, in a blame, only valid messages as evidence). The blames an echo
    /// carries are checked when used ([`Signed::is_valid_blame`]): most are known already.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        let msg = Self::try_from_slice(bytes).ok()?;
        match &msg.body {
            Body::Blame { .. } => msg.is_valid_blame(&msg.session, msg.run).then_some(msg),
            _ => msg.verify().then_some(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_or_garbage_messages_do_not_decode() {
        let key = Keypair::from_seed(1);
        let msg = Signed::new(&key, [7; 32], 0, Body::Announce { ek: [1; 32] });
        let bytes = msg.encode();
        assert_eq!(Signed::decode(&bytes), Some(msg.clone()));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert_ne!(Signed::decode(&bad), Some(msg.clone()), "flipped byte {i}");
        }
        assert_eq!(Signed::decode(&[0xff; 100]), None);
        assert_eq!(Signed::decode(&[]), None);
    }
}
