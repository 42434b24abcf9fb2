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

impl<T> Paged<T> {
    /// The same page with each entry replaced by `f` of it (an id by its record).
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Paged<U>, E> {
        Ok(Paged {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next: self.next,
        })
    }
}
