//! Replacing a system call of SQLite's unix VFS.
//!
//! SQLite makes its file system calls through a table it lets a program
//! change (`xSetSystemCall`, the documented hook for test harnesses and
//! wrappers). The table is the whole process's, so only an explicit opt-in
//! uses this: `nowait.rs` puts a function of its own in front of `pread`
//! and calls the one it replaced.

use std::ffi::CStr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// A system call as SQLite's table holds it: a pointer cast to the real
/// signature by whoever calls it.
pub(super) type SystemCall = unsafe extern "C" fn();

/// Puts `ours` in place of the system call `name` of the default VFS,
/// after storing the one it replaces in `replaced`, so that `ours` can call
/// it from its first call on. False, and nothing changed, when the default
/// VFS is not the unix one or has no such call, or `replaced` was set.
///
/// # Safety
///
/// `ours` must have the signature SQLite calls `name` with. SQLite's table
/// is not guarded: no connection may be opened or used on another thread
/// while it changes.
pub(super) unsafe fn replace(
    name: &CStr,
    ours: SystemCall,
    replaced: &OnceLock<SystemCall>,
) -> bool {
    // SAFETY: sqlite3_vfs_find initialises SQLite and returns the default
    // VFS, which lives as long as the process; its methods are called as
    // its version (checked) provides them.
    unsafe {
        let vfs = ffi::sqlite3_vfs_find(std::ptr::null());
        if vfs.is_null() || (*vfs).iVersion < 3 {
            return false;
        }
        let (Some(get), Some(set)) = ((*vfs).xGetSystemCall, (*vfs).xSetSystemCall) else {
            return false;
        };
        let Some(current) = get(vfs, name.as_ptr()) else {
            return false;
        };
        replaced.set(current).is_ok() && set(vfs, name.as_ptr(), Some(ours)) == ffi::SQLITE_OK
    }
}
