//! Decoding arbitrary bytes as a transaction or a block never panics, and whatever decodes is
//! canonical (re-encodes to the same bytes).
#![no_main]

use agora_types::{Block, SignedTransaction};
use commonware_codec::{DecodeExt, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTransaction::decode_untrusted(data) {
        assert_eq!(tx.encode().as_ref(), data);
        let _ = tx.check("fuzz");
    }
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode().as_ref(), data);
        let _ = block.check_limits();
    }
});
