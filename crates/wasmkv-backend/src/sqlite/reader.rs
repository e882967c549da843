//! Reads on the calling thread, without a hop to the blocking pool.
//!
//! Every thread that reads a store keeps one connection to it (in a
//! thread-local list), with its prepared statements cached, and runs small
//! reads right there: a read whose pages are in memory costs a couple of
//! microseconds, where the hand-off to tokio's blocking pool and back cost
//! 20–50. Why this is safe on an async runtime's worker:
//!
//! - **No lock waits.** The connection's busy timeout is zero. In WAL mode a
//!   reader never waits for writers; the rare moments it would wait (another
//!   process recovering or resetting the WAL) give `SQLITE_BUSY` at once, and
//!   the read is done again on the blocking pool, where it may wait.
//! - **No large copies.** A value over [`INLINE_VALUE_BYTES`] is not read
//!   here (SQLite reports its length without reading it); a batch or a key
//!   listing over [`INLINE_TOTAL_BYTES`] neither. Those go to the pool.
//! - **Bounded disk reads.** A page that is not in the OS page cache is read
//!   from disk on this thread: one B-tree descent, a few pages, at the
//!   disk's latency. That is the whole bound, and the price of not paying a
//!   thread hop on every read whose pages are cached, which is nearly all.
//! - **Fresh data.** Each read is its own statement in autocommit mode, so
//!   it starts a new read transaction and sees every write committed
//!   before it began, from any connection or process; no transaction is
//!   ever left open between reads.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use rusqlite::Connection;

use super::{Inner, OpError};

/// The largest value read on the calling thread.
pub(super) const INLINE_VALUE_BYTES: usize = 64 * 1024;

/// The most bytes a batch read or a key listing returns on the calling
/// thread.
pub(super) const INLINE_TOTAL_BYTES: usize = 1024 * 1024;

/// One thread's connection to one store.
struct Reader {
    store: Weak<Inner>,
    conn: Connection,
}

thread_local! {
    static READERS: RefCell<Vec<Reader>> = const { RefCell::new(Vec::new()) };
}

/// What a read on the calling thread came to.
pub(super) enum Inline<T> {
    /// The answer.
    Done(Result<T, OpError>),
    /// Not answered here (a lock, or too many bytes): do it on the pool.
    Elsewhere,
}

/// Runs `op` on this thread's connection to `store`, opening it on first
/// use. `op` returns `None` for a read too large to finish here.
pub(super) fn read<T>(
    store: &Arc<Inner>,
    op: impl FnOnce(&Connection) -> Result<Option<T>, OpError>,
) -> Inline<T> {
    READERS.with(|readers| {
        let Ok(mut readers) = readers.try_borrow_mut() else {
            return Inline::Elsewhere;
        };
        // Connections of stores that are gone are closed here.
        readers.retain(|r| r.store.strong_count() > 0);
        let index = match readers
            .iter()
            .position(|r| std::ptr::eq(r.store.as_ptr(), Arc::as_ptr(store)))
        {
            Some(index) => index,
            None => match store.try_connect_reader() {
                Ok(conn) => {
                    readers.push(Reader {
                        store: Arc::downgrade(store),
                        conn,
                    });
                    readers.len() - 1
                }
                Err(_) => return Inline::Elsewhere,
            },
        };
        match op(&readers[index].conn) {
            Ok(Some(answer)) => Inline::Done(Ok(answer)),
            Ok(None) => Inline::Elsewhere,
            Err(OpError::Sqlite(e)) if super::is_busy(&e) => Inline::Elsewhere,
            Err(e) => Inline::Done(Err(e)),
        }
    })
}
