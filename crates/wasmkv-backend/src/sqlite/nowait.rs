//! Reads on the calling thread that never wait for the disk.
//!
//! A read on an async runtime's worker (`reader.rs`) is cheap only while
//! its pages are in the OS page cache; a page that is not would be read
//! from the disk right there, holding the worker, and every task queued on
//! it, for the disk's latency: microseconds on a local SSD, tens of
//! milliseconds on a slow or throttled network disk. So while a thread runs
//! such a read ([`WouldNotWait`]), SQLite's file reads on that thread are
//! made with `preadv2(…, RWF_NOWAIT)`: the kernel copies the bytes if they
//! are in memory and otherwise fails at once with `EAGAIN`, which SQLite
//! reports as `SQLITE_IOERR_READ` and the read is done again on the pool
//! (whose read brings the page into memory, so the next read of it stays on
//! the calling thread). The refused call is not free: Linux starts readahead
//! for the missing page inside it, which took 50–170 µs here on a fast
//! virtual disk. It costs the I/O's submission, never its completion. The
//! pool's and the writer's connections read as before: the switch is per
//! thread.
//!
//! How: the unix VFS lets a program replace the system calls it makes
//! (`syscalls.rs`); `install` replaces `pread`, the one SQLite's file
//! reads use on Linux, with a function that asks for `RWF_NOWAIT` only on
//! a thread inside [`WouldNotWait`] and otherwise calls the `pread` it
//! replaced. A filesystem without `RWF_NOWAIT` support (`EOPNOTSUPP`) or a
//! kernel without `preadv2` flags (`EINVAL`, before 4.14) gets the plain
//! `pread`, as before. Other systems read as before.
//!
//! The swap is process-wide and happens once, when the first SQLite store
//! is opened, before wasmkv opens a connection. An embedder's own SQLite
//! code on another thread at that very moment would race an aligned
//! pointer store (SQLite documents `xSetSystemCall` as not thread-safe);
//! afterwards its threads read exactly as before, since they never enter
//! [`WouldNotWait`].

use std::cell::Cell;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// While it lives, this thread's SQLite file reads fail rather than wait
/// for the disk.
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

/// Whether this thread is running a read inside [`WouldNotWait`], the
/// reads `read_marks.rs` keeps their lock for too.
pub(super) fn on_inline_read() -> bool {
    INLINE.with(|inline| inline.get())
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
pub(super) use linux::install;

/// Nothing to install where `RWF_NOWAIT` does not exist.
#[cfg(not(target_os = "linux"))]
pub(super) fn install() {}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::sync::{Once, OnceLock};

    use super::INLINE;
    use crate::sqlite::syscalls::{self, SystemCall};

    type Pread = unsafe extern "C" fn(c_int, *mut c_void, libc::size_t, libc::off_t) -> isize;

    static INSTALL: Once = Once::new();

    /// The `pread` SQLite used before [`install`].
    static REPLACED: OnceLock<SystemCall> = OnceLock::new();

    /// Replaces the unix VFS's `pread`, once per process, before the first
    /// connection of any store is opened. Leaves SQLite as it was when the
    /// default VFS is not the unix one or does not use `pread`.
    pub(in crate::sqlite) fn install() {
        INSTALL.call_once(|| {
            // SAFETY: `pread` keeps its signature; this runs before this
            // process opens a connection through wasmkv.
            unsafe {
                let ours = std::mem::transmute::<Pread, SystemCall>(pread);
                syscalls::replace(c"pread", ours, &REPLACED);
            }
        });
    }

    /// SQLite's `pread`: without waiting for the disk on a thread inside
    /// `WouldNotWait`, as it was everywhere else.
    unsafe extern "C" fn pread(
        fd: c_int,
        buf: *mut c_void,
        count: libc::size_t,
        offset: libc::off_t,
    ) -> isize {
        if INLINE.with(|inline| inline.get()) {
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
