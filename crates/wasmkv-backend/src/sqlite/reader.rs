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
//! - **No long batches.** A batch read or a key listing checks the clock
//!   between rows and stops once it has run [`INLINE_TIME`]; it is then
//!   done again, whole and in one snapshot, on the pool. Without that, a
//!   `get-many` of 10 000 small cached values (within the byte bound) held
//!   its runtime worker for about 20 ms, and on cold pages for 10 000 disk
//!   reads. A batch of more than [`INLINE_BATCH_KEYS`] keys, which would
//!   rarely finish in time, goes to the pool at once.
//! - **No disk waits, when asked.** With [`super::install_nowait_reads`]
//!   (the `wasmkv` binary's choice; a process-wide one, so never the
//!   library's own), a page that is not in the OS page cache is not read
//!   here: this thread's file reads ask the kernel not to wait (`preadv2`
//!   with `RWF_NOWAIT`, see `nowait.rs`), a page that would come from the
//!   disk fails the read at once, and the read is done again on the pool,
//!   which waits for the disk and so brings the page into memory. Without
//!   it, on a filesystem or kernel without `RWF_NOWAIT`, or on another
//!   system, such a page is read here at the disk's latency: one B-tree
//!   descent for a single key, at most [`INLINE_TIME`] plus one descent for
//!   a batch.
//! - **Fresh data, and nothing held between reads.** Each read is its own
//!   statement in autocommit mode, so it starts a new read transaction and
//!   sees every write committed before it began, from any connection or
//!   process, and ends it (releasing its WAL read lock) before it returns.
//!   No transaction or lock is left between reads, so a process paused
//!   between two reads holds up no other process's WAL; one paused inside
//!   a read holds it as any SQLite reader would, until it goes on.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::nowait::{self, WouldNotWait};
use super::{Inner, OpError};

/// The largest value read on the calling thread.
pub(super) const INLINE_VALUE_BYTES: usize = 64 * 1024;

/// The most bytes a batch read or a key listing returns on the calling
/// thread.
pub(super) const INLINE_TOTAL_BYTES: usize = 1024 * 1024;

/// The longest a batch read or a key listing runs on the calling thread:
/// about 500 cached rows, where the hop to the pool costs 20–50 µs.
pub(super) const INLINE_TIME: Duration = Duration::from_millis(1);

/// The most keys a batch read tries on the calling thread; a larger batch
/// would mostly run out of [`INLINE_TIME`] and be read twice, so it goes
/// to the pool at once.
pub(super) const INLINE_BATCH_KEYS: usize = 256;

/// Where a batch read or a key listing stops and leaves the work to the
/// pool: past a number of bytes, or past a moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    bytes: usize,
    until: Option<Instant>,
}

impl Bounds {
    /// No bounds: the pool's connections read whatever was asked.
    pub(super) const NONE: Bounds = Bounds {
        bytes: usize::MAX,
        until: None,
    };

    /// The bounds of a read on the calling thread that starts now.
    pub(super) fn inline() -> Self {
        Bounds {
            bytes: INLINE_TOTAL_BYTES,
            until: Some(Instant::now() + INLINE_TIME),
        }
    }

    /// The calling thread's bounds, with `time` instead of [`INLINE_TIME`].
    #[cfg(test)]
    pub(super) fn inline_for(time: Duration) -> Self {
        Bounds {
            until: Some(Instant::now() + time),
            ..Self::inline()
        }
    }

    /// The most bytes to read.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the time is up; checked between rows.
    pub(super) fn out_of_time(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() >= until)
    }
}

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
            None => {
                // Opening reads the file's header: that too must not wait.
                let opened = {
                    let _nowait = WouldNotWait::start();
                    store.try_connect_reader()
                };
                let Ok(conn) = opened else {
                    return Inline::Elsewhere;
                };
                readers.push(Reader {
                    store: Arc::downgrade(store),
                    conn,
                });
                readers.len() - 1
            }
        };
        let answer = {
            let _nowait = WouldNotWait::start();
            op(&readers[index].conn)
        };
        match answer {
            Ok(Some(answer)) => {
                store.options.events.read(true);
                Inline::Done(Ok(answer))
            }
            Ok(None) => Inline::Elsewhere,
            Err(OpError::Sqlite(e)) if super::is_busy(&e) || nowait::refused(&e) => {
                Inline::Elsewhere
            }
            Err(e) => Inline::Done(Err(e)),
        }
    })
}
