//! The same loops as the guest components, called on a backend directly from
//! Rust: the floor the wasm rows are compared with.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use bench_loop::{KEYSPACE, Stamper};
use wasmkv_backend::{Backend, Bytes, CounterRange, SharedBackend, counter};

use crate::workload::{BATCH, Sample, Workload, median, percentile};

const NAMESPACE: &str = "bench";

/// Runs `iters` operations in each of `w.concurrency` tasks at once.
pub async fn run(backend: SharedBackend, w: Workload, iters: u64) -> anyhow::Result<Sample> {
    let tasks: Vec<_> = (0..w.concurrency)
        .map(|i| {
            let backend = backend.clone();
            tokio::spawn(async move { one_loop(&*backend, w, iters, &format!("n{i}")).await })
        })
        .collect();
    let mut loops = Vec::new();
    for task in tasks {
        loops.push(task.await.context("native task panicked")??);
    }
    Ok(combine(&loops, iters * w.concurrency as u64))
}

/// Per-instance results (loop ns, p50, p99) folded into one sample: the
/// slowest loop's time over all operations, and the median percentiles.
pub fn combine(loops: &[(u128, f64, f64)], total_ops: u64) -> Sample {
    let wall = loops.iter().map(|l| l.0).max().unwrap_or(0) as f64;
    let p50: Vec<f64> = loops.iter().map(|l| l.1).collect();
    let p99: Vec<f64> = loops.iter().map(|l| l.2).collect();
    Sample {
        ns_per_op: wall / total_ops.max(1) as f64,
        p50_ns: median(&p50),
        p99_ns: median(&p99),
    }
}

async fn one_loop(
    kv: &dyn Backend,
    w: Workload,
    iters: u64,
    id: &str,
) -> anyhow::Result<(u128, f64, f64)> {
    let value = Bytes::from(vec![0x5a; w.value_bytes]);
    let key = |n: u64| format!("{id}-k{}", n % KEYSPACE);
    let doomed_key = |n: u64| format!("{id}-d{n}");
    let names: Vec<String> = (0..BATCH as u64).map(key).collect();
    let ctr = format!("{id}-ctr");
    match w.op {
        "get-hit" | "exists" | "get-many" => {
            for n in 0..iters.min(KEYSPACE).max(BATCH as u64) {
                kv.set(NAMESPACE, &key(n), value.clone()).await?;
            }
        }
        "delete" => {
            for n in 0..iters {
                kv.set(NAMESPACE, &doomed_key(n), value.clone()).await?;
            }
        }
        "cas" => kv.set(NAMESPACE, &ctr, Bytes::from_static(b"0")).await?,
        _ => {}
    }
    let stamper = Stamper::new();
    // A new value per write, as the guests make: see `Stamper`.
    let fresh = |n: u64| {
        let mut bytes = value.to_vec();
        stamper.stamp(&mut bytes, n);
        Bytes::from(bytes)
    };
    let mut times = Vec::with_capacity(iters as usize);
    let start = Instant::now();
    for n in 0..iters {
        let t = Instant::now();
        match w.op {
            "get-hit" => drop(kv.get(NAMESPACE, &key(n)).await?),
            "get-miss" => drop(kv.get(NAMESPACE, &format!("{id}-missing-{n}")).await?),
            "set" => kv.set(NAMESPACE, &key(n), fresh(n)).await?,
            "exists" => drop(kv.exists(NAMESPACE, &key(n)).await?),
            "delete" => kv.delete(NAMESPACE, &doomed_key(n)).await?,
            "increment" => drop(kv.increment(NAMESPACE, &ctr, 1, CounterRange::U64).await?),
            "cas" => {
                let old = counter::encode(n.into());
                let new = Bytes::from(counter::encode((n + 1).into()));
                kv.compare_and_swap(NAMESPACE, &ctr, Some(old.as_bytes()), new)
                    .await?;
            }
            "get-many" => drop(kv.get_many(NAMESPACE, &names, usize::MAX).await?),
            "set-many" => {
                let pairs = names.iter().map(|k| (k.clone(), fresh(n))).collect();
                kv.set_many(NAMESPACE, pairs).await?
            }
            other => bail!("unknown op {other}"),
        }
        times.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed().as_nanos();
    times.sort_unstable();
    Ok((total, percentile(&times, 0.5), percentile(&times, 0.99)))
}

/// A backend behind an `Arc`, as every row wants it.
pub fn shared(backend: impl Backend) -> SharedBackend {
    Arc::new(backend)
}
