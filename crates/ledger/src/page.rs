//! Paged list queries: what any RPC client may ask for a list costs a bounded number of state
//! reads and answer bytes, whatever the list's length.
//!
//! A list query takes two optional parameters, `after` (the id its previous page ended with)
//! and `limit` (entries wanted: 1 to [`MAX_PAGE`], [`MAX_PAGE`] when absent), and answers
//! its entries with `next`: the `after` of the following page, `null` on the last one. A
//! `limit` above [`MAX_PAGE`] is refused ([`QueryError::LimitExceeded`], reason
//! `limit_exceeded`) rather than silently cut, so a client never mistakes a page for the
//! whole list.

use crate::{query_param, QueryError, StateError, StateRead};

/// The most entries one page holds. Large enough that the lists agents read whole (an
/// account's holds, a mediator's queue) take one page in the sims, small enough that a page
/// of the largest records (energy offers, compute matches) stays well under a megabyte.
pub const MAX_PAGE: u32 = 256;

/// Where a page starts and how long it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// The last id of the previous page; the page starts after it.
    pub after: Option<u64>,
    /// Entries at most, 1 to [`MAX_PAGE`].
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            after: None,
            limit: MAX_PAGE,
        }
    }
}

/// One page of a list, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// The `after` of the next page; `None` when this page ends the list.
    pub next: Option<u64>,
}

impl Page {
    /// Reads `after` and `limit` from a query's parameters (both optional).
    pub fn from_params(params: &serde_json::Value) -> Result<Self, QueryError> {
        let after: Option<u64> = query_param(params, "after")?;
        let limit: Option<u64> = query_param(params, "limit")?;
        let limit = match limit {
            None => MAX_PAGE,
            Some(0) => return Err(QueryError::BadParams("limit: must be positive".into())),
            Some(n) => u32::try_from(n).ok().filter(|n| *n <= MAX_PAGE).ok_or(
                QueryError::LimitExceeded {
                    requested: n,
                    max: MAX_PAGE,
                },
            )?,
        };
        Ok(Self { after, limit })
    }

    /// The ids of this page among the entries under `prefix` whose keys are `prefix` followed
    /// by a big-endian `u64` id (the shape of every index a module keeps). Reads at most
    /// `limit + 1` entries.
    pub fn ids(&self, state: &dyn StateRead, prefix: &[u8]) -> Result<Paged<u64>, QueryError> {
        let after = self.after.map(|id| [prefix, &id.to_be_bytes()].concat());
        let limit = self.limit as usize;
        let entries = state.scan_page(prefix, after.as_deref(), limit + 1)?;
        let mut items = entries
            .iter()
            .map(|(key, _)| {
                key.get(prefix.len()..)
                    .and_then(|id| <[u8; 8]>::try_from(id).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| {
                        QueryError::State(StateError("an index key without an id".into()))
                    })
            })
            .collect::<Result<Vec<u64>, _>>()?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().copied()
        } else {
            None
        };
        Ok(Paged { items, next })
    }
}

impl<T: serde::Serialize> Paged<T> {
    /// The answer of a list query: `{field: [entries], "next": id or null}`.
    pub fn answer(&self, field: &str) -> Result<serde_json::Value, QueryError> {
        let items = serde_json::to_value(&self.items)
            .map_err(|e| QueryError::State(StateError(format!("cannot encode {field}: {e}"))))?;
        let mut answer = serde_json::Map::new();
        answer.insert(field.to_string(), items);
        answer.insert("next".into(), self.next.into());
        Ok(answer.into())
    }
}

impl<T> Paged<T> {
    /// The same page with each entry replaced by `f` of it (an id by its record).
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Paged<U>, E> {
        Ok(Paged {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next: self.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemState, ReadCounter};
    use std::collections::BTreeMap;

    /// An index of `n` ids under `idx:` beside unrelated entries on both sides.
    fn index(n: u64) -> MemState {
        let mut map = BTreeMap::new();
        for id in 0..n {
            map.insert([&b"idx:"[..], &(id * 3).to_be_bytes()].concat(), Vec::new());
        }
        map.insert(b"idw".to_vec(), Vec::new());
        map.insert(b"idx".to_vec(), Vec::new());
        MemState(map)
    }

    #[test]
    fn pages_list_every_id_once_and_read_at_most_one_more_than_their_limit() {
        let state = index(1_000);
        let counter = ReadCounter::new(&state);
        let mut page = Page::from_params(&serde_json::json!({"limit": 200})).unwrap();
        let mut ids = Vec::new();
        loop {
            let before = counter.entries_read();
            let listed = page.ids(&counter, b"idx:").unwrap();
            assert!(counter.entries_read() - before <= 201);
            ids.extend(listed.items);
            match listed.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        assert_eq!(ids, (0..1_000).map(|id| id * 3).collect::<Vec<_>>());
        let exact = Page::default().ids(&index(256), b"idx:").unwrap();
        assert_eq!((exact.items.len(), exact.next), (256, None));
    }

    #[test]
    fn a_limit_above_the_cap_is_refused_and_absent_parameters_take_defaults() {
        assert_eq!(
            Page::from_params(&serde_json::Value::Null).unwrap(),
            Page::default()
        );
        let refused = Page::from_params(&serde_json::json!({"limit": MAX_PAGE + 1})).unwrap_err();
        assert!(matches!(
            refused,
            QueryError::LimitExceeded {
                requested,
                max: MAX_PAGE
            } if requested == u64::from(MAX_PAGE) + 1
        ));
        assert!(Page::from_params(&serde_json::json!({"limit": -1})).is_err());
        assert!(Page::from_params(&serde_json::json!({"after": "x"})).is_err());
    }
}
