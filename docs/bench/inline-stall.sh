#!/usr/bin/env bash
# How long a SQLite read holds its tokio worker (docs/bench/history.md, "How long a
# read holds a runtime worker"): SqliteBackend::get of a key whose pages
# were just dropped from the OS page cache (a cold get), and get_many of
# 100, 1 000 and 10 000 cached keys (100 B values), 40 calls each, on a
# one-thread runtime. "Held" is a call's longest single poll: the time it
# kept the worker from every other task, whatever it waited for between
# polls. Prints the median call time and the median and worst hold.
# Builds a throwaway program (release) against the wasmkv-backend of each
# COMMIT given (default HEAD), in a git worktree.
# Usage: docs/bench/inline-stall.sh [COMMIT...]
set -euo pipefail
. "$(dirname "$0")/backend-program.sh"
[ $# -gt 0 ] || set -- HEAD

for commit in "$@"; do
  program="$(build_program inline-stall "$(checkout_at "$commit")" 'libc = "0.2"' <<'EOF'
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmkv_backend::Backend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};

/// A future that keeps its longest single poll: how long it held the
/// thread polling it, whatever it waited for in between.
struct Held<F> {
    inner: Pin<Box<F>>,
    longest: Duration,
}

impl<F: Future> Future for Held<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = Instant::now();
        let polled = self.inner.as_mut().poll(cx);
        self.longest = self.longest.max(started.elapsed());
        polled.map(|out| (out, self.longest))
    }
}

fn held<F: Future>(inner: F) -> Held<F> {
    Held { inner: Box::pin(inner), longest: Duration::ZERO }
}

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
        let (mut times, mut holds) = (Vec::new(), Vec::new());
        for call in 0..40 {
            let started;
            let hold;
            if n == 0 {
                // A cold get: a write makes every connection drop its own
                // page cache, and the files leave the OS page cache.
                store.set("b", "bump", Bytes::from_static(b"x")).await.unwrap();
                evict(&file);
                evict(&wal);
                let key = &keys[(call * 241) % keys.len()];
                started = Instant::now();
                let (value, longest) = held(store.get("b", key)).await;
                assert!(value.unwrap().is_some());
                hold = longest;
            } else {
                started = Instant::now();
                let (values, longest) = held(store.get_many("b", batch, usize::MAX)).await;
                assert_eq!(values.unwrap().len(), n);
                hold = longest;
            }
            times.push(started.elapsed());
            holds.push(hold);
        }
        times.sort();
        holds.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let what = if n == 0 { "cold get".to_string() } else { format!("get-many of {n}") };
        println!(
            "{what:>17}: median {:>8.1} µs per call; the worker held per call: median {:>8.1} µs, worst {:>8.1} µs",
            us(times[times.len() / 2]),
            us(holds[holds.len() / 2]),
            us(holds[holds.len() - 1])
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
)"
  echo "== $(git -C "$bench_repo" log -1 --format='%h %s' "$commit" | cut -c1-80)"
  "$program"
done
