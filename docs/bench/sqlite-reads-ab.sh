#!/usr/bin/env bash
# SqliteBackend's cached reads at two commits, side by side: get, exists and
# get-many of 100 (100 B values, 1 000 keys, one-thread runtime), in
# alternating runs of a small program built against each commit's
# wasmkv-backend; prints each commit's median ns per call over the runs.
# Usage: docs/bench/sqlite-reads-ab.sh COMMIT_A COMMIT_B [RUNS]
set -euo pipefail
. "$(dirname "$0")/backend-program.sh"
runs="${3:-9}"

build() { # COMMIT -> path of the built program
  build_program sqlite-reads "$(checkout_at "$1")" <<'EOF'
use std::time::Instant;

use bytes::Bytes;
use wasmkv_backend::Backend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("sqlite-reads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteBackend::open(dir.join("kv.db"), SqliteOptions::default()).unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i:04}")).collect();
    let items = keys.iter().map(|k| (k.clone(), Bytes::from(vec![b'x'; 100]))).collect();
    store.set_many("b", items).await.unwrap();
    let calls = 20_000;
    let started = Instant::now();
    for i in 0..calls {
        std::hint::black_box(store.get("b", &keys[i % 1000]).await.unwrap());
    }
    let get = started.elapsed().as_nanos() / calls as u128;
    let started = Instant::now();
    for i in 0..calls {
        std::hint::black_box(store.exists("b", &keys[i % 1000]).await.unwrap());
    }
    let exists = started.elapsed().as_nanos() / calls as u128;
    let calls = 1000;
    let started = Instant::now();
    for i in 0..calls {
        let batch = &keys[(i * 100) % 900..][..100];
        std::hint::black_box(store.get_many("b", batch, usize::MAX).await.unwrap());
    }
    let get_many = started.elapsed().as_nanos() / calls as u128;
    println!("{get} {exists} {get_many}");
    std::fs::remove_dir_all(&dir).unwrap();
}
EOF
}

a="$(build "$1")"
b="$(build "$2")"
for _ in $(seq 1 "$runs"); do
  echo "A $("$a")"
  echo "B $("$b")"
done > "$bench_work/rows"
python3 - "$bench_work/rows" "$1" "$2" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = {"A": sys.argv[2], "B": sys.argv[3]}
for who in "AB":
    mine = [r for r in rows if r[0] == who]
    med = [statistics.median(int(r[i]) for r in mine) for i in (1, 2, 3)]
    print(f"{names[who]}: get {med[0]} ns, exists {med[1]} ns, get-many of 100 {med[2]} ns (medians of {len(mine)} runs)")
EOF
