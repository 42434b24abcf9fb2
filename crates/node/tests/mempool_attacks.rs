//! Hostile submissions against the mempool: floods of transactions that can never execute,
//! senders who cannot pay, and the order of the checks.

mod common;

use agora_consensus::TxPool;
use agora_ledger::CallError;
use agora_node::{limits::MempoolLimits, mempool::SubmitError};
use agora_types::{Call, Keypair, SignedTransaction, TxError};
use common::*;

fn nonces(txs: &[SignedTransaction]) -> Vec<(agora_types::Address, u64)> {
    txs.iter().map(|t| (t.tx.sender, t.tx.nonce)).collect()
}

/// A funded key floods nearly-1 MiB transactions that wait for a nonce it never sends. The
/// pool used to take all 256 of them and refuse everyone else until a restart; now it takes
/// a few, and an honest transfer is still taken and proposed.
#[test]
fn a_gapped_flood_cannot_lock_the_pool() {
    let (hostile, honest) = (Keypair::from_seed(1), Keypair::from_seed(2));
    let limits = MempoolLimits::default();
    let pool = mempool(&[&hostile, &honest], limits);
    let mut refused = 0;
    for nonce in 1..=256 {
        match pool.submit(staged_part(&hostile, nonce)) {
            Ok(_) => {}
            Err(SubmitError::GapFull { missing: 0, .. }) => refused += 1,
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    assert_eq!(refused, 256 - limits.max_gapped_per_sender);
    assert_eq!(pool.gapped(), limits.max_gapped_per_sender);
    let transfer = transfer(&honest, 0, 5);
    pool.submit(transfer.clone()).unwrap();
    assert_eq!(
        nonces(&pool.select(100, 4 << 20)),
        nonces(&[transfer]),
        "only the executable transaction is proposed"
    );
}

/// Many hostile keys fill the pool-wide share of gapped transactions; executable ones evict
/// them when the pool is full, and a gapped one never evicts anything.
#[test]
fn gapped_transactions_give_way_to_executable_ones() {
    let keys: Vec<Keypair> = (0..8).map(Keypair::from_seed).collect();
    let limits = MempoolLimits {
        max_txs: 6,
        max_gapped_txs: 3,
        ..MempoolLimits::default()
    };
    let pool = mempool(&keys.iter().collect::<Vec<_>>(), limits);
    for key in &keys[..3] {
        pool.submit(transfer(key, 1, 1)).unwrap();
    }
    assert!(matches!(
        pool.submit(transfer(&keys[3], 1, 1)),
        Err(SubmitError::GapFull { .. })
    ));
    assert_eq!(pool.gapped(), 3);
    for key in &keys[3..6] {
        pool.submit(transfer(key, 0, 1)).unwrap();
    }
    assert_eq!(pool.len(), 6);
    // Full: each executable transaction takes a gapped one's place.
    for key in &keys[6..8] {
        pool.submit(transfer(key, 0, 1)).unwrap();
    }
    assert_eq!((pool.len(), pool.gapped()), (6, 1));
    // A gapped transaction never takes anyone's place.
    assert!(matches!(
        pool.submit(transfer(&keys[7], 5, 1)),
        Err(SubmitError::Full)
    ));
}

/// Gapped transactions expire; after a block, used nonces and transactions the sender can no
/// longer pay for are dropped.
#[test]
fn blocks_drop_what_cannot_execute() {
    let (a, b) = (Keypair::from_seed(1), Keypair::from_seed(2));
    let limits = MempoolLimits {
        gapped_ttl_ms: 0,
        ..MempoolLimits::default()
    };
    let exec = executor(&[&a, &b]);
    let pool = agora_node::mempool::Mempool::new(exec.clone(), limits);
    pool.submit(transfer(&b, 3, 1)).unwrap();
    // `a` spends everything in its first transaction; its second cannot pay its fee.
    let fee = exec.fee_schedule().admission_fee(transfer(&a, 0, 1).size());
    let first = transfer(&a, 0, FUNDS - 2 * fee);
    pool.submit(first.clone()).unwrap();
    pool.submit(transfer(&a, 1, 1)).unwrap();
    assert_eq!((pool.len(), pool.gapped()), (3, 1));
    let b_first = transfer(&b, 0, 1);
    exec.apply_block(&block(1, vec![first, b_first]))
        .unwrap()
        .unwrap();
    pool.on_block_applied([a.address(), b.address()]);
    assert_eq!(
        pool.len(),
        0,
        "stale, unpayable and expired transactions stay"
    );
    // A sender's next transaction after executed ones is proposed.
    let next = transfer(&b, 1, 1);
    pool.submit(next.clone()).unwrap();
    assert_eq!(pool.gapped(), 0);
    assert_eq!(nonces(&pool.select(10, 1 << 20)), nonces(&[next]));
}

/// Fees are reserved per pending transaction; unknown modules and malformed payloads are
/// refused with what is wrong.
#[test]
fn submissions_must_pay_and_be_well_formed() {
    let (rich, poor) = (Keypair::from_seed(1), Keypair::from_seed(2));
    let pool = mempool(&[&rich], MempoolLimits::default());
    let refusal = pool.submit(transfer(&poor, 0, 1)).unwrap_err();
    assert!(matches!(
        refusal,
        SubmitError::InsufficientFee { balance: 0, .. }
    ));
    assert!(refusal
        .to_string()
        .contains("insufficient balance for the fee"));

    let unknown = sign(
        &rich,
        0,
        Call {
            module: "nosuch".into(),
            payload: vec![0].into(),
        },
    );
    let refusal = pool.submit(unknown).unwrap_err();
    assert!(matches!(
        refusal,
        SubmitError::Call(CallError::UnknownModule { .. })
    ));
    for module in ["bank", "energy"] {
        assert!(refusal.to_string().contains(module), "{refusal}");
    }
    let malformed = sign(
        &rich,
        0,
        Call {
            module: "energy".into(),
            payload: vec![0xff; 3].into(),
        },
    );
    assert!(matches!(
        pool.submit(malformed),
        Err(SubmitError::Call(CallError::Malformed { .. }))
    ));
    assert!(pool.is_empty());
}

/// The cheap checks answer before the signature is verified: a forged transaction that is
/// also for another chain, too far ahead, unfunded or for an unknown module is refused for
/// that, without the cost of a signature check.
#[test]
fn cheap_checks_come_before_the_signature() {
    let (rich, poor) = (Keypair::from_seed(1), Keypair::from_seed(2));
    let pool = mempool(&[&rich], MempoolLimits::default());
    let forge = |tx: SignedTransaction| {
        SignedTransaction::new(
            tx.tx,
            Keypair::from_seed(3).sign(agora_types::TX_NAMESPACE, b"x"),
        )
    };
    let mut other_chain = transfer(&rich, 0, 1).tx;
    other_chain.chain_id = "other".into();
    assert!(matches!(
        pool.submit(forge(other_chain.sign(&rich))),
        Err(SubmitError::Invalid(TxError::WrongChain { .. }))
    ));
    let unknown = sign(
        &rich,
        0,
        Call {
            module: "nosuch".into(),
            payload: vec![0].into(),
        },
    );
    assert!(matches!(
        pool.submit(forge(unknown)),
        Err(SubmitError::Call(CallError::UnknownModule { .. }))
    ));
    assert!(matches!(
        pool.submit(forge(transfer(&rich, 1_000_000, 1))),
        Err(SubmitError::NonceTooHigh { .. })
    ));
    assert!(matches!(
        pool.submit(forge(transfer(&poor, 0, 1))),
        Err(SubmitError::InsufficientFee { .. })
    ));
    assert!(matches!(
        pool.submit(forge(transfer(&rich, 0, 1))),
        Err(SubmitError::Invalid(TxError::BadSignature))
    ));
}
