//! Every blame path: each kind of fault and each kind of false accusation names the deviating
//! member, the honest rest completes with the same verdict, and the verdict is what anyone
//! computes from the blames alone.

mod common;

use agora_mixer::{Body, Fault, MixError, DEFAULT_MIN_MEMBERS};
use common::{agreed, session, session_with, statement, verdict_from_log, Lie, Misbehaviour, NS};

/// The member at `position` (alone) is excluded for `fault`; the other four complete.
async fn faulty_member_is_named(position: usize, how: Misbehaviour, fault: Fault) {
    let (keys, results, log) = session(5, Some((position, how))).await;
    let outcome = agreed(&results);
    assert_eq!(outcome.excluded.len(), 1, "{:?}", outcome.excluded);
    assert_eq!(outcome.excluded[0].member, keys[position].address());
    assert_eq!(outcome.excluded[0].fault, fault);
    assert_eq!(outcome.inputs.len(), 4);
    assert!(!outcome.inputs.contains(&keys[position].address()));
    verdict_from_log(&keys, &log, &outcome.excluded);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_confirmation_is_named() {
    faulty_member_is_named(3, Misbehaviour::WrongDigest, Fault::BadConfirm).await;
}

/// A low-order key used to abort the session with nobody blamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_nobody_can_encrypt_to_is_named_at_announcement() {
    faulty_member_is_named(2, Misbehaviour::ZeroKey, Fault::BadKey).await;
}

/// Accusing members of messages they never owe the accuser used to exclude them: now it
/// excludes the accuser alone, whichever lie it tells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_accusation_excludes_only_the_accuser() {
    for lie in [
        Lie::FinalOfNonLast,
        Lie::ShuffleOfNonPredecessor,
        Lie::Nonsense,
    ] {
        let how = Misbehaviour::Accuse { lie, to_one: false };
        faulty_member_is_named(3, how, Fault::FalseAccusation).await;
    }
}

/// A blame that accuses nobody used to restart the run forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_blame_excludes_its_sender() {
    let how = Misbehaviour::Accuse {
        lie: Lie::Nobody,
        to_one: false,
    };
    faulty_member_is_named(1, how, Fault::Unfounded).await;
}

/// A blame sent to one member only: the echo round gets it to all, so all judge alike
/// (judged on what each received, the others would find the sender silent, and the member
/// answering it would look unfounded to them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blame_sent_to_one_member_reaches_the_same_verdict_everywhere() {
    let how = Misbehaviour::Accuse {
        lie: Lie::FinalOfNonLast,
        to_one: true,
    };
    faulty_member_is_named(2, how, Fault::FalseAccusation).await;
}

/// Accusing every member of a message each shows it sent: nobody can tell who lies, so the
/// accuser and one accused go, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disputed_accusation_costs_the_accuser_one_for_one() {
    for (z, lie) in [(4, Lie::Announcements), (3, Lie::Premature)] {
        let how = Misbehaviour::Accuse { lie, to_one: false };
        let (keys, mut results, log) = session(6, Some((z, how))).await;
        let innocent: Vec<_> = results
            .iter()
            .filter(|(_, r)| matches!(r, Err(f) if matches!(f.error, MixError::Excluded(Fault::Disputed))))
            .map(|(a, _)| *a)
            .collect();
        assert_eq!(innocent.len(), 1, "{lie:?}");
        results.remove(&innocent[0]);
        let outcome = agreed(&results);
        let excluded: Vec<_> = outcome
            .excluded
            .iter()
            .map(|x| (x.member, x.fault))
            .collect();
        assert_eq!(excluded.len(), 2, "{lie:?}: {excluded:?}");
        assert!(excluded.contains(&(keys[z].address(), Fault::Disputed)));
        assert!(excluded.contains(&(innocent[0], Fault::Disputed)));
        assert!(excluded.iter().all(|x| x.1 == Fault::Disputed));
        assert_eq!(outcome.inputs.len(), 4);
        verdict_from_log(&keys, &log, &outcome.excluded);
    }
}

/// A member that holds back its signature fails the run at signing while it can still
/// submit that run's statement: the honest members complete the next run and keep the keys
/// of the failed one, whose statement differs (it names its run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_runs_keep_their_keys_when_signing_fails() {
    let z = 1;
    let (keys, results, log) = session(4, Some((z, Misbehaviour::WithholdSignature))).await;
    let outcome = agreed(&results);
    assert_eq!(outcome.run, 1);
    assert_eq!(outcome.excluded.len(), 1);
    assert_eq!(outcome.excluded[0].member, keys[z].address());
    verdict_from_log(&keys, &log, &outcome.excluded);
    let members: Vec<_> = keys.iter().map(|k| k.address()).collect();
    let run0 = results
        .values()
        .map(|r| &r.as_ref().unwrap().signed)
        .next()
        .unwrap();
    assert_eq!(run0.len(), 1);
    let (inputs, outputs) = (&run0[0].inputs, &run0[0].outputs);
    assert_eq!(inputs, &members);
    assert_ne!(
        statement(0, inputs, outputs),
        statement(1, &outcome.inputs, &outcome.outputs)
    );
    // The withholder can complete run 0 with everyone's signature but its own...
    let text = statement(0, inputs, outputs);
    let signatures: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| {
            log.iter()
                .find_map(|m| match &m.body {
                    Body::Sign { signature } if m.run == 0 && m.from == k.address() => {
                        Some(signature.clone())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| k.sign_bytes(NS, &text))
        })
        .collect();
    for (input, sig) in inputs.iter().zip(&signatures) {
        assert!(input.verifies(NS, &text, sig));
    }
    // ...and every honest member still owns its output of run 0.
    for result in results.values() {
        let signed = &result.as_ref().unwrap().signed;
        assert_eq!(signed.len(), 1);
        assert_eq!(&signed[0].outputs, outputs);
        assert!(outputs.contains(&signed[0].output.address()));
    }
}

/// Below the minimum, the session ends with an error instead of a mix of two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_members_left_end_the_session() {
    let (_, results, _) = session(3, Some((0, Misbehaviour::Silent))).await;
    for result in results.values() {
        match result {
            Err(f) => assert!(
                matches!(
                    f.error,
                    MixError::TooFewMembers {
                        left: 2,
                        min: DEFAULT_MIN_MEMBERS
                    }
                ),
                "{f}"
            ),
            Ok(o) => panic!("mixed with {} members", o.inputs.len()),
        }
    }
    // Allowed explicitly, two may mix.
    let (_, results, _) = session_with(3, Some((0, Misbehaviour::Silent)), 2).await;
    assert_eq!(agreed(&results).inputs.len(), 2);
}
