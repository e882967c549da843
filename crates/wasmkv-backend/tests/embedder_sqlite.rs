//! An embedder's own SQLite beside a wasmkv store, in one process: the
//! library changes nothing in SQLite's process-wide state, and the
//! embedder's connections lock and unlock at the kernel exactly as they
//! would without wasmkv. Its own test binary, so no other test in the
//! process has opted in to anything.

#![cfg(all(feature = "sqlite", target_os = "linux"))]

use std::ffi::{CStr, CString};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::{Connection, ffi};
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};
use wasmkv_backend::{Backend, Bytes};

/// Every entry of the default VFS's system-call table, by name.
fn system_calls() -> Vec<(String, usize)> {
    // SAFETY: the default VFS lives as long as the process; its table is
    // read through the methods its version (checked) provides.
    unsafe {
        let vfs = ffi::sqlite3_vfs_find(std::ptr::null());
        assert!(!vfs.is_null() && (*vfs).iVersion >= 3, "no unix VFS");
        let (get, next) = (
            (*vfs).xGetSystemCall.unwrap(),
            (*vfs).xNextSystemCall.unwrap(),
        );
        let mut calls = Vec::new();
        let mut name = next(vfs, std::ptr::null());
        while !name.is_null() {
            let owned = CStr::from_ptr(name).to_string_lossy().into_owned();
            let c = CString::new(owned.clone()).unwrap();
            let pointer = get(vfs, c.as_ptr()).map_or(0, |f| f as usize);
            calls.push((owned, pointer));
            name = next(vfs, name);
        }
        calls
    }
}

/// The bytes of `shm` this process holds a POSIX lock on, per
/// `/proc/locks` (opening the file to ask would drop the process's locks).
fn locked_bytes(shm: &Path) -> Vec<(String, i64)> {
    let inode = std::fs::metadata(shm).unwrap().ino().to_string();
    let pid = std::process::id().to_string();
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks
        .lines()
        .filter_map(|line| {
            // "1: POSIX  ADVISORY  READ  PID MAJ:MIN:INODE START END"
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() == 8
                && fields[1] == "POSIX"
                && fields[4] == pid
                && fields[5].rsplit(':').next() == Some(inode.as_str()))
            .then(|| (fields[3].to_string(), fields[6].parse().unwrap()))
        })
        .collect()
}

/// SQLite's unix VFS locks read mark N of a `-shm` file at byte 123 + N.
fn read_marks(shm: &Path) -> Vec<(String, i64)> {
    locked_bytes(shm)
        .into_iter()
        .filter(|(_, byte)| (123..128).contains(byte))
        .collect()
}

fn shm(db: &Path) -> std::path::PathBuf {
    format!("{}-shm", db.display()).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedders_own_sqlite_is_untouched_by_a_wasmkv_store() {
    let dir = tempfile::tempdir().unwrap();
    let before = system_calls();

    let store_file = dir.path().join("wasmkv.db");
    let store = SqliteBackend::open(&store_file, SqliteOptions::default()).unwrap();
    store.set("b", "k", Bytes::from_static(b"v")).await.unwrap();
    for _ in 0..100 {
        assert_eq!(
            store.get("b", "k").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
    assert_eq!(
        system_calls(),
        before,
        "opening and using a wasmkv store changed SQLite's system-call table"
    );
    assert_eq!(
        read_marks(&shm(&store_file)),
        vec![],
        "wasmkv kept a WAL read lock after its reads ended"
    );

    let own_file = dir.path().join("own.db");
    let own = Connection::open(&own_file).unwrap();
    own.pragma_update(None, "journal_mode", "WAL").unwrap();
    own.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    own.execute_batch("BEGIN").unwrap();
    let n: i64 = own
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let held = read_marks(&shm(&own_file));
    assert!(
        held.len() == 1 && held[0].0 == "READ",
        "an open read transaction holds one read mark at the kernel: {held:?}"
    );
    own.execute_batch("COMMIT").unwrap();
    assert_eq!(
        read_marks(&shm(&own_file)),
        vec![],
        "the embedder's read lock was not given back to the kernel when its transaction ended"
    );
}
