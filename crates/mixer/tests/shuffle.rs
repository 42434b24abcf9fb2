//! CoinShuffle sessions among members on loopback TCP: honest runs, and each kind of
//! misbehaviour named by the blame phase while the honest rest completes.

use agora_mixer::{
    loopback_links, mix, Body, Fault, MixConfig, MixError, MixOutcome, Net, Signed, TcpNet,
};
use agora_types::{Address, Keypair};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

const NS: &[u8] = b"test-statement";

fn statement(inputs: &[Address], outputs: &[Address]) -> Vec<u8> {
    let mut v = Vec::new();
    for a in inputs.iter().chain(outputs) {
        v.extend_from_slice(&a.0);
    }
    v
}

/// How the faulty member deviates.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Corrupts one ciphertext it passes on.
    MalformedLayer,
    /// Passes on one ciphertext fewer (as the last member: one output fewer in the list).
    DropCiphertext,
    /// Announces a different key to half of the others.
    Equivocate,
    /// Never sends anything.
    Silent,
}

type Log = Arc<Mutex<Vec<Signed>>>;

/// A member's links, tapped: what goes on the wire is logged, as an observer of every message
/// would see it. A faulty member's links also tamper, signing with the member's own key.
struct Tapped {
    inner: TcpNet,
    key: Keypair,
    how: Option<Misbehaviour>,
    sent: usize,
    log: Log,
}

impl Net for Tapped {
    async fn send(&mut self, to: &Address, bytes: &[u8]) {
        self.sent += 1;
        let Some(msg) = Signed::decode(bytes) else {
            return;
        };
        let Some(how) = self.how else {
            self.log.lock().unwrap().push(msg);
            return self.inner.send(to, bytes).await;
        };
        let body = match (how, msg.body.clone()) {
            (Misbehaviour::Silent, _) => return,
            (Misbehaviour::MalformedLayer, Body::Shuffle { mut layers }) => {
                let last = layers[0].len() - 1;
                layers[0][last] ^= 0x55;
                Body::Shuffle { layers }
            }
            (Misbehaviour::DropCiphertext, Body::Shuffle { mut layers }) => {
                layers.pop();
                Body::Shuffle { layers }
            }
            (Misbehaviour::DropCiphertext, Body::Final { mut outputs }) => {
                outputs.pop();
                Body::Final { outputs }
            }
            (Misbehaviour::Equivocate, Body::Announce { .. }) if self.sent.is_multiple_of(2) => {
                Body::Announce {
                    ek: agora_mixer::onion::keypair().1,
                }
            }
            // What it really signed before tampering stays hidden.
            (
                _,
                Body::Blame {
                    accused,
                    dk,
                    evidence,
                },
            ) => Body::Blame {
                accused,
                dk,
                evidence: evidence
                    .into_iter()
                    .filter(|m| m.from != self.key.address())
                    .collect(),
            },
            (_, body) => body,
        };
        let forged = Signed::new(&self.key, msg.session, msg.run, body);
        self.inner.send(to, &forged.encode()).await;
        self.log.lock().unwrap().push(forged);
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        self.inner.recv().await
    }
}

/// Runs a session of `n` members; `faulty` is (position in address order, misbehaviour).
/// Returns the members (sorted), each honest member's result and every message sent.
async fn session(
    n: usize,
    faulty: Option<(usize, Misbehaviour)>,
) -> (
    Vec<Keypair>,
    BTreeMap<Address, Result<MixOutcome, MixError>>,
    Vec<Signed>,
) {
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
                sent: 0,
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

/// Every honest member completed the same mix, holds a distinct listed output, and every
/// signature verifies; returns the common outcome.
fn agreed(results: &BTreeMap<Address, Result<MixOutcome, MixError>>) -> MixOutcome {
    let outcomes: Vec<&MixOutcome> = results
        .values()
        .map(|r| {
            r.as_ref()
                .unwrap_or_else(|e| panic!("honest member failed: {e}"))
        })
        .collect();
    let first = outcomes[0];
    let text = statement(&first.inputs, &first.outputs);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_members_complete_in_one_run() {
    let (keys, results, _) = session(5, None).await;
    let outcome = agreed(&results);
    assert_eq!(outcome.run, 0);
    assert_eq!(
        outcome.inputs,
        keys.iter().map(|k| k.address()).collect::<Vec<_>>()
    );
    assert!(outcome.excluded.is_empty());
}

async fn faulty_member_is_named(position: usize, how: Misbehaviour, fault: Fault) {
    let (keys, results, _) = session(5, Some((position, how))).await;
    let outcome = agreed(&results);
    assert_eq!(outcome.excluded.len(), 1, "{:?}", outcome.excluded);
    assert_eq!(outcome.excluded[0].member, keys[position].address());
    assert_eq!(outcome.excluded[0].fault, fault);
    assert_eq!(outcome.inputs.len(), 4);
    assert!(!outcome.inputs.contains(&keys[position].address()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_layer_is_named() {
    faulty_member_is_named(1, Misbehaviour::MalformedLayer, Fault::BadShuffle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_ciphertext_is_named() {
    faulty_member_is_named(2, Misbehaviour::DropCiphertext, Fault::BadShuffle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_member_dropping_an_output_is_named() {
    faulty_member_is_named(4, Misbehaviour::DropCiphertext, Fault::BadShuffle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_member_is_named() {
    faulty_member_is_named(3, Misbehaviour::Equivocate, Fault::Equivocated).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_is_named() {
    faulty_member_is_named(0, Misbehaviour::Silent, Fault::Silent).await;
}

/// What an observer of every message sees does not place an output with its owner: no
/// message before the final list carries an output, and where a member's output lands in the
/// final list is uniform over sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_unlinkable_from_the_messages() {
    let sessions = 150;
    let mut at = [[0usize; 3]; 3];
    for _ in 0..sessions {
        let (keys, results, log) = session(3, None).await;
        agreed(&results);
        let outputs: Vec<Address> = keys
            .iter()
            .map(|k| results[&k.address()].as_ref().unwrap().output.address())
            .collect();
        let mut final_list = None;
        for msg in &log {
            match &msg.body {
                Body::Final { outputs } => final_list = Some(outputs.clone()),
                Body::Confirm { .. } | Body::Sign { .. } => {}
                other => {
                    let bytes = borsh::to_vec(other).unwrap();
                    for o in &outputs {
                        assert!(
                            !bytes.windows(32).any(|w| w == o.0),
                            "an output appears in the clear before the final list"
                        );
                    }
                }
            }
        }
        let final_list = final_list.expect("the last member broadcast the list");
        for (member, o) in outputs.iter().enumerate() {
            at[member][final_list.iter().position(|x| x == o).unwrap()] += 1;
        }
    }
    for row in at {
        for count in row {
            // Expected 50 in each cell; about 5 standard deviations either side.
            assert!(
                (20..=80).contains(&count),
                "final-list positions {at:?} are not uniform"
            );
        }
    }
}
