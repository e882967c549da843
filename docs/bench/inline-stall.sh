#!/usr/bin/env bash
# How long a SQLite batch read holds its tokio worker (BENCHMARKS.md, "How
# long a read holds a runtime worker"): on a one-thread runtime, a task
# that only yields records the longest gap between its turns while another
# task calls SqliteBackend::get of a key whose pages were just dropped from
# the OS page cache (a cold get), and get_many of 100, 1 000 and 10 000
# cached keys (100 B values), 40 calls each. Prints, per batch size, the median call
# time, and the median and worst over the calls of the longest gap the
# ticker saw during a call (what the call held the worker). Builds a throwaway program (release) against the
# wasmkv-backend of each COMMIT given (default HEAD), in a git worktree.
# Usage: docs/bench/inline-stall.sh [COMMIT...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
cleanup() {
  for tree in "$work"/tree-*; do
    [ -d "$tree" ] && git -C "$repo" worktree remove --force "$tree" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
[ $# -gt 0 ] || set -- HEAD

for commit in "$@"; do
  tree="$work/tree-$(git -C "$repo" rev-parse --short "$commit")"
  git -C "$repo" worktree add -q --detach "$tree" "$commit"
  prog="$tree-prog"
  mkdir -p "$prog/src"
  cat > "$prog/Cargo.toml" <<EOF
[package]
name = "inline-stall"
version = "0.1.0"
edition = "2024"

[dependencies]
wasmkv-backend = { path = "$tree/crates/wasmkv-backend", default-features = false, features = ["sqlite"] }
tokio = { version = "1", features = ["rt", "macros", "time"] }
bytes = "1"
libc = "0.2"
EOF
  cp "$repo/Cargo.lock" "$prog/"
  cat > "$prog/src/main.rs" <<'EOF'
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmkv_backend::Backend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("inline-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteBackend::open(dir.join("kv.db"), SqliteOptions::default()).unwrap();
    let keys: Vec<String> = (0..10_000).map(|i| format!("key-{i:05}")).collect();
    for chunk in keys.chunks(1000) {
        let items = chunk.iter().map(|k| (k.clone(), Bytes::from(vec![b'x'; 100]))).collect();
        store.set_many("b", items).await.unwrap();
    }
    let (file, wal) = (dir.join("kv.db"), dir.join("kv.db-wal"));
    for n in [0, 100, 1000, 10_000] {
        let batch = &keys[..n.max(1)];
        store.get_many("b", batch, usize::MAX).await.unwrap();
        // The ticker keeps the longest gap between its turns since the
        // last call began; each call takes that as its stall.
        let worst_gap = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (stop, worst_gap) = (stop.clone(), worst_gap.clone());
            tokio::spawn(async move {
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    tokio::task::yield_now().await;
                    let now = Instant::now();
                    worst_gap.fetch_max((now - last).as_nanos() as u64, Ordering::Relaxed);
                    last = now;
                }
            })
        };
        tokio::task::yield_now().await;
        let (mut times, mut stalls) = (Vec::new(), Vec::new());
        for call in 0..40 {
            if n == 0 {
                // A cold get: a write makes every connection drop its own
                // page cache, and the file leaves the OS page cache.
                store.set("b", "bump", Bytes::from_static(b"x")).await.unwrap();
                evict(&file);
                evict(&wal);
                tokio::task::yield_now().await;
            }
            worst_gap.store(0, Ordering::Relaxed);
            let started = Instant::now();
            if n == 0 {
                let key = &keys[(call * 241) % keys.len()];
                assert!(store.get("b", key).await.unwrap().is_some());
            } else {
                let values = store.get_many("b", batch, usize::MAX).await.unwrap();
                assert_eq!(values.len(), n);
            }
            times.push(started.elapsed());
            tokio::task::yield_now().await;
            stalls.push(Duration::from_nanos(worst_gap.load(Ordering::Relaxed)));
        }
        stop.store(true, Ordering::Relaxed);
        ticker.await.unwrap();
        times.sort();
        stalls.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let what = if n == 0 { "cold get".to_string() } else { format!("get-many of {n}") };
        println!(
            "{what:>17}: median {:>8.1} µs per call; the worker held per call: median {:>8.1} µs, worst {:>8.1} µs",
            us(times[times.len() / 2]),
            us(stalls[stalls.len() / 2]),
            us(stalls[stalls.len() - 1])
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Drops `path`'s pages from the OS page cache, as memory pressure would.
fn evict(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    let advised = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(advised, 0);
}
EOF
  echo "== $(git -C "$repo" log -1 --format='%h %s' "$commit" | cut -c1-80)"
  (cd "$prog" && CARGO_TARGET_DIR="$work/target" cargo run --quiet --release 2>&1)
done
