//! The blame verdict: from the blames of a failed run, who deviated.
//!
//! A pure function of the blames (with the messages they carry as evidence), never of what
//! the judging member received on its own: the echo round gives every honest member the same
//! blames, so all reach the same verdict and start the next run with the same members.
//!
//! The rules, in order; a rule runs only if the ones before it found nobody at fault (but
//! rule 1 always runs):
//!
//! 1. What signed messages show by themselves. Two different messages for one step
//!    ([`Fault::Equivocated`]). No blame, or not even its own announcement in the evidence: an
//!    honest member's blame carries every message it sent ([`Fault::Silent`]). An announced
//!    key nobody can encrypt to, or a revealed key that is not the announced one
//!    ([`Fault::BadKey`]). A signature that is not of the run's statement, or a kept key
//!    (only a member that signed keeps it) without a valid signature ([`Fault::NoSignature`]).
//!    A blame that accuses nobody and answers no blame the others hold ([`Fault::Unfounded`]).
//!    An accusation for a message the accused never owes the accuser: the Final list of any
//!    member but the last, the ciphertexts of any member but the accuser's predecessor, the
//!    accuser itself, an unknown step or position ([`Fault::FalseAccusation`]).
//!    A confirmation of another digest than the announced keys' and the Final list's
//!    ([`Fault::BadConfirm`]).
//! 2. If every member revealed its key: the replay ([`Fault::BadShuffle`]).
//! 3. Accusations of a message no blame shows. If the accused's own blame shows it held all
//!    it needed first (every announcement; for ciphertexts, its predecessor's; for a
//!    confirmation, the Final list; for a signature, every confirmation), it was owed and
//!    the accused is [`Fault::Silent`] ([`Fault::NoSignature`] for a signature): a member
//!    sends what it can before it answers a blame. If the accused lacked something and
//!    accused its sender of withholding it, that accusation is judged instead. Otherwise the accusation
//!    came before the accused could send, or the accused hides what it got: nobody can tell,
//!    so it is a dispute (rule 4).
//! 4. Accusations of a message some blame shows: the accused says it sent it, the accuser that
//!    it never came. Without a broadcast channel nobody can tell who lies, so both go
//!    ([`Fault::Disputed`]); each member counts in at most one dispute per run, so a liar pays
//!    with itself for each honest member it removes. A signature shown in a blame ends the
//!    accusation instead: everybody holds it now.

use crate::{
    message::{Accusation, Body, Signed, ANNOUNCE, BLAME, CONFIRM, FINAL, SHUFFLE, SIGN},
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
    /// Never sent a message it owed (no blame shows it), or did not answer a blame.
    Silent,
    /// Announced a key nobody can encrypt to (a low-order point), or revealed a decryption
    /// key that is not the one it announced.
    BadKey,
    /// Passed on ciphertexts that are not its predecessor's less its layer plus one new
    /// ciphertext that opens to an account: a malformed layer, a dropped, replaced or
    /// duplicated ciphertext, or a wrong count.
    BadShuffle,
    /// Confirmed a digest other than the one of the announced keys and the final list.
    BadConfirm,
    /// Holds back its signature of the statement, or signed something else.
    NoSignature,
    /// Accused a member of not sending what it did not owe the accuser.
    FalseAccusation,
    /// Blamed without accusing anyone or answering another member's blame.
    Unfounded,
    /// Accused a member that shows the message it is accused of withholding, or was that
    /// member: one of the two lies, and nobody can tell which.
    Disputed,
}

/// The blames of one run, as a member judges them.
pub struct Evidence<'a> {
    pub session: [u8; 32],
    pub run: u32,
    /// The run's members, in protocol order.
    pub members: &'a [Address],
    /// The blames this member received before its echo, and those the others echoed; all
    /// decoded or checked with [`Signed::is_valid_blame`].
    pub blames: Vec<&'a Signed>,
    /// Domain of the statement signatures.
    pub statement_namespace: &'a [u8],
    /// The run's statement for its sorted outputs.
    pub statement: &'a dyn Fn(&[Address]) -> Vec<u8>,
}

/// The judgement on a failed run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Each faulty member (by position) and its fault.
    pub faults: BTreeMap<usize, Fault>,
    /// Every member's signature of the run's statement, in member order, if the blames hold
    /// them all: then the run completed, whatever else the blames show.
    pub signatures: Option<Vec<Vec<u8>>>,
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

/// Whether the member at `acc.position` ever owes the member at `accuser` a message of step
/// `acc.kind` in a run of `n` members.
fn owes(n: usize, acc: &Accusation, accuser: usize) -> bool {
    let k = usize::from(acc.position);
    k < n
        && k != accuser
        && match acc.kind {
            ANNOUNCE | CONFIRM | SIGN => true,
            SHUFFLE => accuser == k + 1,
            FINAL => k + 1 == n,
            _ => false,
        }
}

/// The messages a member needed before it could send its message of step `kind`.
fn needs(n: usize, k: usize, kind: u8) -> Vec<(usize, u8)> {
    let announces = (0..n).map(|j| (j, ANNOUNCE));
    match kind {
        SHUFFLE | FINAL => announces
            .chain(k.checked_sub(1).map(|p| (p, SHUFFLE)))
            .collect(),
        CONFIRM => announces.chain([(n - 1, FINAL)]).collect(),
        SIGN => (0..n).map(|j| (j, CONFIRM)).collect(),
        _ => Vec::new(),
    }
}

/// What the blames show: every distinct body each member signed, per (position, step); the
/// (position, step) of each message each member's own blame shows it held; the digests of
/// the blames.
struct Shown<'a> {
    said: BTreeMap<(usize, u8), Vec<&'a Body>>,
    held: BTreeMap<usize, BTreeSet<(usize, u8)>>,
    digests: BTreeSet<[u8; 32]>,
}

fn shown<'a>(e: &'a Evidence<'_>) -> Shown<'a> {
    let position: BTreeMap<&Address, usize> =
        e.members.iter().enumerate().map(|(i, a)| (a, i)).collect();
    let of = |m: &Signed| {
        (m.session == e.session && m.run == e.run)
            .then(|| position.get(&m.from).copied())
            .flatten()
    };
    let mut said: BTreeMap<(usize, u8), Vec<&'a Body>> = BTreeMap::new();
    let mut note = |k: usize, m: &'a Signed| {
        let bodies = said.entry((k, m.body.kind())).or_default();
        if !bodies.contains(&&m.body) {
            bodies.push(&m.body);
        }
    };
    let mut held = BTreeMap::<usize, BTreeSet<(usize, u8)>>::new();
    let mut digests = BTreeSet::new();
    for b in e.blames.iter().filter(|b| b.body.kind() == BLAME) {
        let (Some(a), Body::Blame { evidence, .. }) = (of(b), &b.body) else {
            continue;
        };
        digests.insert(b.digest());
        note(a, b);
        for m in evidence.iter().filter(|m| m.body.kind() < BLAME) {
            if let Some(k) = of(m) {
                note(k, m);
                held.entry(a).or_default().insert((k, m.body.kind()));
            }
        }
    }
    Shown {
        said,
        held,
        digests,
    }
}

/// The verdict on a failed run (rules in the module docs).
pub fn judge(e: &Evidence<'_>) -> Verdict {
    let n = e.members.len();
    let Shown {
        said,
        held,
        digests,
    } = shown(e);
    let one = |k: usize, kind: u8| said.get(&(k, kind)).and_then(|b| b.first().copied());
    let has = |k: usize, kind: u8| said.contains_key(&(k, kind));

    let text = match said.get(&(n.saturating_sub(1), FINAL)).map(Vec::as_slice) {
        Some([Body::Final { outputs }]) => {
            let mut sorted = outputs.clone();
            sorted.sort();
            Some((e.statement)(&sorted))
        }
        _ => None,
    };
    let signature = |k: usize| -> Option<&Vec<u8>> {
        let text = text.as_ref()?;
        said.get(&(k, SIGN))?.iter().find_map(|b| match b {
            Body::Sign { signature }
                if e.members[k].verifies(e.statement_namespace, text, signature) =>
            {
                Some(signature)
            }
            _ => None,
        })
    };
    let signatures = (0..n).map(|k| signature(k).cloned()).collect();

    // 1. What signed messages show by themselves.
    let mut faults = BTreeMap::new();
    for (&(k, _), bodies) in &said {
        if bodies.len() > 1 {
            faults.insert(k, Fault::Equivocated);
        }
    }
    // The true digest needs no run key: the announced keys and the Final list, if the blames
    // show one of each.
    let eks: Option<Vec<[u8; 32]>> = (0..n)
        .map(|k| match said.get(&(k, ANNOUNCE)).map(Vec::as_slice) {
            Some([Body::Announce { ek }]) => Some(*ek),
            _ => None,
        })
        .collect();
    if let (Some(eks), Some([Body::Final { outputs }])) = (
        &eks,
        said.get(&(n.saturating_sub(1), FINAL)).map(Vec::as_slice),
    ) {
        let expected = confirm_digest(&e.session, e.run, eks, outputs);
        for k in 0..n {
            if matches!(one(k, CONFIRM), Some(Body::Confirm { digest }) if *digest != expected) {
                faults.entry(k).or_insert(Fault::BadConfirm);
            }
        }
    }
    let mut dks = Vec::with_capacity(n);
    for k in 0..n {
        let (
            Some(Body::Blame {
                accused,
                answers,
                dk,
                ..
            }),
            Some(Body::Announce { ek }),
        ) = (one(k, BLAME), one(k, ANNOUNCE))
        else {
            faults.entry(k).or_insert(Fault::Silent);
            continue;
        };
        let mut fault = None;
        if !onion::valid_key(ek) {
            fault = Some(Fault::BadKey);
        }
        match dk {
            Some(dk) if onion::public_of(dk) != Some(*ek) => fault = Some(Fault::BadKey),
            Some(dk) => dks.push(*dk),
            None if signature(k).is_none() => fault = Some(Fault::NoSignature),
            None => {}
        }
        if text.is_some() && has(k, SIGN) && signature(k).is_none() {
            fault = Some(Fault::NoSignature);
        }
        if accused.is_empty() && !answers.is_some_and(|d| digests.contains(&d)) {
            fault = Some(Fault::Unfounded);
        }
        if accused.iter().any(|acc| !owes(n, acc, k)) {
            fault = Some(Fault::FalseAccusation);
        }
        if let Some(fault) = fault {
            faults.entry(k).or_insert(fault);
        }
    }
    let accusations = || {
        (0..n).flat_map(|a| match one(a, BLAME) {
            Some(Body::Blame { accused, .. }) => accused
                .iter()
                .map(|acc| (a, usize::from(acc.position), acc.kind))
                .collect(),
            _ => Vec::new(),
        })
    };

    // 2. The replay.
    if faults.is_empty() && dks.len() == n {
        replay(e, &dks, &one, &mut faults);
    }

    // 3. Silence, where the accused's own blame shows it could have sent; 4. disputes.
    if faults.is_empty() {
        let mut disputes = Vec::new();
        for (a, k, kind) in accusations() {
            let lacked: Vec<(usize, u8)> = needs(n, k, kind)
                .into_iter()
                .filter(|need| !held.get(&k).is_some_and(|h| h.contains(need)))
                .collect();
            let could = lacked.is_empty();
            // The accused lacked something and accused its sender of withholding it.
            let accuses = matches!(one(k, BLAME), Some(Body::Blame { accused, .. })
                if accused.iter().any(|acc| lacked.contains(&(usize::from(acc.position), acc.kind))));
            match (has(k, kind), could) {
                (true, _) if kind == SIGN => {}
                (false, true) if kind == SIGN => {
                    faults.entry(k).or_insert(Fault::NoSignature);
                }
                (false, true) => {
                    faults.entry(k).or_insert(Fault::Silent);
                }
                (false, false) if accuses => {}
                _ => disputes.push((a, k)),
            }
        }
        if faults.is_empty() {
            let mut disputed = BTreeSet::new();
            for (a, k) in disputes {
                if !disputed.contains(&a) && !disputed.contains(&k) {
                    disputed.insert(a);
                    disputed.insert(k);
                }
            }
            faults.extend(disputed.into_iter().map(|k| (k, Fault::Disputed)));
        }
    }
    Verdict { faults, signatures }
}

/// Replays the shuffle with every run key: the first member whose output is not its input less
/// its layer plus one new ciphertext opening to a fresh account is at fault.
fn replay<'b>(
    e: &Evidence<'_>,
    dks: &[[u8; 32]],
    one: &impl Fn(usize, u8) -> Option<&'b Body>,
    faults: &mut BTreeMap<usize, Fault>,
) {
    let n = e.members.len();
    let (s, run) = (&e.session, e.run);
    let mut prev: Vec<Vec<u8>> = Vec::new();
    let mut plains: BTreeSet<Vec<u8>> = BTreeSet::new();
    for j in 0..n {
        let sent: Vec<Vec<u8>> = if j + 1 < n {
            match one(j, SHUFFLE) {
                Some(Body::Shuffle { layers }) => layers.clone(),
                _ => return,
            }
        } else {
            match one(j, FINAL) {
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
        prev = sent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_types::Keypair;

    const NS: &[u8] = b"judge-test";

    fn text(outputs: &[Address]) -> Vec<u8> {
        outputs.iter().flat_map(|a| a.0).collect()
    }

    /// A run of three that reached signing: every member's messages of steps 1-4, the
    /// signature of `bad` made over something else.
    fn signed_run(keys: &[Keypair], bad: Option<usize>) -> (Vec<Signed>, Vec<[u8; 32]>) {
        let s = [5; 32];
        let (dks, eks): (Vec<[u8; 32]>, Vec<[u8; 32]>) =
            keys.iter().map(|_| onion::keypair()).unzip();
        let mut msgs: Vec<Signed> = keys
            .iter()
            .zip(&eks)
            .map(|(k, &ek)| Signed::new(k, s, 0, Body::Announce { ek }))
            .collect();
        let mut outputs: Vec<Address> = (0..3)
            .map(|i| Keypair::from_seed(90 + i).address())
            .collect();
        msgs.push(Signed::new(
            &keys[2],
            s,
            0,
            Body::Final {
                outputs: outputs.clone(),
            },
        ));
        let digest = confirm_digest(&s, 0, &eks, &outputs);
        outputs.sort();
        for (i, k) in keys.iter().enumerate() {
            msgs.push(Signed::new(k, s, 0, Body::Confirm { digest }));
            let what = if Some(i) == bad {
                b"other".to_vec()
            } else {
                text(&outputs)
            };
            let signature = k.sign_bytes(NS, &what);
            msgs.push(Signed::new(k, s, 0, Body::Sign { signature }));
        }
        (msgs, dks)
    }

    fn blame(
        key: &Keypair,
        accused: &[usize],
        answers: Option<&Signed>,
        dk: Option<[u8; 32]>,
        evidence: Vec<Signed>,
    ) -> Signed {
        let accused = accused
            .iter()
            .map(|&k| Accusation {
                position: k as u16,
                kind: SIGN,
            })
            .collect();
        let answers = answers.map(Signed::digest);
        Signed::new(
            key,
            [5; 32],
            0,
            Body::Blame {
                accused,
                answers,
                dk,
                evidence,
            },
        )
    }

    /// Judged by two members holding the blames in different orders.
    fn judged(keys: &[Keypair], blames: &[Signed]) -> Verdict {
        let members: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        let verdict = |blames: Vec<&Signed>| {
            judge(&Evidence {
                session: [5; 32],
                run: 0,
                members: &members,
                blames,
                statement_namespace: NS,
                statement: &text,
            })
        };
        let one = verdict(blames.iter().collect());
        assert_eq!(verdict(blames.iter().rev().collect()), one);
        one
    }

    fn keys() -> Vec<Keypair> {
        let mut keys: Vec<Keypair> = (0..3).map(Keypair::from_seed).collect();
        keys.sort_by_key(|k| k.address());
        keys
    }

    #[test]
    fn a_signature_of_something_else_is_named() {
        let keys = keys();
        let (msgs, _) = signed_run(&keys, Some(1));
        let mine = |k: usize| -> Vec<Signed> {
            msgs.iter()
                .filter(|m| m.from == keys[k].address() || m.body.kind() != SIGN)
                .cloned()
                .collect()
        };
        let first = blame(&keys[0], &[1], None, None, mine(0));
        let blames = [
            blame(&keys[1], &[], Some(&first), None, mine(1)),
            blame(&keys[2], &[1], None, None, mine(2)),
            first,
        ];
        let v = judged(&keys, &blames);
        assert_eq!(v.faults, BTreeMap::from([(1, Fault::NoSignature)]));
        assert_eq!(v.signatures, None);
    }

    #[test]
    fn signatures_shown_in_blames_complete_the_run() {
        let keys = keys();
        let (msgs, _) = signed_run(&keys, None);
        // Member 0 never got member 1's signature; member 2 shows it.
        let without = msgs
            .iter()
            .filter(|m| !(m.from == keys[1].address() && m.body.kind() == SIGN))
            .cloned()
            .collect();
        let first = blame(&keys[0], &[1], None, None, without);
        let blames = [
            blame(&keys[1], &[], Some(&first), None, msgs.clone()),
            blame(&keys[2], &[], Some(&first), None, msgs.clone()),
            first,
        ];
        let v = judged(&keys, &blames);
        assert!(v.faults.is_empty(), "{:?}", v.faults);
        assert_eq!(v.signatures.map(|s| s.len()), Some(3));
    }

    /// A member that did not sign, shows its key and accuses a signer of not signing, while
    /// hiding a confirmation it got: its accusation is empty and its excuse (a confirmation
    /// it lacked) is one it never claimed, so it is a dispute, not a run without a verdict.
    #[test]
    fn a_member_stopping_for_no_shown_reason_is_disputed() {
        let keys = keys();
        let (msgs, dks) = signed_run(&keys, None);
        let from =
            |m: &Signed, k: usize, kind: u8| m.from == keys[k].address() && m.body.kind() == kind;
        let hidden: Vec<Signed> = msgs
            .iter()
            .filter(|m| !from(m, 0, SIGN) && !from(m, 2, CONFIRM))
            .cloned()
            .collect();
        let shown: Vec<Signed> = msgs.iter().filter(|m| !from(m, 0, SIGN)).cloned().collect();
        let first = blame(&keys[0], &[1], None, Some(dks[0]), hidden);
        let blames = [
            blame(&keys[1], &[0], None, None, shown.clone()),
            blame(&keys[2], &[0], None, None, shown),
            first,
        ];
        let v = judged(&keys, &blames);
        assert_eq!(
            v.faults,
            BTreeMap::from([(0, Fault::Disputed), (1, Fault::Disputed)])
        );
    }
}
