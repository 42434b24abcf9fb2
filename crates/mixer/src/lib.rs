//! `mixer`: CoinShuffle (Ruffing, Moreno-Sanchez and Kate, ESORICS 2014) among the members of
//! a TRANSAX privacy group, so that each member ends up owning a fresh anonymous account that
//! nobody else (the other members, the DSO, an observer of every message) can link to it
//! (dissertation, sections 2.4 "Mixing" and 2.7.2).
//!
//! The mixer does not touch the ledger. It yields the shuffled output accounts and every
//! member's signature over a statement naming all inputs and outputs; the caller submits that
//! statement (for energy assets: `EnergyCall::Mix`), which is valid only with all signatures.
//!
//! # Protocol (one session, runs 0, 1, ... until one completes)
//!
//! Members are the public (registered) accounts, ordered by address; `n` of them take part in
//! a run. Every message is an ed25519-signed [`Signed`] envelope naming the session, the run and
//! its sender, so any member can later show what another sent. Messages travel over direct
//! member-to-member links ([`Net`]; [`TcpNet`] on TCP), never through the ledger.
//!
//! 1. **Announcement.** Each member makes a fresh X25519 key pair (ek_i, dk_i) for this run and
//!    sends ek_i to all.
//! 2. **Shuffling.** Member 0 makes a fresh output account and wraps it in layers of HPKE
//!    (RFC 9180: X25519, HKDF-SHA256, ChaCha20-Poly1305), one per later member, the outermost
//!    for member 1 ([`onion`]). Member i receives i ciphertexts from member i-1, strips its own
//!    layer from each, checks they are well formed and distinct, adds its own wrapped output,
//!    shuffles them uniformly at random and passes the i+1 ciphertexts to member i+1. The last
//!    member's stripping yields plain output accounts; it adds its own, shuffles and sends
//!    the final list to all.
//! 3. **Check.** Every member verifies its own output is in the final list, and sends all a
//!    digest of the keys it saw announced and of the final list. Digests that differ mean
//!    someone showed different members different keys (equivocation).
//! 4. **Signing.** Each member signs the caller's statement over (inputs, sorted outputs) and
//!    sends it to all; with all signatures the session is done.
//! 5. **Blame.** A member that sees a deviation in steps 1-3 (a missing message past its
//!    deadline, a layer that does not decrypt, a wrong count, duplicates, its output missing, a
//!    digest that differs) sends a [`Body::Blame`] that reveals its run's decryption key and
//!    every signed message it holds; each member that sees a blame does the same. With all
//!    keys, anyone replays the run ([`judge`]): the first member whose message is not exactly
//!    "my predecessor's ciphertexts less my layer, plus one new ciphertext that opens to an
//!    account" is at fault, as are equivocators, members whose revealed key does not match
//!    their announcement and members that stay silent. Everybody computes the same verdict
//!    from the same evidence, excludes the faulty members and starts the next run with fresh
//!    keys and fresh outputs (the revealed keys linked this run's outputs). A run that fails
//!    at signing reveals no keys: the signatures gathered are exchanged, and whoever no one
//!    holds a signature of is excluded.
//!
//! # What is and is not guaranteed
//!
//! - Unlinkability: as long as two honest members take part, every assignment of outputs to
//!   honest members is equally likely given all messages and the ledger.
//! - Without a reliable broadcast channel, "k did not send to me" and "I sent it, you lie" can
//!   not be told apart. The judge then excludes both accuser and accused, so a dishonest member
//!   pays for every honest member it removes.
//! - A member that withholds its signature can still submit the statement itself later; the
//!   assets then go to that run's outputs, which the honest members own, and nothing links.

mod judge;
mod message;
mod net;
pub mod onion;
mod session;

pub use judge::{judge, Evidence, Fault};
pub use message::{Body, Signed, MESSAGE_NAMESPACE};
pub use net::{loopback_links, Net, TcpNet};
pub use session::{mix, Exclusion, MixConfig, MixOutcome};

/// Why a mix could not complete.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error("fewer than two members left ({0}): nothing to mix")]
    TooFewMembers(usize),
    #[error("this member is not in the session's member list")]
    NotAMember,
    #[error("this member was excluded by the others ({0:?})")]
    Excluded(Fault),
    #[error("the links to the other members are closed")]
    Disconnected,
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("encryption: {0}")]
    Crypto(String),
}
