//! Listing cursors as guests see them.
//!
//! `0.2.0-draft`'s `list-keys` takes a `u64`: the backend's own cursor (a
//! key, or a Redis SCAN position) is kept in a [`CursorTable`] and the guest
//! gets a number that stands for it.
//!
//! `0.2.0-draft2`'s cursor is a string, so it carries the backend's cursor
//! itself, [sealed](seal) with a check over the bucket's name: a cursor
//! keeps working in another process or after a restart, and one the host
//! did not issue for that bucket (`"0"`, random bytes, another bucket's) is
//! refused instead of being taken as a position. The check is a checksum,
//! not a secret: forging one only lets a guest start listing its own bucket
//! at a key of its choosing, which it can do anyway.

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

/// Hex digits of the check in front of a sealed cursor.
const CHECK_LEN: usize = 16;

/// FNV-1a over the bucket name, a separator and the backend cursor: stable
/// across builds and processes, unlike std's hasher.
fn check(bucket: &str, cursor: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bucket.bytes().chain([0xff]).chain(cursor.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The guest's form of backend cursor `cursor` for `bucket`.
pub(crate) fn seal(bucket: &str, cursor: &str) -> String {
    format!(
        "{:0width$x}{cursor}",
        check(bucket, cursor),
        width = CHECK_LEN
    )
}

/// Where a guest's string cursor says a listing of `bucket` goes on:
/// `None` (from the start) without one, the backend's cursor inside a
/// sealed one, and a refusal naming the cursor for one this host did not
/// issue for that bucket.
pub(crate) fn start<'a>(
    bucket: &str,
    cursor: Option<&'a str>,
) -> Result<Option<&'a str>, wasmkv_engine::KvError> {
    let Some(sealed) = cursor else {
        return Ok(None);
    };
    match open(bucket, sealed) {
        Some(start) => Ok(Some(start)),
        None => Err(wasmkv_engine::KvError::new(
            wasmkv_engine::Op::ListKeys,
            bucket,
            None,
            wasmkv_engine::Cause::InvalidValue(format!(
                "cursor {:?} was not issued by this host for this bucket; start with none",
                wasmkv_engine::preview(sealed)
            )),
        )),
    }
}

/// The backend cursor inside `sealed`, if the host issued it for `bucket`.
pub(crate) fn open<'a>(bucket: &str, sealed: &'a str) -> Option<&'a str> {
    let (tag, cursor) = sealed.split_at_checked(CHECK_LEN)?;
    let tag = u64::from_str_radix(tag, 16).ok()?;
    (tag == check(bucket, cursor)).then_some(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn sealed_cursors_round_trip_and_stay_in_their_bucket(
            bucket in "\\PC{0,12}",
            other in "\\PC{0,12}",
            cursor in "\\PC{0,40}",
            junk in "\\PC{0,60}",
        ) {
            let sealed = seal(&bucket, &cursor);
            proptest::prop_assert_eq!(open(&bucket, &sealed), Some(cursor.as_str()));
            if other != bucket {
                proptest::prop_assert_eq!(open(&other, &sealed), None);
            }
            // Arbitrary text never panics, and opens only if it is a seal.
            if let Some(inner) = open(&bucket, &junk) {
                proptest::prop_assert_eq!(seal(&bucket, inner), junk);
            }
        }
    }

    #[test]
    fn sealed_cursors_open_only_for_their_bucket() {
        let sealed = seal("a", "key:7");
        assert_eq!(open("a", &sealed), Some("key:7"));
        assert_eq!(open("b", &sealed), None);
        for forged in [
            "0",
            "",
            "zzzzzzzzzzzzzzzzkey",
            &sealed[..CHECK_LEN],
            &format!("{sealed}x"),
        ] {
            assert_eq!(open("a", forged), None, "{forged:?}");
        }
        assert_eq!(open("a", &seal("a", "")), Some(""));
    }

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
