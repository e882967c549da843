//! The statements on the `kv` table (see `schema.rs`), each a plain
//! function of a connection. Every read sees only live rows: those without
//! a deadline, or whose deadline is after `now` (milliseconds since the
//! Unix epoch, from the store's clock), so an expired entry is never
//! returned even before it is removed.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::OpError;
use super::reader::Bounds;
use crate::backend::{Entry, KeyPage};

/// A row's deadline, `None` for none.
pub(super) type Deadline = Option<i64>;

/// The live value under `key`, with its deadline.
pub(super) fn read(
    conn: &Connection,
    ns: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<(Vec<u8>, Deadline)>> {
    conn.prepare_cached(
        "SELECT value, expires FROM kv WHERE bucket = ?1 AND key = ?2
         AND (expires IS NULL OR expires > ?3)",
    )?
    .query_row(params![ns, key, now], |row| Ok((row.get(0)?, row.get(1)?)))
    .optional()
}

/// The live value under `key`.
pub(super) fn value(
    conn: &Connection,
    ns: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(read(conn, ns, key, now)?.map(|(value, _)| value))
}

/// The live entry under `key` with its version.
pub(super) fn entry(
    conn: &Connection,
    ns: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(
        "SELECT value, version FROM kv WHERE bucket = ?1 AND key = ?2
         AND (expires IS NULL OR expires > ?3)",
    )?
    .query_row(params![ns, key, now], |row| {
        Ok(Entry {
            value: Bytes::from(row.get::<_, Vec<u8>>(0)?),
            version: version_text(row.get(1)?),
        })
    })
    .optional()
}

/// A version as the guest sees it: opaque text.
fn version_text(version: i64) -> String {
    format!("{:016x}", version as u64)
}

/// The live row's deadline: `None` when absent, `Some(None)` when it has
/// none.
pub(super) fn deadline(
    conn: &Connection,
    ns: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<Deadline>> {
    conn.prepare_cached(
        "SELECT expires FROM kv WHERE bucket = ?1 AND key = ?2
         AND (expires IS NULL OR expires > ?3)",
    )?
    .query_row(params![ns, key, now], |row| row.get(0))
    .optional()
}

/// Reads a live value's stored length and, when that is at most `?3`
/// bytes, the value (SQLite keeps a value's length in the row header, so a
/// larger value is not read).
const SIZED_READ: &str = "SELECT length(value), CASE WHEN length(value) <= ?3 THEN value END
     FROM kv WHERE bucket = ?1 AND key = ?2 AND (expires IS NULL OR expires > ?4)";

/// The stored length of `key`'s value and, when that is at most `room`
/// bytes, the value; `None` when the key is absent. `stmt` is
/// [`SIZED_READ`], prepared once for a whole batch.
fn sized_read(
    stmt: &mut rusqlite::CachedStatement<'_>,
    ns: &str,
    key: &str,
    room: u64,
    now: i64,
) -> rusqlite::Result<Option<(u64, Option<Vec<u8>>)>> {
    let room = i64::try_from(room).unwrap_or(i64::MAX);
    let row: Option<(i64, Option<Vec<u8>>)> = stmt
        .query_row(params![ns, key, room, now], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(row.map(|(len, value)| (u64::try_from(len).unwrap_or(0), value)))
}

/// The value under `key` if it is at most `limit` bytes: `Some(None)` when
/// absent, `None` when larger (its bytes are not read).
pub(super) fn read_at_most(
    conn: &Connection,
    ns: &str,
    key: &str,
    limit: usize,
    now: i64,
) -> rusqlite::Result<Option<Option<Vec<u8>>>> {
    let mut stmt = conn.prepare_cached(SIZED_READ)?;
    Ok(match sized_read(&mut stmt, ns, key, limit as u64, now)? {
        None => Some(None),
        Some((_, Some(value))) => Some(Some(value)),
        Some((_, None)) => None,
    })
}

pub(super) fn contains(conn: &Connection, ns: &str, key: &str, now: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM kv WHERE bucket = ?1 AND key = ?2 AND (expires IS NULL OR expires > ?3)",
    )?
    .exists(params![ns, key, now])
}

/// `keys`' values in one read transaction (one snapshot), one statement per
/// key that returns the value's length and, only while the bytes read so
/// far leave room for it, the value. `Ok(None)` when the values are
/// together over `bounds`' bytes (those past it are not read) or its time
/// ran out first, and the engine's refusal when over `max_total` (summed
/// from lengths only).
pub(super) fn read_many(
    conn: &Connection,
    ns: &str,
    keys: &[String],
    max_total: usize,
    bounds: Bounds,
    now: i64,
) -> Result<Option<Vec<Option<Bytes>>>, OpError> {
    let tx = conn.unchecked_transaction()?;
    let budget = max_total.min(bounds.bytes()) as u64;
    let (mut total, mut complete) = (0u64, true);
    let mut values = Vec::with_capacity(keys.len());
    let mut stmt = tx.prepare_cached(SIZED_READ)?;
    for key in keys {
        if bounds.out_of_time() {
            return Ok(None);
        }
        match sized_read(&mut stmt, ns, key, budget.saturating_sub(total), now)? {
            None => values.push(None),
            Some((len, value)) => {
                total = total.saturating_add(len);
                match value {
                    Some(value) if complete => values.push(Some(Bytes::from(value))),
                    _ => complete = false,
                }
            }
        }
    }
    drop(stmt);
    tx.commit()?;
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    crate::check_total([total], max_total).map_err(OpError::Backend)?;
    Ok(complete.then_some(values))
}

/// A page of at most `limit` live keys after `after` (keyset pagination on
/// the `(bucket, key)` primary key, in byte order); `None` when the page is
/// over `bounds`' bytes of keys or its time ran out first.
pub(super) fn key_page(
    conn: &Connection,
    ns: &str,
    after: Option<&str>,
    limit: usize,
    bounds: Bounds,
    now: i64,
) -> rusqlite::Result<Option<KeyPage>> {
    // One more than the page, to know whether another page follows.
    let fetch = i64::try_from(limit.max(1)).unwrap_or(i64::MAX - 1) + 1;
    let mut stmt = conn.prepare_cached(
        "SELECT key FROM kv WHERE bucket = ?1 AND (?2 IS NULL OR key > ?2)
         AND (expires IS NULL OR expires > ?4)
         ORDER BY key LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![ns, after, fetch, now])?;
    let (mut keys, mut bytes) = (Vec::new(), 0usize);
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        bytes = bytes.saturating_add(key.len());
        if bytes > bounds.bytes() || bounds.out_of_time() {
            return Ok(None);
        }
        keys.push(key);
    }
    let more = keys.len() as i64 == fetch;
    if more {
        keys.pop();
    }
    let cursor = more.then(|| keys.last().cloned()).flatten();
    Ok(Some(KeyPage { keys, cursor }))
}

/// Stores `value` under `key` with deadline `expires` and a new version.
pub(super) fn write(
    conn: &Connection,
    ns: &str,
    key: &str,
    value: &[u8],
    expires: Deadline,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO kv (bucket, key, value, version, expires) VALUES (?1, ?2, ?3, random(), ?4)
         ON CONFLICT (bucket, key) DO UPDATE
         SET value = excluded.value, version = excluded.version, expires = excluded.expires",
    )?
    .execute(params![ns, key, value, expires])?;
    Ok(())
}

/// As [`write`], only where no live row holds `key`; whether it wrote.
pub(super) fn create(
    conn: &Connection,
    ns: &str,
    key: &str,
    value: &[u8],
    expires: Deadline,
    now: i64,
) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO kv (bucket, key, value, version, expires) VALUES (?1, ?2, ?3, random(), ?4)
             ON CONFLICT (bucket, key) DO UPDATE
             SET value = excluded.value, version = excluded.version, expires = excluded.expires
             WHERE kv.expires IS NOT NULL AND kv.expires <= ?5",
        )?
        .execute(params![ns, key, value, expires, now])?;
    Ok(changed == 1)
}

pub(super) fn remove(conn: &Connection, ns: &str, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?
        .execute(params![ns, key])?;
    Ok(())
}

/// Removes up to `most` expired rows, soonest deadline first, through the
/// partial index: bounded work, whatever the table holds.
pub(super) fn remove_expired(conn: &Connection, now: i64, most: usize) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM kv WHERE rowid IN
         (SELECT rowid FROM kv WHERE expires <= ?1 ORDER BY expires LIMIT ?2)",
    )?
    .execute(params![now, most as i64])
}
