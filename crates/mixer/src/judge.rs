//! The blame verdict: from everything the members revealed about a failed run, who deviated.
//!
//! A pure function of the evidence, so every honest member that holds the same evidence
//! reaches the same verdict and starts the next run with the same members.

use crate::{
    message::{Body, Signed},
    onion,
};
use agora_types::Address;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// How a member deviated from the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Signed two different messages for the same step.
    Equivocated,
    /// Never sent a message it owed (no one holds it), or did not answer a blame.
    Silent,
    /// Revealed a decryption key that is not the one it announced, or withheld it.
    BadKey,
    /// Passed on ciphertexts that are not its predecessor's less its layer plus one new
    /// ciphertext that opens to an account: a malformed layer, a dropped, replaced or
    /// duplicated ciphertext, or a wrong count.
    BadShuffle,
    /// Confirmed a digest other than the one of the announced keys and the final list.
    BadConfirm,
    /// Accused or was accused without evidence either way: both are excluded.
    Disputed,
    /// Holds back its signature of the statement, or signed something else.
    NoSignature,
}

/// All valid messages of one run: those a member received and those every blame revealed.
pub struct Evidence<'a> {
    pub session: [u8; 32],
    pub run: u32,
    /// The run's members, in protocol order.
    pub members: &'a [Address],
    pub messages: Vec<&'a Signed>,
}

/// The digest members confirm in step 3.
pub fn confirm_digest(
    session: &[u8; 32],
    run: u32,
    eks: &[[u8; 32]],
    outputs: &[Address],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"agora-mix-confirm-v1");
    h.update(session);
    h.update(run.to_be_bytes());
    for ek in eks {
        h.update(ek);
    }
    for o in outputs {
        h.update(o.0);
    }
    h.finalize().into()
}

/// The verdict on a failed run: each faulty member (by position) and its fault.
pub fn judge(e: &Evidence<'_>) -> BTreeMap<usize, Fault> {
    let n = e.members.len();
    let position: BTreeMap<Address, usize> =
        e.members.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    // Every distinct body each member signed, per step; evidence inside blames included.
    let mut said: BTreeMap<(usize, u8), Vec<&Body>> = BTreeMap::new();
    let mut all: Vec<&Signed> = Vec::new();
    for m in &e.messages {
        all.push(m);
        if let Body::Blame { evidence, .. } = &m.body {
            all.extend(evidence.iter());
        }
    }
    for m in all {
        if m.session != e.session || m.run != e.run {
            continue;
        }
        let Some(&k) = position.get(&m.from) else {
            continue;
        };
        let bodies = said.entry((k, m.body.kind())).or_default();
        if !bodies.contains(&&m.body) {
            bodies.push(&m.body);
        }
    }
    let one = |k: usize, kind: u8| said.get(&(k, kind)).and_then(|b| b.first().copied());

    let mut faults = BTreeMap::new();
    for (&(k, kind), bodies) in &said {
        if kind <= 3 && bodies.len() > 1 {
            faults.insert(k, Fault::Equivocated);
        }
    }
    let mut eks = Vec::with_capacity(n);
    let mut dks = Vec::with_capacity(n);
    let key_phase = said.iter().any(|(&(_, kind), b)| {
        kind == 5
            && b.iter()
                .any(|b| matches!(b, Body::Blame { dk: Some(_), .. }))
    });
    for k in 0..n {
        let ek = match one(k, 0) {
            Some(Body::Announce { ek }) => Some(*ek),
            _ => None,
        };
        let dk = match one(k, 5) {
            Some(Body::Blame { dk, .. }) => Some(*dk),
            _ => None,
        };
        match (ek, dk) {
            (None, _) | (_, None) => {
                faults.entry(k).or_insert(Fault::Silent);
            }
            (Some(ek), Some(Some(dk))) => {
                if onion::public_of(&dk) != Some(ek) {
                    faults.entry(k).or_insert(Fault::BadKey);
                }
                eks.push(ek);
                dks.push(dk);
            }
            // A member that already signed keeps its key: revealing it could link outputs.
            (Some(ek), Some(None)) => {
                if key_phase && one(k, 4).is_none() {
                    faults.entry(k).or_insert(Fault::BadKey);
                }
                eks.push(ek);
            }
        }
    }
    if faults.is_empty() && dks.len() == n {
        replay(e, &eks, &dks, &one, &mut faults);
    }
    // Accusations of silence: upheld when nobody holds the message; otherwise, unless the run
    // shows a fault anyway, neither side can be believed.
    let mut disputed = BTreeSet::new();
    for a in 0..n {
        let Some(Body::Blame { accused, .. }) = one(a, 5) else {
            continue;
        };
        for acc in accused {
            let (k, kind) = (acc.position as usize, acc.kind);
            if k < n && one(k, kind).is_none() {
                faults.entry(k).or_insert(Fault::Silent);
            } else if k < n {
                disputed.insert((a, k));
            }
        }
    }
    if faults.is_empty() {
        for (a, k) in disputed {
            faults.insert(a, Fault::Disputed);
            faults.insert(k, Fault::Disputed);
        }
    }
    faults
}

/// Replays the shuffle with every run key: the first member whose output is not its input less
/// its layer plus one new ciphertext opening to a fresh account is at fault. Then checks the
/// confirmations against the true digest.
fn replay<'b>(
    e: &Evidence<'_>,
    eks: &[[u8; 32]],
    dks: &[[u8; 32]],
    one: &impl Fn(usize, u8) -> Option<&'b Body>,
    faults: &mut BTreeMap<usize, Fault>,
) {
    let n = e.members.len();
    let (s, run) = (&e.session, e.run);
    let mut prev: Vec<Vec<u8>> = Vec::new();
    let mut plains: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut outputs = None;
    for j in 0..n {
        let sent: Vec<Vec<u8>> = if j + 1 < n {
            match one(j, 1) {
                Some(Body::Shuffle { layers }) => layers.clone(),
                _ => return,
            }
        } else {
            match one(j, 2) {
                Some(Body::Final { outputs }) => outputs.iter().map(|o| o.0.to_vec()).collect(),
                _ => return,
            }
        };
        let mut remaining = sent.clone();
        let mut ok = sent.len() == j + 1;
        for c in &prev {
            match onion::open(s, run, j, &dks[j], c) {
                Some(stripped) => match remaining.iter().position(|r| *r == stripped) {
                    Some(at) => {
                        remaining.swap_remove(at);
                    }
                    None => ok = false,
                },
                // Cannot happen if earlier members passed: every ciphertext was opened through.
                None => ok = false,
            }
        }
        let fresh = match remaining.as_slice() {
            [new] if ok => onion::unwrap_from(s, run, j + 1, dks, new),
            _ => None,
        };
        match fresh {
            Some(plain) if plain.len() == 32 && plains.insert(plain.clone()) => {}
            _ => {
                faults.insert(j, Fault::BadShuffle);
                return;
            }
        }
        if j + 1 == n {
            outputs = Some(sent.clone());
        }
        prev = sent;
    }
    let Some(outputs) = outputs else { return };
    let outputs: Vec<Address> = outputs
        .iter()
        .filter_map(|o| <[u8; 32]>::try_from(o.as_slice()).ok().map(Address))
        .collect();
    let expected = confirm_digest(s, run, eks, &outputs);
    for k in 0..n {
        if let Some(Body::Confirm { digest }) = one(k, 3) {
            if *digest != expected {
                faults.insert(k, Fault::BadConfirm);
            }
        }
    }
}
