#!/usr/bin/env bash
# The A/B behind docs/bench/history.md's "WITHOUT ROWID ... measured and not kept":
# SqliteBackend::get on two files of 1 000 entries of 100 B, one in the
# rowid layout wasmkv creates, one WITHOUT ROWID, 15 interleaved rounds of
# 20 000 gets each; prints each layout's median, min and max ns per get.
# Builds a throwaway program (release) against this checkout.
set -euo pipefail
. "$(dirname "$0")/backend-program.sh"
program="$(build_program sqlite-layout-ab "$bench_repo" 'rusqlite = { version = "0.37", features = ["bundled"] }' <<'EOF'
use std::time::Instant;

use bytes::Bytes;
use wasmkv_backend::Backend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};

const TABLE: &str = "CREATE TABLE kv (bucket TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (bucket, key))";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("sqlite-layout-ab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut stores = Vec::new();
    for (name, suffix) in [("rowid", ""), ("without rowid", " WITHOUT ROWID")] {
        let path = dir.join(format!("{}.db", name.replace(' ', "-")));
        rusqlite::Connection::open(&path).unwrap().execute_batch(&format!("{TABLE}{suffix}")).unwrap();
        let store = SqliteBackend::open(&path, SqliteOptions::default()).unwrap();
        let items = (0..1000).map(|i| (format!("key-{i}"), Bytes::from(vec![b'x'; 100]))).collect();
        store.set_many("b", items).await.unwrap();
        stores.push((name, store, Vec::new()));
    }
    for _round in 0..15 {
        for (_, store, times) in &mut stores {
            let started = Instant::now();
            for j in 0..20_000 {
                let key = format!("key-{}", j % 1000);
                std::hint::black_box(store.get("b", &key).await.unwrap());
            }
            times.push(started.elapsed().as_nanos() as f64 / 20_000.0);
        }
    }
    for (name, _, mut times) in stores {
        times.sort_by(f64::total_cmp);
        println!("{name:14} get: median {:.0} ns, min {:.0}, max {:.0}", times[times.len() / 2], times[0], times[times.len() - 1]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
EOF
)"
"$program"
