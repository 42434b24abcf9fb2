//! Transactions and blocks as the RPC and the p2p network receive them.

use agora_bank::BankCall;
use agora_types::{Address, Block, Keypair, SignedTransaction, Transaction};
use commonware_codec::{DecodeExt, Encode};

/// Panics if `data` breaks the property: decoding never panics, whatever decodes is canonical
/// (re-encodes to the same bytes), and its checks never panic.
pub fn check(data: &[u8]) {
    if let Ok(tx) = SignedTransaction::decode_untrusted(data) {
        assert_eq!(
            tx.encode().as_ref(),
            data,
            "a transaction decodes canonically"
        );
        let _ = tx.check("fuzz");
    }
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode().as_ref(), data, "a block decodes canonically");
        let _ = block.check_limits();
    }
}

/// A signed transfer, and a block holding two transactions.
pub fn seeds() -> Vec<Vec<u8>> {
    let key = Keypair::from_seed(1);
    let tx = |nonce| {
        Transaction {
            chain_id: "fuzz".into(),
            sender: key.address(),
            nonce,
            call: BankCall::Transfer {
                to: Address([9; 32]),
                amount: 5,
            }
            .into_call(),
        }
        .sign(&key)
    };
    vec![
        tx(0).encode().to_vec(),
        Block::outside_consensus(1, 1_000, vec![tx(0), tx(1)])
            .encode()
            .to_vec(),
        Vec::new(),
    ]
}
