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
//!    sends ek_i to all. A key nobody can encrypt to (a low-order point such as all zeros) is
//!    blamed on its announcer at once.
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
//! 4. **Signing.** Each member signs the caller's statement over (run, inputs, sorted
//!    outputs) and sends it to all; with all signatures the run is complete. From here on a
//!    member keeps its run key secret and keeps the run's output key ([`SignedRun`]) until
//!    the session is settled: a member holding every signature may submit this run's
//!    statement at any time, and the ledger takes one statement per session, whatever its run.
//! 5. **Blame.** A member that sees a deviation (a missing message past its deadline, an
//!    announced key nobody can encrypt to, a layer that does not decrypt, a wrong count,
//!    duplicates, its output missing, a digest that differs, a missing signature) sends a
//!    [`Body::Blame`] naming whom it accuses of which step, with its run key (unless it
//!    signed) and every message of the run it holds; each member that sees a blame sends
//!    whatever it already can, stops, and answers with its own blame naming the one it
//!    answers. After a step's time, each member
//!    echoes every blame it holds ([`Body::Echo`]), so that a blame sent to some members
//!    only reaches all; after another step each judges the blames it held plus the echoed
//!    ones ([`judge`], whose docs give the rules). The verdict depends on nothing else, so
//!    every honest member reaches the same one. If the blames hold every member's signature
//!    the run is complete after all; otherwise the faulty members are excluded and the next
//!    run starts with fresh keys and fresh outputs (the revealed keys linked this run's).
//!
//! A run that fails excludes at least one member, or the session ends
//! ([`MixError::NoProgress`]), so there are at most `n - min_members + 1` runs. A run needs
//! at least [`MixConfig::min_members`] members (default [`DEFAULT_MIN_MEMBERS`]); fewer end
//! the session ([`MixError::TooFewMembers`]).
//!
//! # What is and is not guaranteed
//!
//! - Unlinkability: the anonymity set of an honest member's output is the honest members of
//!   the completing run; as long as two of them take part, every assignment of outputs to
//!   them is equally likely given all messages and the ledger. `min_members` bounds how small
//!   deviating members can make it by getting others excluded. (The ledger's `Mix` takes any
//!   two or more inputs; the floor that protects members is this one.)
//! - An accusation only counts against a member that owes the accuser that message by the
//!   schedule (the Final list only from the last member, ciphertexts only from the
//!   predecessor); any other excludes the accuser alone, and a blame that accuses nobody and
//!   answers no blame excludes its sender. So accusing innocent members cannot shrink the
//!   group for free.
//! - Without a reliable broadcast channel, "k did not send to me" and "I sent it, you lie"
//!   cannot be told apart, nor an accusation made before the accused could send from one made
//!   after it should have. The judge then excludes both accuser and accused, at most one
//!   dispute per member and run, so a dishonest member pays with itself for every honest
//!   member it removes.
//! - The echo round makes the verdicts equal when the deviating members act alone; colluders
//!   relaying a blame late to some members only can still split them (agreement would need
//!   a round per deviating member). A split costs liveness, not funds: statements name
//!   their run and inputs, the ledger takes one per session, and every member keeps the keys
//!   of each run it signed. Likewise a member that holds every signature before any blame
//!   completes and leaves; if a withholder sent its signature to some members only, the rest
//!   go on without them.
//! - A member that withholds its signature can still submit the statement itself later; the
//!   assets then go to that run's outputs, whose keys the honest members kept
//!   ([`MixOutcome::signed`], [`MixFailure::signed`]), and nothing links.

mod judge;
mod message;
mod net;
pub mod onion;
mod session;

pub use judge::{confirm_digest, judge, Evidence, Fault, Verdict};
pub use message::{Accusation, Body, Signed, MAX_MESSAGE_BYTES, MESSAGE_NAMESPACE};
pub use net::{loopback_links, Net, TcpNet};
pub use session::{
    mix, Exclusion, MixConfig, MixFailure, MixOutcome, SignedRun, DEFAULT_MIN_MEMBERS,
};

/// Why a mix could not complete.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error(
        "{left} members left, fewer than the {min} a run needs: their outputs would be linkable"
    )]
    TooFewMembers { left: usize, min: usize },
    #[error("{0} members: more than an accusation can name")]
    TooManyMembers(usize),
    #[error("run {0} failed and its blames name nobody at fault")]
    NoProgress(u32),
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
