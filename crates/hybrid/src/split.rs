//! Cutting a solution into transactions.

/// Bytes of a transaction left for a call's items once the envelope (chain id, sender, nonce,
/// signature, call header) is paid for.
const ENVELOPE_BYTES: usize = 16 * 1024;

/// Most items of `item_bytes` encoded bytes that fit in one transaction's call.
pub const fn max_items_per_call(item_bytes: usize) -> usize {
    (agora_types::MAX_TX_BYTES - ENVELOPE_BYTES) / item_bytes
}

/// A solution as the calls that carry it.
#[derive(Debug, PartialEq, Eq)]
pub enum Split<T> {
    /// Fits in one transaction.
    Whole(Vec<T>),
    /// Needs a staged solution: these parts, in order, each one transaction.
    Parts(Vec<Vec<T>>),
}

/// Splits `items` into parts of at most `per_call` (at least 1).
pub fn split<T>(items: Vec<T>, per_call: usize) -> Split<T> {
    let per_call = per_call.max(1);
    if items.len() <= per_call {
        return Split::Whole(items);
    }
    let mut parts = Vec::with_capacity(items.len().div_ceil(per_call));
    let mut rest = items.into_iter().peekable();
    while rest.peek().is_some() {
        parts.push(rest.by_ref().take(per_call).collect());
    }
    Split::Parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_what_does_not_fit() {
        assert_eq!(split(vec![1, 2], 2), Split::Whole(vec![1, 2]));
        assert_eq!(
            split(vec![1, 2, 3, 4, 5], 2),
            Split::Parts(vec![vec![1, 2], vec![3, 4], vec![5]])
        );
        assert_eq!(split(Vec::<u8>::new(), 0), Split::Whole(vec![]));
    }
}
