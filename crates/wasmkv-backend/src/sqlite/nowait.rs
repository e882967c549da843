//! Reads on the calling thread that never wait for the disk: an opt-in.
//!
//! A read on an async runtime's worker (`reader.rs`) is cheap only while
//! its pages are in the OS page cache; a page that is not would be read
//! from the disk right there, holding the worker, and every task queued on
//! it, for the disk's latency: microseconds on a local SSD, tens of
//! milliseconds on a slow or throttled network disk.
//!
//! [`install_nowait_reads`] avoids that wait: while a thread runs such a
//! read ([`WouldNotWait`]), SQLite's file reads on that thread are made with
//! `preadv2(…, RWF_NOWAIT)`: the kernel copies the bytes if they are in
//! memory and otherwise fails at once with `EAGAIN`, which SQLite reports
//! as `SQLITE_IOERR_READ`, and the read is done again on the pool (whose
//! read brings the page into memory, so the next read of it stays on the
//! calling thread). The refused call is not free: Linux starts readahead
//! for the missing page inside it, which took 50–170 µs here on a fast
//! virtual disk. It costs the I/O's submission, never its completion.
//!
//! It is a process-wide change, so the library never makes it on its own:
//! SQLite's unix VFS takes its system calls from one table for the whole
//! process (`syscalls.rs`), and `install_nowait_reads` puts a function of
//! its own in front of `pread` there. Every other SQLite connection of the
//! process (the pool's, the writer's, an embedder's own) then calls that
//! function too and reads exactly as before, through the `pread` it
//! replaced: the switch is per thread, and only wasmkv's inline reads set
//! it. Locks, `close` and every other call are untouched. The `wasmkv`
//! binary installs it at startup; an embedder may, on the same terms.
//!
//! Without it, an inline read of a page that is not in memory waits for
//! the disk on the calling thread: one B-tree descent for a single key, at
//! most `INLINE_TIME` plus one descent for a batch (as on every system
//! other than Linux).

use std::cell::Cell;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// While it lives, this thread's SQLite file reads fail rather than wait
/// for the disk (once [`install_nowait_reads`] has run).
pub(super) struct WouldNotWait {
    was: bool,
}

impl WouldNotWait {
    /// Starts a read that must not wait, on this thread.
    pub(super) fn start() -> Self {
        WouldNotWait {
            was: INLINE.with(|inline| inline.replace(true)),
        }
    }
}

impl Drop for WouldNotWait {
    fn drop(&mut self) {
        INLINE.with(|inline| inline.set(self.was));
    }
}

/// Whether `e` is a read that was refused rather than made to wait (or any
/// other failed read: the pool reads it again, and reports it if it fails
/// there too).
pub(super) fn refused(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_IOERR_READ
    )
}

#[cfg(target_os = "linux")]
pub use linux::install_nowait_reads;

/// Makes wasmkv's SQLite reads on the calling thread fail fast instead of
/// waiting for the disk; on this system there is no such read, so it does
/// nothing and says so.
///
/// # Safety
///
/// As on Linux: nothing else in the process may open a SQLite connection
/// while it runs.
#[cfg(not(target_os = "linux"))]
pub unsafe fn install_nowait_reads() -> bool {
    false
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, OnceLock};

    use super::INLINE;
    use crate::sqlite::syscalls::{self, SystemCall};

    type Pread = unsafe extern "C" fn(c_int, *mut c_void, libc::size_t, libc::off_t) -> isize;

    /// The `pread` SQLite used before [`install_nowait_reads`].
    static REPLACED: OnceLock<SystemCall> = OnceLock::new();

    /// Set once a filesystem or kernel refused `RWF_NOWAIT` (`EOPNOTSUPP`,
    /// `EINVAL` before Linux 4.14, `ENOSYS`): the process then reads with
    /// the plain `pread` from that moment on instead of asking again on
    /// every page.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

    /// Makes wasmkv's SQLite reads on the calling thread (the small reads
    /// of `get`, `exists`, `get-many` and key listings made on an async
    /// runtime's worker) fail fast when a page is not in the OS page cache,
    /// so that read is done on the blocking pool instead of holding the
    /// worker for the disk's latency.
    ///
    /// Process-wide: it puts a function in front of `pread` in SQLite's
    /// unix VFS system-call table, which every connection in the process
    /// shares. Other connections, an embedder's own included, read exactly
    /// as before through it (the switch is per thread, and only wasmkv's
    /// inline reads turn it on). Call it once at startup; later calls do
    /// nothing. False, and nothing changed, when the default VFS is not the
    /// unix one or cannot replace `pread`.
    ///
    /// # Safety
    ///
    /// SQLite's system-call table is not guarded (`xSetSystemCall` is
    /// documented as not thread-safe): no other thread of the process may
    /// open or use a SQLite connection while this runs. Call it before the
    /// first connection is opened, for example first thing in `main`.
    pub unsafe fn install_nowait_reads() -> bool {
        static INSTALLED: Mutex<Option<bool>> = Mutex::new(None);
        let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
        *installed.get_or_insert_with(|| {
            // SAFETY: `pread` keeps its signature; the caller promises no
            // connection is in use meanwhile.
            unsafe {
                let ours = std::mem::transmute::<Pread, SystemCall>(pread);
                syscalls::replace(c"pread", ours, &REPLACED)
            }
        })
    }

    /// SQLite's `pread`: without waiting for the disk on a thread inside
    /// `WouldNotWait`, as it was everywhere else.
    unsafe extern "C" fn pread(
        fd: c_int,
        buf: *mut c_void,
        count: libc::size_t,
        offset: libc::off_t,
    ) -> isize {
        if INLINE.with(|inline| inline.get()) && !UNSUPPORTED.load(Ordering::Relaxed) {
            let iov = libc::iovec {
                iov_base: buf,
                iov_len: count,
            };
            // SAFETY: SQLite passes a buffer of `count` writable bytes.
            let got = unsafe { libc::preadv2(fd, &iov, 1, offset, libc::RWF_NOWAIT) };
            if got >= 0 {
                return got;
            }
            let errno = std::io::Error::last_os_error().raw_os_error();
            if !matches!(errno, Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)) {
                return got;
            }
            UNSUPPORTED.store(true, Ordering::Relaxed);
        }
        match REPLACED.get() {
            // SAFETY: the function SQLite itself called for this, with the
            // arguments it gave.
            Some(replaced) => unsafe {
                std::mem::transmute::<SystemCall, Pread>(*replaced)(fd, buf, count, offset)
            },
            // SAFETY: as above, the libc call SQLite makes by default.
            None => unsafe { libc::pread(fd, buf, count, offset) },
        }
    }
}
