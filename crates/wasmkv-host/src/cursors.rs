//! Listing cursors for `wasi:keyvalue@0.2.0-draft`, whose `list-keys` takes a
//! `u64`: the backend's own cursor (a key, or a Redis SCAN position) is kept
//! here and the guest gets a number that stands for it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Open cursors per context; the oldest go first past this many, so a guest
/// that abandons listings cannot grow host memory.
const MAX_OPEN: usize = 256;

/// Numbered backend cursors, shared by the clones of one context.
#[derive(Clone, Default)]
pub(crate) struct CursorTable {
    inner: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    next: u64,
    open: BTreeMap<u64, String>,
}

impl CursorTable {
    /// Stores `cursor` and returns its number (never 0, so a stray 0 is
    /// always unknown).
    pub(crate) fn issue(&self, cursor: String) -> u64 {
        let mut table = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        table.next += 1;
        let id = table.next;
        table.open.insert(id, cursor);
        while table.open.len() > MAX_OPEN {
            table.open.pop_first();
        }
        id
    }

    /// The cursor numbered `id`, consumed; `None` if unknown or expired.
    pub(crate) fn redeem(&self, id: u64) -> Option<String> {
        let mut table = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        table.open.remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_cursors_redeem_once_and_old_ones_expire() {
        let table = CursorTable::default();
        let first = table.issue("a".into());
        assert_eq!(table.redeem(first).as_deref(), Some("a"));
        assert_eq!(table.redeem(first), None);
        let ids: Vec<u64> = (0..MAX_OPEN + 1)
            .map(|i| table.issue(i.to_string()))
            .collect();
        assert_eq!(table.redeem(ids[0]), None);
        assert_eq!(
            table.redeem(ids[MAX_OPEN]).as_deref(),
            Some(&*MAX_OPEN.to_string())
        );
        assert_eq!(table.redeem(0), None);
    }
}
