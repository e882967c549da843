#!/usr/bin/env bash
# What a SQLite point read costs here, beside wasmkv's SqliteBackend::get
# (docs/bench/history.md, "SQLite reads without a thread hop"): 7 rounds of 50 000
# reads of cached 100 B values, each round through SqliteBackend::get, the
# same SQL through rusqlite's statement cache on a plain connection, and a
# bare `SELECT value` on a statement held across reads. Builds a throwaway
# program (release) against this checkout.
set -euo pipefail
. "$(dirname "$0")/backend-program.sh"
program="$(build_program getcost "$bench_repo" 'rusqlite = { version = "0.37", features = ["bundled"] }' <<'EOF'
use std::time::Instant;
use bytes::Bytes;
use rusqlite::{OptionalExtension, params};
use wasmkv_backend::Backend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("getcost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kv.db");
    let store = SqliteBackend::open(&path, SqliteOptions::default()).unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i:04}")).collect();
    let items = keys.iter().map(|k| (k.clone(), Bytes::from(vec![b'x'; 100]))).collect();
    store.set_many("b", items).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(std::time::Duration::ZERO).unwrap();
    let n = 50_000;
    for round in 0..7 {
        let t = Instant::now();
        for i in 0..n {
            std::hint::black_box(store.get("b", &keys[i % 1000]).await.unwrap());
        }
        let backend = t.elapsed().as_nanos() / n as u128;
        let t = Instant::now();
        for i in 0..n {
            let v: Option<(i64, Option<Vec<u8>>)> = conn.prepare_cached("SELECT length(value), CASE WHEN length(value) <= ?3 THEN value END
     FROM kv WHERE bucket = ?1 AND key = ?2").unwrap()
                .query_row(params!["b", &keys[i % 1000], 65536i64], |r| Ok((r.get(0)?, r.get(1)?))).optional().unwrap();
            std::hint::black_box(v);
        }
        let raw = t.elapsed().as_nanos() / n as u128;
        let mut stmt = conn.prepare("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2").unwrap();
        let t = Instant::now();
        for i in 0..n {
            let v: Option<Vec<u8>> = stmt.query_row(params!["b", &keys[i % 1000]], |r| r.get(0)).optional().unwrap();
            std::hint::black_box(v);
        }
        let bare = t.elapsed().as_nanos() / n as u128;
        println!("round {round}: SqliteBackend::get {backend} ns, same SQL via prepare_cached {raw} ns, plain SELECT value on a held statement {bare} ns");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
EOF
)"
"$program"
