//! The embedded SQLite backend, wasmkv's default store.
//!
//! One table keyed by `(bucket, key)`, so buckets are separate by
//! construction. The file is opened in WAL mode with `synchronous=FULL` by
//! default: a write is acknowledged only after it is on disk. Writes go
//! through one writer thread per store that commits them in groups (see
//! [`group_commit`]), inside `BEGIN IMMEDIATE` transactions, which makes
//! read-modify-write operations (increment, compare-and-swap) atomic across
//! every connection and every process that opens the same file. Batches are
//! atomic per call. Reads run on the calling thread, on a connection of that
//! thread's own (see [`reader`]); the few that would wait or copy much run
//! on a small pool of connections on tokio's blocking pool.
//!
//! Any number of processes may share the file. No connection keeps a read
//! transaction or a lock between operations, so a process that is paused
//! (SIGSTOP, a debugger, a stalled VM) or killed between them holds up no
//! other: the WAL is checkpointed and started over as usual. One paused
//! *inside* a read holds that read's snapshot, as any SQLite reader does,
//! and the WAL grows until it goes on; then the next restart cuts the
//! file back to [`WAL_SIZE_LIMIT`]. The library changes nothing
//! process-wide in SQLite unless asked ([`install_nowait_reads`]).

mod group_commit;
mod nowait;
mod reader;
mod rows;
mod schema;
#[cfg(target_os = "linux")]
mod syscalls;

pub use nowait::install_nowait_reads;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::Connection;

use self::reader::{Bounds, INLINE_BATCH_KEYS, INLINE_VALUE_BYTES, Inline};
use self::rows::Deadline;

use crate::backend::{Backend, Entry, KeyPage, SetOptions, SharedBackend, Swap, SwapCondition};
use crate::counter::{self, CounterRange};
use crate::error::{BackendError, BackendResult};
use crate::events::SharedStoreEvents;
use crate::expiry::{Expiry, SharedClock};
use crate::store_url::{BackendKind, StoreSpec, TomlForm};

/// `sqlite:PATH`, in `wasmkv.toml` `type = "sqlite"` with `path`.
pub(crate) static KIND: BackendKind = BackendKind {
    schemes: &["sqlite"],
    toml_types: &[("sqlite", TomlForm::Path("sqlite"))],
    parse: |_, rest| {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err("sqlite: needs a file path, e.g. sqlite:.wasmkv/default.db".into());
        }
        Ok(Arc::new(SqliteSpec { path: path.into() }))
    },
};

/// A `sqlite:` URL: the database file.
pub struct SqliteSpec {
    /// The file, created with its folders on first open.
    pub path: PathBuf,
}

impl std::fmt::Display for SqliteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlite:{}", self.path.display())
    }
}

#[async_trait]
impl StoreSpec for SqliteSpec {
    async fn open(&self, events: SharedStoreEvents) -> BackendResult<SharedBackend> {
        let options = SqliteOptions {
            events,
            ..SqliteOptions::default()
        };
        let backend = SqliteBackend::open(&self.path, options)?;
        Ok(Arc::new(backend))
    }

    fn file(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// How hard SQLite works to keep acknowledged writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: an acknowledged write survives `kill -9` and power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives `kill -9`, but the last writes before a
    /// power loss may be lost. Faster; never the default.
    Relaxed,
}

/// Settings for opening a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a writer waits for another process's lock before failing.
    pub busy_timeout: Duration,
    /// See [`Durability`].
    pub durability: Durability,
    /// Where expiry reads the time: the system clock, or a test's.
    pub clock: SharedClock,
    /// Hears of commits and of where reads ran, for metrics.
    pub events: SharedStoreEvents,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(10),
            durability: Durability::Full,
            clock: crate::expiry::system_clock(),
            events: crate::events::unheard(),
        }
    }
}

/// A store in one SQLite file, safe to share between processes.
pub struct SqliteBackend {
    inner: Arc<Inner>,
    writer: group_commit::Writer,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    /// Idle connections for reads; a busy pool opens another rather than waiting.
    idle: Mutex<Vec<Connection>>,
}

/// Expired rows a commit removes at most, beside its writes: a file full
/// of expired entries shrinks as it is written to, and no commit pays for
/// more than this many (found through the expiry index, not a scan).
const EXPIRED_PER_COMMIT: usize = 64;

/// How often the writer looks for expired rows while it found none the
/// last time: the look costs a commit tens of microseconds, too much to pay
/// on every durable write when nothing has expired.
const EXPIRED_LOOK_EVERY_MS: i64 = 1000;

/// The writer's removal of expired rows: in every commit while it keeps
/// finding some, else once per [`EXPIRED_LOOK_EVERY_MS`].
#[derive(Default)]
struct Sweep {
    /// When to look next; 0 (at once) while rows are being found.
    next_look: i64,
}

impl Sweep {
    fn run(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<()> {
        if now < self.next_look {
            return Ok(());
        }
        let removed = rows::remove_expired(conn, now, EXPIRED_PER_COMMIT)?;
        self.next_look = if removed == 0 {
            now.saturating_add(EXPIRED_LOOK_EVERY_MS)
        } else {
            0
        };
        Ok(())
    }
}

/// The size a WAL is cut back to when a writer starts it over
/// (`journal_size_limit`): SQLite's automatic checkpoint runs at 1000 pages
/// (about 4 MiB of 4 KiB pages), so a WAL in use stays about that size, and
/// one that grew while a reader held it back (a process paused inside a
/// read) shrinks to this at its next restart instead of keeping its
/// largest size on disk for good.
const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

impl SqliteBackend {
    /// Opens (creating if needed) the store at `path`, with its parent folders.
    ///
    /// Fails now, not at first use, when the file cannot be created or is not
    /// a SQLite database.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> BackendResult<Self> {
        let path = path.as_ref().to_path_buf();
        let inner = Inner {
            path,
            options,
            idle: Mutex::new(Vec::new()),
        };
        if let Some(problem) = not_a_shared_file(&inner.path) {
            return Err(inner.error(problem));
        }
        if let Some(parent) = inner.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                inner.error(format_args!(
                    "cannot create folder {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let conn = inner.connect()?;
        inner.idle.lock().expect("fresh mutex").push(conn);
        let clock = inner.clock();
        let mut sweep = Sweep::default();
        let remove_expired: group_commit::Housekeeping =
            Box::new(move |conn| sweep.run(conn, now_of(&clock)));
        let writer = group_commit::Writer::start(
            inner.connect()?,
            inner.describe(),
            remove_expired,
            inner.options.events.clone(),
        )
        .map_err(|e| inner.error(format_args!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(inner),
            writer,
        })
    }

    /// Runs `op` on a pooled connection on tokio's blocking pool, since SQLite
    /// calls block (fsync, lock waits) and must not stall the async runtime.
    async fn run<T, F>(&self, op: F) -> BackendResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, OpError> + Send + 'static,
    {
        let inner = self.inner.clone();
        inner.options.events.read(false);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.checkout()?;
            let result = op(&mut conn);
            inner.checkin(conn);
            inner.answer(result)
        })
        .await
        .map_err(|e| self.inner.error(format_args!("worker failed: {e}")))?
    }
}

impl Inner {
    /// The time expiry compares with, now.
    fn now(&self) -> i64 {
        now_of(&self.options.clock)
    }

    fn clock(&self) -> SharedClock {
        self.options.clock.clone()
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn error(&self, cause: impl std::fmt::Display) -> BackendError {
        BackendError::unavailable(self.describe(), cause)
    }

    /// An operation's result in the backend's terms: another process's
    /// lock held past the busy timeout is a time-out, any other SQLite
    /// failure the store being unavailable.
    fn answer<T>(&self, result: Result<T, OpError>) -> BackendResult<T> {
        result.map_err(|e| match e {
            OpError::Sqlite(e) if is_busy(&e) => {
                BackendError::timed_out(self.describe(), explain(&e))
            }
            OpError::Sqlite(e) => self.error(explain(&e)),
            OpError::Backend(e) => e,
        })
    }

    /// Opens and configures one connection.
    ///
    /// Setup retries while another process holds the file: switching to WAL
    /// and creating the table need locks for which SQLite returns `BUSY` at
    /// once rather than calling the busy handler, so two processes starting
    /// together on a new file would otherwise see "database is locked".
    fn connect(&self) -> BackendResult<Connection> {
        let deadline = Instant::now() + self.options.busy_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.try_connect() {
                Ok(conn) => return Ok(conn),
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(self.error(format_args!("cannot open database: {}", explain(&e))));
                }
            }
        }
    }

    fn try_connect(&self) -> rusqlite::Result<Connection> {
        let mut conn = Connection::open(&self.path)?;
        conn.busy_timeout(self.options.busy_timeout)?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        let sync = match self.options.durability {
            Durability::Full => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        schema::set_up(&mut conn)?;
        Ok(conn)
    }

    /// A connection for reads on the calling thread: it never waits for a
    /// lock (busy timeout zero) and never writes. The file was set up (WAL,
    /// schema) when the store was opened.
    fn try_connect_reader(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    fn checkout(&self) -> BackendResult<Connection> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn checkin(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }
}

/// A failure inside a connection closure: SQLite's own, or a refusal
/// (a bad counter) that must roll the transaction back.
#[derive(Debug)]
enum OpError {
    Sqlite(rusqlite::Error),
    Backend(BackendError),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Sqlite(e)
    }
}

impl From<counter::CounterError> for OpError {
    fn from(e: counter::CounterError) -> Self {
        OpError::Backend(e.into())
    }
}

/// SQLite's message with what it means for a wasmkv user and what to do.
pub(super) fn explain(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let hint = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            "another process held the database's write lock past the busy timeout (10 s); retry, or find the process keeping a transaction open"
        }
        Some(C::DiskFull) => {
            "the disk holding the database is full; free space there (nothing of this write was applied)"
        }
        Some(C::ReadOnly) => {
            "the database or its directory is read-only; WAL mode needs write access to both (for the -wal and -shm files)"
        }
        Some(C::CannotOpen) => {
            "the file cannot be opened; check that its directory exists and is writable"
        }
        Some(C::SystemIoFailure) => {
            "the disk reported an I/O error; check the filesystem and the kernel log"
        }
        Some(C::NotADatabase) => "the file is not a SQLite database; give wasmkv a file of its own",
        Some(C::DatabaseCorrupt) => {
            "the database file is damaged; restore a backup, or salvage it with `sqlite3 FILE .recover`"
        }
        _ => return e.to_string(),
    };
    format!("{e} ({hint})")
}

/// Whether SQLite refused because another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Why `path` would not name one database file every connection shares, if
/// it would not. SQLite's in-memory and URI forms give each connection a
/// private database: a write would be acknowledged, then not found.
fn not_a_shared_file(path: &Path) -> Option<String> {
    let text = path.to_string_lossy();
    let memory_hint = "every connection would get its own private in-memory database, so acknowledged writes would vanish; use the `memory:` store for data that lives as long as the process";
    if text.is_empty() {
        Some("the path is empty; give a file, e.g. sqlite:.wasmkv/default.db".into())
    } else if text == ":memory:" || text.starts_with(":memory:?") {
        Some(format!("this is SQLite's in-memory form: {memory_hint}"))
    } else if text.starts_with("file:") {
        Some(format!(
            "SQLite URIs are not accepted (with mode=memory, {memory_hint}); give a plain file path"
        ))
    } else if path.is_dir() {
        Some("the path is a directory; give a file inside it, e.g. DIR/kv.db".into())
    } else {
        None
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn get(&self, namespace: &str, key: &str) -> BackendResult<Option<Bytes>> {
        let now = self.inner.now();
        let here = reader::read(&self.inner, |conn| {
            Ok(rows::read_at_most(
                conn,
                namespace,
                key,
                INLINE_VALUE_BYTES,
                now,
            )?)
        });
        if let Inline::Done(value) = here {
            return self.inner.answer(value.map(|v| v.map(Bytes::from)));
        }
        let (ns, key) = (namespace.to_string(), key.to_string());
        self.run(move |conn| Ok(rows::value(conn, &ns, &key, now)?.map(Bytes::from)))
            .await
    }

    async fn set(&self, namespace: &str, key: &str, value: Bytes) -> BackendResult<()> {
        let (ns, key) = (namespace.to_string(), key.to_string());
        self.writer
            .submit(move |conn| Ok(rows::write(conn, &ns, &key, &value, None)?))
            .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> BackendResult<()> {
        let (ns, key) = (namespace.to_string(), key.to_string());
        self.writer
            .submit(move |conn| Ok(rows::remove(conn, &ns, &key)?))
            .await
    }

    async fn exists(&self, namespace: &str, key: &str) -> BackendResult<bool> {
        let now = self.inner.now();
        let here = reader::read(&self.inner, |conn| {
            Ok(Some(rows::contains(conn, namespace, key, now)?))
        });
        if let Inline::Done(found) = here {
            return self.inner.answer(found);
        }
        let (ns, key) = (namespace.to_string(), key.to_string());
        self.run(move |conn| Ok(rows::contains(conn, &ns, &key, now)?))
            .await
    }

    /// Keeps a live entry's deadline, as Redis `INCR` keeps a TTL.
    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128> {
        let (ns, key, clock) = (namespace.to_string(), key.to_string(), self.inner.clock());
        self.writer
            .submit(move |conn| {
                let (current, expires) = match rows::read(conn, &ns, &key, now_of(&clock))? {
                    Some((value, expires)) => (Some(value), expires),
                    None => (None, None),
                };
                let next = counter::next_value(current.as_deref(), delta, range)?;
                rows::write(conn, &ns, &key, counter::encode(next).as_bytes(), expires)?;
                Ok(next)
            })
            .await
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool> {
        let (ns, key, clock) = (namespace.to_string(), key.to_string(), self.inner.clock());
        let expected = expected.map(<[u8]>::to_vec);
        self.writer
            .submit(move |conn| {
                if rows::value(conn, &ns, &key, now_of(&clock))? != expected {
                    return Ok(false);
                }
                rows::write(conn, &ns, &key, &new, None)?;
                Ok(true)
            })
            .await
    }

    async fn set_with(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        options: SetOptions,
    ) -> BackendResult<bool> {
        let (ns, key, clock) = (namespace.to_string(), key.to_string(), self.inner.clock());
        self.writer
            .submit(move |conn| {
                let now = now_of(&clock);
                let expires: Deadline = options
                    .ttl
                    .map(|ttl| crate::expiry::deadline(now as u64, ttl) as i64);
                if options.if_absent {
                    return Ok(rows::create(conn, &ns, &key, &value, expires, now)?);
                }
                rows::write(conn, &ns, &key, &value, expires)?;
                Ok(true)
            })
            .await
    }

    async fn get_entry(&self, namespace: &str, key: &str) -> BackendResult<Option<Entry>> {
        let now = self.inner.now();
        let here = reader::read(&self.inner, |conn| {
            Ok(Some(rows::entry(conn, namespace, key, now)?))
        });
        if let Inline::Done(entry) = here {
            return self.inner.answer(entry);
        }
        let (ns, key) = (namespace.to_string(), key.to_string());
        self.run(move |conn| Ok(rows::entry(conn, &ns, &key, now)?))
            .await
    }

    async fn swap(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        condition: &SwapCondition,
    ) -> BackendResult<Swap> {
        let (ns, key, clock) = (namespace.to_string(), key.to_string(), self.inner.clock());
        let condition = condition.clone();
        self.writer
            .submit(move |conn| {
                let Some(entry) = rows::entry(conn, &ns, &key, now_of(&clock))? else {
                    return Ok(Swap::Stale(None));
                };
                if !condition.met_by(&entry.value, &entry.version) {
                    return Ok(Swap::Stale(Some(entry)));
                }
                rows::write(conn, &ns, &key, &value, None)?;
                Ok(Swap::Swapped)
            })
            .await
    }

    async fn expiry(&self, namespace: &str, key: &str) -> BackendResult<Option<Expiry>> {
        let (ns, key, now) = (namespace.to_string(), key.to_string(), self.inner.now());
        let deadline = self
            .run(move |conn| Ok(rows::deadline(conn, &ns, &key, now)?))
            .await?;
        Ok(deadline.map(|at| at.map_or(Expiry::Never, |at| Expiry::At(at.max(0) as u64))))
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
        max_total: usize,
    ) -> BackendResult<Vec<Option<Bytes>>> {
        let now = self.inner.now();
        if keys.len() <= INLINE_BATCH_KEYS {
            let here = reader::read(&self.inner, |conn| {
                rows::read_many(conn, namespace, keys, max_total, Bounds::inline(), now)
            });
            if let Inline::Done(values) = here {
                return self.inner.answer(values);
            }
        }
        let (ns, keys) = (namespace.to_string(), keys.to_vec());
        self.run(move |conn| {
            rows::read_many(conn, &ns, &keys, max_total, Bounds::NONE, now)
                .map(|values| values.unwrap_or_default())
        })
        .await
    }

    async fn set_many(&self, namespace: &str, items: Vec<(String, Bytes)>) -> BackendResult<()> {
        let ns = namespace.to_string();
        self.writer
            .submit(move |conn| {
                for (key, value) in &items {
                    rows::write(conn, &ns, key, value, None)?;
                }
                Ok(())
            })
            .await
    }

    async fn delete_many(&self, namespace: &str, keys: &[String]) -> BackendResult<()> {
        let (ns, keys) = (namespace.to_string(), keys.to_vec());
        self.writer
            .submit(move |conn| {
                for key in &keys {
                    rows::remove(conn, &ns, key)?;
                }
                Ok(())
            })
            .await
    }

    async fn list_keys(
        &self,
        namespace: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> BackendResult<KeyPage> {
        let now = self.inner.now();
        let here = reader::read(&self.inner, |conn| {
            Ok(rows::key_page(
                conn,
                namespace,
                cursor,
                limit,
                Bounds::inline(),
                now,
            )?)
        });
        if let Inline::Done(page) = here {
            return self.inner.answer(page);
        }
        let (ns, after) = (namespace.to_string(), cursor.map(str::to_string));
        self.run(move |conn| {
            Ok(
                rows::key_page(conn, &ns, after.as_deref(), limit, Bounds::NONE, now)?
                    .unwrap_or_default(),
            )
        })
        .await
    }
}

/// The clock's time as SQLite compares it.
fn now_of(clock: &SharedClock) -> i64 {
    i64::try_from(clock.now_ms()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> SqliteBackend {
        SqliteBackend::open(path, SqliteOptions::default()).unwrap()
    }

    #[test]
    fn files_wasmkv_cannot_use_are_refused_at_open_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE kv (k TEXT, v TEXT)")
            .unwrap();
        let not_db = dir.path().join("notes.txt");
        std::fs::write(&not_db, "not a database at all, just some text here").unwrap();
        for (path, needle) in [
            (
                &foreign,
                "a table `kv` that is not wasmkv's (columns: k, v)",
            ),
            (&not_db, "the file is not a SQLite database"),
        ] {
            let Err(e) = SqliteBackend::open(path, SqliteOptions::default()) else {
                panic!("{} was accepted", path.display());
            };
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    /// A WAL that grew while a reader held an old snapshot (as a process
    /// paused inside a read does) is cut back to `WAL_SIZE_LIMIT` once the
    /// reader lets go and writes go on, and the reader then sees them all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wal_that_grew_behind_a_held_reader_shrinks_back_once_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let db = open(&path);
        let wal_len =
            || std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
        db.set("ns", "k0", Bytes::from_static(b"0")).await.unwrap();
        let held = Connection::open(&path).unwrap();
        held.execute_batch("BEGIN").unwrap();
        let count = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(&held), 1);
        let value = Bytes::from(vec![b'v'; 3000]);
        let mut written = 1;
        while wal_len() <= 3 * WAL_SIZE_LIMIT as u64 {
            db.set("ns", &format!("k{written}"), value.clone())
                .await
                .unwrap();
            written += 1;
        }
        let grown = wal_len();
        assert_eq!(count(&held), 1, "the held reader kept its snapshot");
        held.execute_batch("COMMIT").unwrap();
        // Two automatic checkpoints' worth of writes: the first backfills
        // what the reader held back, the next write starts the WAL over.
        for _ in 0..2000 {
            db.set("ns", &format!("k{written}"), value.clone())
                .await
                .unwrap();
            written += 1;
            if wal_len() <= WAL_SIZE_LIMIT as u64 {
                break;
            }
        }
        assert!(
            wal_len() <= WAL_SIZE_LIMIT as u64,
            "the WAL grew to {grown} bytes behind the reader and stayed at {} after it let go",
            wal_len()
        );
        assert_eq!(count(&held), written);
    }

    /// A write lock another process holds past the busy timeout makes a
    /// write fail as a time-out, not as a store that is gone; nothing of
    /// it is applied.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lock_held_past_the_busy_timeout_is_a_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let options = SqliteOptions {
            busy_timeout: Duration::from_millis(100),
            ..SqliteOptions::default()
        };
        let db = SqliteBackend::open(&path, options).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = db
            .set("ns", "k", Bytes::from_static(b"v"))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::TimedOut { .. }), "{err:?}");
        assert!(err.to_string().contains("busy timeout"), "{err}");
        holder.execute_batch("ROLLBACK").unwrap();
        assert_eq!(db.get("ns", "k").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn increments_from_separate_handles_on_one_file_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        // Two independent backends stand in for two processes: separate
        // connections, coordinated only by SQLite's file locks.
        let (a, b) = (Arc::new(open(&path)), Arc::new(open(&path)));
        let tasks: Vec<_> = [a.clone(), b.clone(), a, b]
            .into_iter()
            .map(|backend| {
                tokio::spawn(async move {
                    for _ in 0..50 {
                        backend
                            .increment("ns", "n", 1, CounterRange::U64)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let again = open(&path);
        assert_eq!(
            again.get("ns", "n").await.unwrap(),
            Some(Bytes::from_static(b"200"))
        );
    }

    #[test]
    fn many_openers_of_a_new_file_at_once_all_succeed() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("kv.db");
            let start = Arc::new(std::sync::Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        SqliteBackend::open(&path, SqliteOptions::default()).map(|_| ())
                    })
                })
                .collect();
            for opener in openers {
                if let Err(e) = opener.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_grouped_together_are_all_durable_and_independent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let db = Arc::new(open(&path));
        db.set("ns", "word", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let db = db.clone();
                tokio::spawn(async move {
                    for i in 0..20 {
                        db.set("ns", &format!("t{t}-{i}"), Bytes::from(format!("{t}:{i}")))
                            .await
                            .unwrap();
                        // Refused writes share groups with good ones and
                        // must undo only themselves.
                        let refused = db.increment("ns", "word", 1, CounterRange::U64).await;
                        assert!(matches!(refused, Err(BackendError::Counter(_))));
                        db.increment("ns", "count", 1, CounterRange::U64)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        drop(db);
        let again = open(&path);
        assert_eq!(
            again.get("ns", "count").await.unwrap(),
            Some(Bytes::from_static(b"1280"))
        );
        assert_eq!(
            again.get("ns", "word").await.unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        for (t, i) in [(0, 0), (31, 7), (63, 19)] {
            assert_eq!(
                again.get("ns", &format!("t{t}-{i}")).await.unwrap(),
                Some(Bytes::from(format!("{t}:{i}")))
            );
        }
        assert_eq!(
            again
                .list_keys("ns", None, usize::MAX)
                .await
                .unwrap()
                .keys
                .len(),
            64 * 20 + 2
        );
    }

    #[tokio::test]
    async fn refused_increment_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("kv.db"));
        db.set("ns", "n", Bytes::from_static(b"x")).await.unwrap();
        let err = db
            .increment("ns", "n", 1, CounterRange::U64)
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Counter(_)), "{err}");
        assert_eq!(
            db.get("ns", "n").await.unwrap(),
            Some(Bytes::from_static(b"x"))
        );
    }

    /// Handles on one file stand in for processes; each reader checks that
    /// what it reads is never older than the last write acknowledged before
    /// its read began, while a checkpoint loop and a long-open read
    /// transaction work on the same file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acknowledged_write_is_seen_by_the_next_read_of_every_handle() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let handles: Vec<Arc<SqliteBackend>> = (0..3).map(|_| Arc::new(open(&path))).collect();
        let acked: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
        let done = Arc::new(AtomicBool::new(false));

        let long_reader = Connection::open(&path).unwrap();
        long_reader.execute_batch("BEGIN").unwrap();
        let _: i64 = long_reader
            .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
            .unwrap();
        let checkpointer = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let conn = Connection::open(&path).unwrap();
                conn.busy_timeout(Duration::from_secs(1)).unwrap();
                let mut runs = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let _: (i64, i64, i64) = conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .unwrap();
                    runs += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                runs
            })
        };

        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (db, acked) = (handles[w % handles.len()].clone(), acked.clone());
                tokio::spawn(async move {
                    for n in 1..=150u64 {
                        let key = format!("w{w}");
                        db.set("ns", &key, Bytes::from(n.to_string()))
                            .await
                            .unwrap();
                        acked[w].store(n, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..6)
            .map(|r| {
                let (db, acked, done) = (
                    handles[r % handles.len()].clone(),
                    acked.clone(),
                    done.clone(),
                );
                tokio::spawn(async move {
                    let mut reads = 0u64;
                    while !done.load(Ordering::SeqCst) {
                        let w = (reads % 4) as usize;
                        let floor = acked[w].load(Ordering::SeqCst);
                        let key = format!("w{w}");
                        let seen = match db.get("ns", &key).await.unwrap() {
                            Some(v) => std::str::from_utf8(&v).unwrap().parse::<u64>().unwrap(),
                            None => 0,
                        };
                        assert!(
                            seen >= floor,
                            "{key}: read {seen} after {floor} was acknowledged"
                        );
                        if db.exists("ns", &key).await.unwrap() != (floor > 0) && floor > 0 {
                            panic!("{key}: exists said no after {floor} was acknowledged");
                        }
                        let many = db
                            .get_many("ns", std::slice::from_ref(&key), usize::MAX)
                            .await
                            .unwrap();
                        let seen_many = many[0].as_ref().map_or(0, |v| {
                            std::str::from_utf8(v).unwrap().parse::<u64>().unwrap()
                        });
                        assert!(
                            seen_many >= floor,
                            "{key}: get-many read {seen_many} after {floor}"
                        );
                        reads += 1;
                        tokio::task::yield_now().await;
                    }
                    reads
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        for r in readers {
            assert!(r.await.unwrap() > 0);
        }
        assert!(checkpointer.join().unwrap() > 0);
        long_reader.execute_batch("COMMIT").unwrap();
        for w in 0..4 {
            let key = format!("w{w}");
            assert_eq!(
                open(&path).get("ns", &key).await.unwrap(),
                Some(Bytes::from_static(b"150"))
            );
        }
    }

    /// Reads too large for the calling thread, and reads that meet a lock,
    /// are answered on the pool, with the same answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_and_locked_reads_are_answered_on_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let db = Arc::new(open(&path));
        let big = Bytes::from(vec![7u8; INLINE_VALUE_BYTES + 1]);
        db.set("ns", "big", big.clone()).await.unwrap();
        assert_eq!(db.get("ns", "big").await.unwrap(), Some(big.clone()));
        let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        let items = keys.iter().map(|k| (k.clone(), big.clone())).collect();
        db.set_many("ns", items).await.unwrap();
        let many = db.get_many("ns", &keys, usize::MAX).await.unwrap();
        assert!(many.iter().all(|v| v.as_ref() == Some(&big)));
        let long_key = "x".repeat(60_000);
        for i in 0..20 {
            db.set(
                "long",
                &format!("{long_key}{i:02}"),
                Bytes::from_static(b"v"),
            )
            .await
            .unwrap();
        }
        let page = db.list_keys("long", None, 100).await.unwrap();
        assert_eq!(page.keys.len(), 20);

        // A read that meets a lock is not answered here but on the pool,
        // whose connections wait for it.
        let busy = reader::read(&db.inner, |_| -> Result<Option<()>, OpError> {
            Err(OpError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            )))
        });
        assert!(matches!(busy, Inline::Elsewhere));
    }

    /// Drops `path`'s pages from the OS page cache, as memory pressure
    /// would, and checks with `mincore` (which starts no I/O) that none is
    /// left, twice, after pauses (readahead that an earlier read started
    /// can land late, and the kernel skips a page it is still writing
    /// back), asking again until none is.
    #[cfg(target_os = "linux")]
    fn evict_from_page_cache(path: &Path) {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path).unwrap();
        file.sync_all().unwrap();
        let len = usize::try_from(file.metadata().unwrap().len()).unwrap();
        assert!(len > 0, "{} is empty", path.display());
        let page = 4096;
        let resident = || -> usize {
            // SAFETY: a read-only shared mapping of `len` bytes of a file
            // this function holds open, unmapped before returning; mincore
            // writes one byte per page into `pages`, sized for that.
            unsafe {
                let map = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                );
                assert_ne!(map, libc::MAP_FAILED, "mmap failed");
                let mut pages = vec![0u8; len.div_ceil(page)];
                let rc = libc::mincore(map, len, pages.as_mut_ptr());
                libc::munmap(map, len);
                assert_eq!(rc, 0, "mincore failed");
                pages.iter().filter(|p| **p & 1 == 1).count()
            }
        };
        let settle = Duration::from_millis(50);
        for _ in 0..40 {
            // SAFETY: an advisory call on a descriptor this function owns.
            let advised =
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            assert_eq!(advised, 0, "posix_fadvise failed");
            // Readahead started by an earlier read may still be landing:
            // the file counts as out only when it stays out.
            std::thread::sleep(settle);
            if resident() == 0 {
                std::thread::sleep(settle);
                if resident() == 0 {
                    return;
                }
            }
        }
        panic!(
            "{}: {} of its pages stayed in the page cache after POSIX_FADV_DONTNEED (a tmpfs?): \
             this test needs a disk-backed temp dir (set TMPDIR)",
            path.display(),
            resident()
        );
    }

    /// A read whose pages are not in memory is not made on the calling
    /// thread: it fails there at once and the pool reads it, bringing the
    /// pages in; the same thread's connection then reads them in place.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_would_wait_for_the_disk_is_left_to_the_pool() {
        // Other tests of this binary may use SQLite while this runs: the
        // table entry is one aligned pointer, and either function it holds
        // reads correctly on their threads, so they cannot tell.
        // SAFETY: as above; this binary's tests use no other VFS hook.
        assert!(
            unsafe { install_nowait_reads() },
            "pread could not be replaced"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let db = Arc::new(open(&path));
        let value = Bytes::from(vec![b'v'; 200]);
        let items = (0..2000)
            .map(|i| (format!("k{i:04}"), value.clone()))
            .collect();
        db.set_many("ns", items).await.unwrap();

        // A thread with its own reader connection, open and warm.
        let (answers_tx, answers) = std::sync::mpsc::channel();
        let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
        let reading = {
            let inner = db.inner.clone();
            std::thread::spawn(move || {
                while read_rx.recv().is_ok() {
                    let read = reader::read(&inner, |conn| {
                        Ok(rows::read_at_most(conn, "ns", "k1000", 1024, 0)?)
                    });
                    answers_tx.send(read).unwrap();
                }
            })
        };
        let read_there = || {
            read_tx.send(()).unwrap();
            answers.recv().unwrap()
        };
        assert!(matches!(read_there(), Inline::Done(Ok(Some(_)))));

        // A write makes every connection drop the pages it keeps itself;
        // the checkpoint moves every row into the file, which then leaves
        // the OS page cache. Readahead that some earlier read started can
        // still bring pages back before the read: then the read is made
        // here, rightly, and the test tries again.
        let mut refused = false;
        for attempt in 0..5 {
            db.set("ns", "other", Bytes::from(format!("{attempt}")))
                .await
                .unwrap();
            Connection::open(&path)
                .unwrap()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
            evict_from_page_cache(&path);
            if matches!(read_there(), Inline::Elsewhere) {
                refused = true;
                break;
            }
        }
        assert!(
            refused,
            "every read of pages just dropped from the page cache was made on the calling thread"
        );
        // The pool reads it (this worker's own inline read is refused the
        // same way) and brings the pages in.
        assert_eq!(db.get("ns", "k1000").await.unwrap(), Some(value.clone()));
        match read_there() {
            Inline::Done(Ok(Some(read))) => assert_eq!(read, value.to_vec()),
            _ => panic!("the pages the pool brought in were not read on the calling thread"),
        }
        drop(read_tx);
        reading.join().unwrap();
    }

    /// A batch read or a listing whose inline time runs out stops and is
    /// left to the pool, which reads it whole; the store's answers are the
    /// same either way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_and_listings_that_run_out_of_inline_time_are_read_whole_on_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let db = Arc::new(open(&path));
        let keys: Vec<String> = (0..300).map(|i| format!("k{i:03}")).collect();
        let items = keys
            .iter()
            .map(|k| (k.clone(), Bytes::from(k.clone())))
            .collect();
        db.set_many("ns", items).await.unwrap();
        let expected: Vec<Option<Bytes>> =
            keys.iter().map(|k| Some(Bytes::from(k.clone()))).collect();

        let conn = db.inner.try_connect_reader().unwrap();
        let spent = Bounds::inline_for(Duration::ZERO);
        assert_eq!(
            rows::read_many(&conn, "ns", &keys, usize::MAX, spent, 0).unwrap(),
            None
        );
        assert!(
            rows::key_page(&conn, "ns", None, 1000, spent, 0)
                .unwrap()
                .is_none()
        );
        let stopped = reader::read(&db.inner, |conn| {
            rows::read_many(conn, "ns", &keys, usize::MAX, spent, 0)
        });
        assert!(matches!(stopped, Inline::Elsewhere));

        let whole = rows::read_many(&conn, "ns", &keys, usize::MAX, Bounds::NONE, 0).unwrap();
        assert_eq!(whole, Some(expected.clone()));
        let page = rows::key_page(&conn, "ns", None, 1000, Bounds::NONE, 0)
            .unwrap()
            .unwrap();
        assert_eq!(page.keys, keys);
        assert_eq!(
            db.get_many("ns", &keys, usize::MAX).await.unwrap(),
            expected
        );
        assert_eq!(db.list_keys("ns", None, 1000).await.unwrap().keys, keys);
    }

    #[test]
    fn a_file_that_is_not_sqlite_fails_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        let err = SqliteBackend::open(&path, SqliteOptions::default())
            .err()
            .expect("opened a junk file");
        assert!(err.to_string().contains("cannot open database"), "{err}");
    }
}
