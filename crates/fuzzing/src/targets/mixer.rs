//! The messages of a CoinShuffle run, as members receive them from each other.
//!
//! A member signs whatever it likes, so the fuzzer controls message *content*; signatures only
//! say who sent it. An input is `[n][messages]`: `n` picks a run of 2 to 8 members, and the
//! rest is a sequence of borsh-encoded [`Signed`] messages. Each is signed again by the member
//! its `from` names (or, for an address that is no member, by the member or outsider its first
//! byte picks), blames' evidence included, so that fuzzed content reaches the judge.

use agora_mixer::{
    confirm_digest, judge, onion, Accusation, Body, Evidence, Signed, Verdict, MAX_MESSAGE_BYTES,
};
use agora_types::{Address, Keypair};
use borsh::BorshDeserialize;
use std::sync::OnceLock;

const MAX_MEMBERS: usize = 8;
const SESSION: [u8; 32] = [3; 32];
const RUN: u32 = 0;
const STATEMENT_NAMESPACE: &[u8] = b"agora-fuzz-statement";
/// Messages beyond this are ignored.
const MAX_MESSAGES: usize = 64;

/// Members 0 to 7 and, last, an outsider.
fn keys() -> &'static [Keypair; MAX_MEMBERS + 1] {
    static KEYS: OnceLock<[Keypair; MAX_MEMBERS + 1]> = OnceLock::new();
    KEYS.get_or_init(|| std::array::from_fn(|i| Keypair::from_seed(1_000 + i as u64)))
}

fn statement(outputs: &[Address]) -> Vec<u8> {
    borsh::to_vec(outputs).unwrap_or_default()
}

/// The key that signs a message claiming to be from `from` in a run of `n`.
fn signer(n: usize, from: &Address) -> &'static Keypair {
    let keys = keys();
    keys[..n]
        .iter()
        .find(|k| k.address() == *from)
        .unwrap_or_else(|| {
            let i = usize::from(from.0[0]) % (n + 1);
            if i == n {
                &keys[MAX_MEMBERS]
            } else {
                &keys[i]
            }
        })
}

fn resign(n: usize, m: Signed) -> Signed {
    let body = match m.body {
        Body::Blame {
            accused,
            answers,
            dk,
            evidence,
        } => Body::Blame {
            accused,
            answers,
            dk,
            evidence: evidence.into_iter().map(|e| resign(n, e)).collect(),
        },
        Body::Echo { blames } => Body::Echo {
            blames: blames.into_iter().map(|b| resign(n, b)).collect(),
        },
        body => body,
    };
    Signed::new(signer(n, &m.from), m.session, m.run, body)
}

fn verdict(members: &[Address], blames: Vec<&Signed>) -> Verdict {
    judge(&Evidence {
        session: SESSION,
        run: RUN,
        members,
        blames,
        statement_namespace: STATEMENT_NAMESPACE,
        statement: &statement,
    })
}

/// Panics if `data` breaks the property: decoding and checking never panic, a message signed
/// by its sender decodes back to itself, opening any layer never panics, and the judge never
/// panics, names only members, and reaches the same verdict whatever the blames' order.
pub fn check(data: &[u8]) {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let n = 2 + usize::from(first) % (MAX_MEMBERS - 1);
    let mut messages = Vec::new();
    while messages.len() < MAX_MESSAGES {
        let Ok(m) = Signed::deserialize(&mut rest) else {
            break;
        };
        let _ = Signed::decode(&m.encode());
        let _ = m.is_valid_blame(&SESSION, RUN);
        messages.push(resign(n, m));
    }
    let dk = [5; 32];
    let mut blames = Vec::new();
    for m in &messages {
        match &m.body {
            Body::Blame { .. } if m.is_valid_blame(&SESSION, RUN) => blames.push(m),
            Body::Echo { blames: echoed } => {
                blames.extend(echoed.iter().filter(|b| b.is_valid_blame(&SESSION, RUN)));
            }
            Body::Shuffle { layers } => {
                for (k, layer) in layers.iter().enumerate() {
                    let _ = onion::open(&m.session, m.run, k, &dk, layer);
                }
            }
            _ => {}
        }
        if !matches!(m.body, Body::Blame { .. }) && m.encode().len() <= MAX_MESSAGE_BYTES {
            assert_eq!(
                Signed::decode(&m.encode()).as_ref(),
                Some(m),
                "a message signed by its sender decodes back to itself"
            );
        }
    }
    let members: Vec<Address> = keys()[..n].iter().map(Keypair::address).collect();
    let forward = verdict(&members, blames.clone());
    assert!(
        forward.faults.keys().all(|&k| k < n),
        "the judge named a non-member: {forward:?}"
    );
    blames.reverse();
    assert_eq!(
        verdict(&members, blames),
        forward,
        "the verdict depends on the order blames arrived in"
    );
}

/// A failed run of three: announcements, a shuffle, a confirm, a signature, a blame naming a
/// member that withheld its confirm, its answer, and an echo of both.
pub fn seeds() -> Vec<Vec<u8>> {
    let n = 3;
    let keys = &keys()[..n];
    let dks: Vec<[u8; 32]> = (0..n).map(|i| [10 + i as u8; 32]).collect();
    let eks: Vec<[u8; 32]> = dks.iter().filter_map(onion::public_of).collect();
    let msg = |i: usize, body| Signed::new(&keys[i], SESSION, RUN, body);
    let announces: Vec<Signed> = (0..n)
        .map(|i| msg(i, Body::Announce { ek: eks[i] }))
        .collect();
    // HPKE seals with a fresh ephemeral key: a fixed layer keeps the seeds the same everywhere.
    let layer = vec![0x42; 80];
    let outputs = vec![Address([7; 32]), Address([8; 32]), Address([9; 32])];
    let shuffle = msg(
        0,
        Body::Shuffle {
            layers: vec![layer],
        },
    );
    let final_list = msg(
        2,
        Body::Final {
            outputs: outputs.clone(),
        },
    );
    let confirm = msg(
        1,
        Body::Confirm {
            digest: confirm_digest(&SESSION, RUN, &eks, &outputs),
        },
    );
    let sign = msg(
        0,
        Body::Sign {
            signature: keys[0].sign_bytes(STATEMENT_NAMESPACE, &statement(&outputs)),
        },
    );
    let mut evidence = announces.clone();
    evidence.extend([shuffle.clone(), final_list.clone(), confirm.clone()]);
    let blame = msg(
        1,
        Body::Blame {
            accused: vec![Accusation {
                position: 2,
                kind: 3,
            }],
            answers: None,
            dk: Some(dks[1]),
            evidence: evidence.clone(),
        },
    );
    let answer = msg(
        2,
        Body::Blame {
            accused: vec![],
            answers: Some(blame.digest()),
            dk: Some(dks[2]),
            evidence,
        },
    );
    let echo = msg(
        0,
        Body::Echo {
            blames: vec![blame.clone(), answer.clone()],
        },
    );
    let mut all = vec![first_byte(n)];
    for m in announces.iter().chain([
        &shuffle,
        &final_list,
        &confirm,
        &sign,
        &blame,
        &answer,
        &echo,
    ]) {
        all.extend(m.encode());
    }
    let mut just_blames = vec![first_byte(n)];
    just_blames.extend(blame.encode());
    just_blames.extend(answer.encode());
    vec![all, just_blames, vec![first_byte(n)]]
}

/// The first byte of an input of a run of `n` members.
fn first_byte(n: usize) -> u8 {
    (n - 2) as u8
}
