// Each test binary uses a part of the harness.
#![allow(dead_code)]

//! Sessions among members on loopback TCP, one of them possibly deviating: its links tamper
//! with what it sends, signing with its own key, as a dishonest member could.

use agora_mixer::{
    judge, loopback_links, mix, onion, Accusation, Body, Evidence, Exclusion, MixConfig,
    MixFailure, MixOutcome, Net, Signed, TcpNet, DEFAULT_MIN_MEMBERS,
};
use agora_types::{Address, Keypair};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

pub const NS: &[u8] = b"test-statement";

/// The statement every member signs: the run, the inputs, the outputs.
pub fn statement(run: u32, inputs: &[Address], outputs: &[Address]) -> Vec<u8> {
    let mut v = run.to_be_bytes().to_vec();
    for a in inputs.iter().chain(outputs) {
        v.extend_from_slice(&a.0);
    }
    v
}

/// How the faulty member deviates.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// Corrupts one ciphertext it passes on.
    MalformedLayer,
    /// Passes on one ciphertext fewer (as the last member: one output fewer in the list).
    DropCiphertext,
    /// Announces a different key to half of the others.
    Equivocate,
    /// Never sends anything.
    Silent,
    /// Announces the all-zero X25519 point, which nobody can encrypt to.
    ZeroKey,
    /// Confirms a digest other than the true one.
    WrongDigest,
    /// Sends its signature to nobody, though it collects everyone else's.
    WithholdSignature,
    /// Right after announcing, blames with these accusations (nothing else in that run),
    /// to every other member or, with `to_one`, to the first other member only.
    Accuse { lie: Lie, to_one: bool },
}

/// The accusations of a lying blame by the member at `z` of `n`.
#[derive(Clone, Copy, Debug)]
pub enum Lie {
    /// Nobody: a blame that accuses no one and answers nothing.
    Nobody,
    /// Every member but the last of not sending the Final list.
    FinalOfNonLast,
    /// Every member but its predecessor of not passing it ciphertexts.
    ShuffleOfNonPredecessor,
    /// Itself, a position past the end and an unknown step.
    Nonsense,
    /// Its predecessor of not passing it ciphertexts, before it could have.
    Premature,
    /// Every other member of not announcing, though all did.
    Announcements,
}

impl Lie {
    fn accusations(self, z: usize, n: usize) -> Vec<Accusation> {
        let acc = |k: usize, kind: u8| Accusation {
            position: k as u16,
            kind,
        };
        let others = (0..n).filter(move |&k| k != z);
        match self {
            Lie::Nobody => Vec::new(),
            Lie::FinalOfNonLast => others.filter(|&k| k + 1 < n).map(|k| acc(k, 2)).collect(),
            Lie::ShuffleOfNonPredecessor => {
                others.filter(|&k| k + 1 != z).map(|k| acc(k, 1)).collect()
            }
            Lie::Nonsense => vec![acc(z, 0), acc(n + 3, 0), acc((z + 1) % n, 9)],
            Lie::Premature => vec![acc(z - 1, 1)],
            Lie::Announcements => others.map(|k| acc(k, 0)).collect(),
        }
    }
}

pub type Log = Arc<Mutex<Vec<Signed>>>;

/// A member's links, tapped: what goes on the wire is logged, as an observer of every message
/// would see it.
pub struct Tapped {
    inner: TcpNet,
    key: Keypair,
    how: Option<Misbehaviour>,
    /// Position and count of the run's members (the faulty one is never excluded before
    /// it acts, so run 0's).
    at: (usize, usize),
    sent: usize,
    /// The lying announcement and blame of the current run.
    lying: Option<(Signed, Signed)>,
    /// Whether a blame meant for one member only went out.
    told_one: bool,
    /// The blame it sent in the current run, as sent.
    blame: Option<Signed>,
    log: Log,
}

impl Tapped {
    async fn forward(&mut self, to: &Address, msg: Signed) {
        self.inner.send(to, &msg.encode()).await;
        self.log.lock().unwrap().push(msg);
    }
}

impl Net for Tapped {
    async fn send(&mut self, to: &Address, bytes: &[u8]) {
        self.sent += 1;
        let Some(msg) = Signed::decode(bytes) else {
            return;
        };
        let Some(how) = self.how else {
            return self.forward(to, msg).await;
        };
        let resign = |body| Signed::new(&self.key, msg.session, msg.run, body);
        let forged = match (how, msg.body.clone()) {
            (Misbehaviour::Silent, _) => return,
            (Misbehaviour::Accuse { lie, to_one }, Body::Announce { .. }) => {
                // One announcement and one blame per run, the same to every peer.
                if self.lying.as_ref().is_none_or(|(a, _)| a.run != msg.run) {
                    let (dk, ek) = onion::keypair();
                    let announce = resign(Body::Announce { ek });
                    let blame = resign(Body::Blame {
                        accused: lie.accusations(self.at.0, self.at.1),
                        answers: None,
                        dk: Some(dk),
                        evidence: vec![announce.clone()],
                    });
                    self.lying = Some((announce, blame));
                }
                let Some((announce, blame)) = self.lying.clone() else {
                    return;
                };
                let first = !self.told_one;
                self.told_one = true;
                self.forward(to, announce).await;
                if !to_one || first {
                    self.forward(to, blame).await;
                }
                return;
            }
            // Nothing else of a run it lied in.
            (Misbehaviour::Accuse { .. }, _) => return,
            (Misbehaviour::MalformedLayer, Body::Shuffle { mut layers }) => {
                let last = layers[0].len() - 1;
                layers[0][last] ^= 0x55;
                resign(Body::Shuffle { layers })
            }
            (Misbehaviour::DropCiphertext, Body::Shuffle { mut layers }) => {
                layers.pop();
                resign(Body::Shuffle { layers })
            }
            (Misbehaviour::DropCiphertext, Body::Final { mut outputs }) => {
                outputs.pop();
                resign(Body::Final { outputs })
            }
            (Misbehaviour::Equivocate, Body::Announce { .. }) if self.sent.is_multiple_of(2) => {
                resign(Body::Announce {
                    ek: onion::keypair().1,
                })
            }
            (Misbehaviour::ZeroKey, Body::Announce { .. }) => {
                resign(Body::Announce { ek: [0; 32] })
            }
            (Misbehaviour::WrongDigest, Body::Confirm { mut digest }) => {
                digest[0] ^= 1;
                resign(Body::Confirm { digest })
            }
            (Misbehaviour::WithholdSignature, Body::Sign { .. }) => return,
            // What it really signed before tampering stays hidden, in its blame and echo.
            (
                _,
                Body::Blame {
                    accused,
                    answers,
                    dk,
                    evidence,
                },
            ) => {
                let blame = resign(Body::Blame {
                    accused,
                    answers,
                    dk,
                    evidence: evidence
                        .into_iter()
                        .filter(|m| m.from != self.key.address())
                        .collect(),
                });
                self.blame = Some(blame.clone());
                blame
            }
            (_, Body::Echo { blames }) => resign(Body::Echo {
                blames: blames
                    .into_iter()
                    .filter(|m| m.from != self.key.address())
                    .chain(self.blame.clone().filter(|b| b.run == msg.run))
                    .collect(),
            }),
            (_, body) => resign(body),
        };
        self.forward(to, forged).await;
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        self.inner.recv().await
    }
}

/// What each honest member got.
pub type Results = BTreeMap<Address, Result<MixOutcome, MixFailure>>;

/// Runs a session of `n` members (at least `min_members` per run); `faulty` is (position in
/// address order, misbehaviour). Returns the members (sorted), each honest member's result
/// and every message sent.
pub async fn session_with(
    n: usize,
    faulty: Option<(usize, Misbehaviour)>,
    min_members: usize,
) -> (Vec<Keypair>, Results, Vec<Signed>) {
    let log = Log::default();
    let mut keys: Vec<Keypair> = (0..n)
        .map(|_| Keypair::generate(&mut rand::rngs::OsRng))
        .collect();
    keys.sort_by_key(|k| k.address());
    let addresses: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let links = loopback_links(&addresses).await.unwrap();
    let cfg = MixConfig {
        session: rand::random(),
        members: addresses,
        step_timeout: Duration::from_millis(1500),
        statement_namespace: NS.to_vec(),
        min_members,
    };
    let mut tasks = Vec::new();
    for (i, (key, (listener, peers))) in keys.iter().cloned().zip(links).enumerate() {
        let cfg = cfg.clone();
        let how = faulty.and_then(|(p, how)| (p == i).then_some(how));
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let inner = TcpNet::connect(listener, &peers, Duration::from_secs(5)).await;
            let mut net = Tapped {
                inner,
                key: key.clone(),
                how,
                at: (i, n),
                sent: 0,
                lying: None,
                told_one: false,
                blame: None,
                log,
            };
            let result = mix(&cfg, &key, &mut net, statement).await;
            (key.address(), how.is_some(), result)
        }));
    }
    let mut results = BTreeMap::new();
    for t in tasks {
        let (addr, is_faulty, result) = t.await.unwrap();
        if !is_faulty {
            results.insert(addr, result);
        }
    }
    let log = log.lock().unwrap().clone();
    (keys, results, log)
}

pub async fn session(
    n: usize,
    faulty: Option<(usize, Misbehaviour)>,
) -> (Vec<Keypair>, Results, Vec<Signed>) {
    session_with(n, faulty, DEFAULT_MIN_MEMBERS).await
}

/// Every honest member completed the same mix, holds a distinct listed output, and every
/// signature verifies; returns the common outcome.
pub fn agreed(results: &Results) -> MixOutcome {
    let outcomes: Vec<&MixOutcome> = results
        .values()
        .map(|r| {
            r.as_ref()
                .unwrap_or_else(|e| panic!("honest member failed: {e}"))
        })
        .collect();
    let first = outcomes[0];
    let text = statement(first.run, &first.inputs, &first.outputs);
    for o in &outcomes {
        assert_eq!(o.inputs, first.inputs);
        assert_eq!(o.outputs, first.outputs);
        assert_eq!(o.excluded, first.excluded);
        assert!(o.outputs.contains(&o.output.address()));
        assert!(
            o.outputs.windows(2).all(|w| w[0] < w[1]),
            "outputs are sorted"
        );
        for (input, sig) in o.inputs.iter().zip(&o.signatures) {
            assert!(input.verifies(NS, &text, sig));
        }
    }
    let mine: std::collections::BTreeSet<_> = outcomes.iter().map(|o| o.output.address()).collect();
    assert_eq!(mine.len(), outcomes.len(), "each member got its own output");
    first.clone()
}

/// The verdict on run 0 from every blame an observer saw, judged twice as two members
/// holding them in different orders (one with each blame twice) would: both must equal
/// the exclusions the honest members made.
pub fn verdict_from_log(keys: &[Keypair], log: &[Signed], excluded: &[Exclusion]) {
    let members: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let mut blames: Vec<&Signed> = log
        .iter()
        .filter(|m| m.run == 0 && matches!(m.body, Body::Blame { .. }))
        .collect();
    let stmt = |outputs: &[Address]| statement(0, &members, outputs);
    let judged = |blames: Vec<&Signed>| {
        judge(&Evidence {
            session: blames[0].session,
            run: 0,
            members: &members,
            blames,
            statement_namespace: NS,
            statement: &stmt,
        })
    };
    let one = judged(blames.clone());
    blames.reverse();
    blames.extend(blames.clone());
    assert_eq!(
        judged(blames),
        one,
        "the verdict depends on the order of blames"
    );
    let expected: BTreeMap<usize, _> = excluded
        .iter()
        .filter(|x| x.run == 0)
        .map(|x| {
            (
                members.iter().position(|m| *m == x.member).unwrap(),
                x.fault,
            )
        })
        .collect();
    assert_eq!(one.faults, expected);
}
