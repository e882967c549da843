//! Reads on the calling thread that keep their WAL read lock between reads.
//!
//! Every SQLite read in WAL mode takes a shared lock on one of five
//! read-mark bytes of the `-shm` file when it starts and releases it when
//! it ends: two `fcntl` calls per read, about half of a cached
//! `SqliteBackend::get` here (5–6 µs with them, 2.3–2.8 µs without:
//! `docs/bench/sqlite-reads-ab.sh`, BENCHMARKS.md). The lock is a
//! POSIX record lock, held by the process, not by a connection: SQLite
//! counts its own connections' holds in memory and calls `fcntl` only for
//! the first hold and the last release.
//!
//! So when an inline read (`nowait::WouldNotWait`) releases the last hold
//! of a read mark, the release is not passed to the kernel: the process
//! keeps the lock ("kept"), and the next read that takes the same mark uses
//! it without a system call. SQLite in this process does not see the
//! difference, and to every other process it is what a slower reader looks
//! like, which WAL mode is built for:
//!
//! - **This process** still counts the mark as free: its checkpoints and
//!   WAL restarts take it exclusively as before (a process's own POSIX locks
//!   never conflict; a write lock taken over a kept read lock replaces it).
//! - **Every read still starts a new read transaction**: SQLite reads the
//!   WAL index again and picks the newest mark, so it sees every write
//!   committed before it began, from any process. Only the lock is kept.
//! - **Other processes** see a reader that holds its mark a little longer:
//!   they cannot move that one mark forward, so a checkpoint there stops at
//!   the frame the mark names (about the newest frame, since reads here
//!   always take the newest), and a WAL restart waits. A kept lock is
//!   released once no read has used it for [`IDLE`] (by a thread of this
//!   module's own), and on the next release after it has been held for
//!   [`LONGEST_HOLD`], so another process waits at most about that long.
//!
//! Only releases made inside an inline read are kept; the pool's, the
//! writer's and an embedder's own connections release as SQLite does. A
//! kept lock is forgotten when SQLite closes the file (closing releases a
//! process's locks on it). Code of its own that opens and closes a store's
//! `-shm` file drops every lock the process holds there, SQLite's own
//! included: SQLite documents that hazard for all its files, and a kept
//! lock adds nothing to it.

use std::ffi::{c_int, c_void};
use std::ops::Range;
use std::sync::{Condvar, Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::nowait;
use super::syscalls::{self, SystemCall};

/// How long a kept lock no read uses stays held. While reads go on, the
/// releasing thread wakes once per `IDLE`: at 1 ms those wake-ups cost a
/// reading thread 10–15% on get-many (`docs/bench/sqlite-reads-ab.sh`); at
/// 10 ms nothing measurable, and another process waits at most about as
/// long as SQLite's own busy handler sleeps between tries.
const IDLE: Duration = Duration::from_millis(10);

/// How long a lock is held at most before a release goes to the kernel.
const LONGEST_HOLD: Duration = Duration::from_millis(100);

/// The first read-mark byte of the `-shm` file: SQLite's unix VFS puts its
/// locks at byte 120 (`UNIX_SHM_BASE`), and read mark 0 is lock 3.
const FIRST_READ_MARK: i64 = 123;

/// Read marks `0..5` (`WAL_NREADER`).
const READ_MARKS: usize = 5;

type Fcntl = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
type Close = unsafe extern "C" fn(c_int) -> c_int;

unsafe extern "C" {
    /// `fcntl_trampoline.c`: SQLite's variadic `fcntl`, calling
    /// [`wasmkv_sqlite_fcntl_fixed`].
    fn wasmkv_sqlite_fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
}

static INSTALL: Once = Once::new();

/// The `fcntl` and `close` SQLite used before [`install`].
static FCNTL: OnceLock<SystemCall> = OnceLock::new();
static CLOSE: OnceLock<SystemCall> = OnceLock::new();

/// What this process holds on one read mark of one `-shm` file.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Free,
    /// A shared lock SQLite holds, taken at `since`.
    Read {
        since: Instant,
    },
    /// A shared lock SQLite released and the process kept, since `idle`.
    Kept {
        since: Instant,
        idle: Instant,
    },
    /// An exclusive lock SQLite holds.
    Write,
}

/// Every `-shm` file this process has locked a read mark of.
struct Files {
    marks: Vec<(c_int, [Mark; READ_MARKS])>,
    /// Whether the releasing thread waits without a deadline.
    releaser_idle: bool,
}

static FILES: Mutex<Files> = Mutex::new(Files {
    marks: Vec::new(),
    releaser_idle: true,
});
static RELEASE: Condvar = Condvar::new();

fn files() -> MutexGuard<'static, Files> {
    FILES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Puts this module in front of SQLite's `fcntl` and `close`, once per
/// process, before the first connection of any store is opened. Leaves
/// SQLite as it was when the default VFS is not the unix one, or when the
/// releasing thread cannot be started.
pub(super) fn install() {
    INSTALL.call_once(|| {
        let started = std::thread::Builder::new()
            .name("wasmkv-sqlite-read-marks".into())
            .spawn(release_idle_marks);
        if started.is_err() {
            return;
        }
        // SAFETY: both functions have the signatures SQLite calls these
        // entries with (the trampoline is variadic, like fcntl); this runs
        // before this process opens a connection through wasmkv. `close` is
        // replaced first, so no kept lock can outlive its file.
        unsafe {
            if syscalls::replace(
                c"close",
                std::mem::transmute::<Close, SystemCall>(close),
                &CLOSE,
            ) {
                let ours = std::mem::transmute::<Fcntl, SystemCall>(wasmkv_sqlite_fcntl);
                syscalls::replace(c"fcntl", ours, &FCNTL);
            }
        }
    });
}

/// The `fcntl` SQLite would have called.
fn real_fcntl(fd: c_int, cmd: c_int, arg: *const c_void) -> c_int {
    match FCNTL.get() {
        // SAFETY: SQLite's `fcntl` entry, called as SQLite calls it, with
        // the argument SQLite passed (or a flock of this module's).
        Some(replaced) => unsafe {
            std::mem::transmute::<SystemCall, Fcntl>(*replaced)(fd, cmd, arg)
        },
        // SAFETY: as above, the libc call SQLite makes by default.
        None => unsafe { libc::fcntl(fd, cmd, arg) },
    }
}

/// SQLite's `fcntl` with its one argument: locks on read marks go through
/// [`lock_read_marks`], everything else to the `fcntl` it replaced.
#[unsafe(no_mangle)]
extern "C" fn wasmkv_sqlite_fcntl_fixed(fd: c_int, cmd: c_int, arg: *mut c_void) -> c_int {
    if cmd == libc::F_SETLK && !arg.is_null() {
        // SAFETY: F_SETLK's argument is a `struct flock`.
        let lock = unsafe { &*(arg as *const libc::flock) };
        if let Some(marks) = read_marks(lock) {
            return lock_read_marks(fd, lock, marks);
        }
    }
    real_fcntl(fd, cmd, arg)
}

/// The read marks a lock range covers, if any.
fn read_marks(lock: &libc::flock) -> Option<Range<usize>> {
    if lock.l_whence != libc::SEEK_SET as libc::c_short || lock.l_len < 0 {
        return None;
    }
    let start = lock.l_start;
    let end = match lock.l_len {
        0 => i64::MAX,
        len => start.saturating_add(len),
    };
    let first = start.max(FIRST_READ_MARK);
    let last = end.min(FIRST_READ_MARK + READ_MARKS as i64);
    (first < last).then(|| (first - FIRST_READ_MARK) as usize..(last - FIRST_READ_MARK) as usize)
}

fn lock_read_marks(fd: c_int, lock: &libc::flock, range: Range<usize>) -> c_int {
    let mut files = files();
    let now = Instant::now();
    let one = (range.len() == 1 && lock.l_len == 1).then_some(range.start);
    let kind = c_int::from(lock.l_type);
    let at = files.index_of(fd);
    match (kind, one.map(|mark| files.marks[at].1[mark])) {
        (libc::F_RDLCK, Some(Mark::Kept { since, .. })) => {
            files.marks[at].1[range.start] = Mark::Read { since };
            return 0;
        }
        (libc::F_UNLCK, Some(Mark::Read { since }))
            if nowait::on_inline_read() && now.saturating_duration_since(since) < LONGEST_HOLD =>
        {
            files.marks[at].1[range.start] = Mark::Kept { since, idle: now };
            if files.releaser_idle {
                files.releaser_idle = false;
                RELEASE.notify_one();
            }
            return 0;
        }
        _ => {}
    }
    let result = real_fcntl(fd, libc::F_SETLK, (lock as *const libc::flock).cast());
    if result == 0 {
        let held = match kind {
            libc::F_RDLCK => Mark::Read { since: now },
            libc::F_WRLCK => Mark::Write,
            _ => Mark::Free,
        };
        files.marks[at].1[range].fill(held);
    }
    result
}

impl Files {
    /// Where `fd`'s marks are, added when new.
    fn index_of(&mut self, fd: c_int) -> usize {
        match self.marks.iter().position(|(f, _)| *f == fd) {
            Some(at) => at,
            None => {
                self.marks.push((fd, [Mark::Free; READ_MARKS]));
                self.marks.len() - 1
            }
        }
    }
}

/// SQLite's `close`: forgets the file's marks first, since closing releases
/// every lock the process holds on the file and the number may be reused.
unsafe extern "C" fn close(fd: c_int) -> c_int {
    {
        let mut files = files();
        if let Some(at) = files.marks.iter().position(|(f, _)| *f == fd) {
            files.marks.swap_remove(at);
        }
    }
    match CLOSE.get() {
        // SAFETY: the call SQLite made, to the function it would have called.
        Some(replaced) => unsafe { std::mem::transmute::<SystemCall, Close>(*replaced)(fd) },
        // SAFETY: as above, the libc call SQLite makes by default.
        None => unsafe { libc::close(fd) },
    }
}

/// The releasing thread: gives kept locks no read used for [`IDLE`] back
/// to the kernel, and sleeps without a deadline while none is kept.
fn release_idle_marks() {
    let mut files = files();
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for (fd, marks) in files.marks.iter_mut() {
            for (mark, state) in marks.iter_mut().enumerate() {
                let Mark::Kept { idle, .. } = *state else {
                    continue;
                };
                let due = idle + IDLE;
                if due > now {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                // SAFETY: a flock is plain integers; zero is valid for each.
                let mut unlock: libc::flock = unsafe { std::mem::zeroed() };
                unlock.l_type = libc::F_UNLCK as libc::c_short;
                unlock.l_whence = libc::SEEK_SET as libc::c_short;
                unlock.l_start = FIRST_READ_MARK + mark as i64;
                unlock.l_len = 1;
                // An unlock of a byte this process locked, on a file still
                // open: close forgets a file's marks before closing it.
                real_fcntl(*fd, libc::F_SETLK, (&unlock as *const libc::flock).cast());
                *state = Mark::Free;
            }
        }
        files = match next {
            Some(due) => {
                RELEASE
                    .wait_timeout(files, due.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => {
                files.releaser_idle = true;
                RELEASE.wait(files).unwrap_or_else(PoisonError::into_inner)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use rusqlite::Connection;

    use crate::Backend;
    use crate::sqlite::{SqliteBackend, SqliteOptions};

    fn shm_of(db: &Path) -> PathBuf {
        PathBuf::from(format!("{}-shm", db.display()))
    }

    /// Whether this process holds a lock on a read mark of `shm`, as the
    /// kernel lists it in `/proc/locks` (opening the file to ask would
    /// drop every lock the process holds on it when closed).
    fn read_mark_held(shm: &Path) -> bool {
        let inode = std::fs::metadata(shm).unwrap().ino();
        let pid = std::process::id().to_string();
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        locks.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "1: POSIX  ADVISORY  READ  PID MAJ:MIN:INODE START END"
            fields.len() == 8
                && fields[1] == "POSIX"
                && fields[4] == pid
                && fields[5].rsplit(':').next() == Some(inode.to_string().as_str())
                && fields[6].parse::<i64>().is_ok_and(|start| {
                    (super::FIRST_READ_MARK..super::FIRST_READ_MARK + super::READ_MARKS as i64)
                        .contains(&start)
                })
        })
    }

    async fn store_with_a_key(db: &Path) -> Arc<SqliteBackend> {
        let store = Arc::new(SqliteBackend::open(db, SqliteOptions::default()).unwrap());
        store
            .set("ns", "k", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
    }

    /// Reads on the calling thread one after another, until the process is
    /// seen holding a read mark between two of them (the releasing thread
    /// may give it back first when this thread is descheduled).
    async fn read_until_a_mark_is_kept(store: &SqliteBackend, shm: &Path) {
        for _ in 0..100 {
            store.get("ns", "k").await.unwrap();
            if read_mark_held(shm) {
                return;
            }
        }
        panic!("no read mark was held between 100 reads on the calling thread");
    }

    /// An inline read keeps its read mark locked after it ends, so the next
    /// read needs no system call; once reads stop, the lock is given back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_mark_is_kept_between_reads_and_given_back_when_they_stop() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kv.db");
        let store = store_with_a_key(&db).await;
        let shm = shm_of(&db);
        read_until_a_mark_is_kept(&store, &shm).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while read_mark_held(&shm) {
            assert!(
                Instant::now() < deadline,
                "a read mark kept by reads that stopped was still held after 10 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A mark kept by this process is free to its own connections: a
    /// TRUNCATE checkpoint that may not wait at all still backfills and
    /// empties the WAL, and the next read sees the write before it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kept_read_mark_does_not_hold_up_this_processs_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kv.db");
        let store = store_with_a_key(&db).await;
        let shm = shm_of(&db);
        for round in 0..5 {
            read_until_a_mark_is_kept(&store, &shm).await;
            let value = Bytes::from(format!("round {round}"));
            store.set("ns", "k", value.clone()).await.unwrap();
            read_until_a_mark_is_kept(&store, &shm).await;
            let conn = Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::ZERO).unwrap();
            let (busy, frames): (i64, i64) = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!((busy, frames), (0, 0), "round {round}: checkpoint held up");
            let wal = std::fs::metadata(format!("{}-wal", db.display())).unwrap();
            assert_eq!(wal.len(), 0, "round {round}: the WAL was not emptied");
            assert_eq!(store.get("ns", "k").await.unwrap(), Some(value));
        }
    }
}
