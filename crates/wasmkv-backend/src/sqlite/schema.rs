//! The one table every wasmkv process on a file shares, and bringing a
//! file made by an earlier wasmkv up to it.
//!
//! `version` is a random 64-bit number SQLite draws (`random()`) at every
//! write, by any interface and any process: a versioned compare-and-swap
//! compares it, so A → B → A is seen (two draws are equal with odds of
//! 2^-64). `expires` is the deadline in milliseconds since the Unix epoch,
//! `NULL` for none; a partial index holds only the rows that have one, so
//! expired rows are found without a scan and rows without a TTL cost the
//! index nothing.

use rusqlite::{Connection, TransactionBehavior};

const TABLE: &str = "CREATE TABLE IF NOT EXISTS kv (
    bucket  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   BLOB NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    expires INTEGER,
    PRIMARY KEY (bucket, key)
)";

const EXPIRY_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires) WHERE expires IS NOT NULL";

/// The columns of a file made before versions and expiry, sorted.
const BEFORE_EXPIRY: [&str; 3] = ["bucket", "key", "value"];
/// The columns today, sorted.
const NOW: [&str; 5] = ["bucket", "expires", "key", "value", "version"];

/// Creates the table on a new file, adds `version` and `expires` to a file
/// of an earlier wasmkv (once, whichever process gets there first), and
/// refuses a file whose `kv` table some other program made: wasmkv would
/// otherwise start, then fail (or write nonsense) at the first call.
pub(super) fn set_up(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute(TABLE, [])?;
    match columns(conn)? {
        c if c == NOW => {}
        c if c == BEFORE_EXPIRY => {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Another process may have added them since we looked.
            if columns(&tx)? == BEFORE_EXPIRY {
                tx.execute_batch(
                    "ALTER TABLE kv ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
                     ALTER TABLE kv ADD COLUMN expires INTEGER;",
                )?;
            }
            tx.commit()?;
        }
        other => {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!(
                    "the file already has a table `kv` that is not wasmkv's (columns: {}); give wasmkv a file of its own",
                    other.join(", ")
                )),
            ));
        }
    }
    conn.execute(EXPIRY_INDEX, [])?;
    Ok(())
}

fn columns(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('kv')")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    columns.sort();
    Ok(columns)
}
