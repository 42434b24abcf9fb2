//! CoinShuffle sessions among honest members on loopback TCP: they complete in one run, and
//! nothing an observer sees links an output to its owner. (Blame paths: `blame.rs`.)

mod common;

use agora_mixer::Body;
use agora_types::Address;
use common::{agreed, session};

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
