//! `bench-seed OP BUCKET VALUE_BYTES ITERS INSTANCE`: runs ITERS operations
//! of one kind through the seed world and prints `ns=TOTAL p50=NS p99=NS`,
//! timing each operation with the monotonic clock. Setup (keys a `get`
//! needs) happens before the timed loop.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use wasmkv_guest::{Bucket, Error};

/// Distinct keys per instance; loops cycle through them.
const KEYSPACE: u64 = 1000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, bucket, size, iters, instance] = &args[..] else {
        eprintln!("usage: bench-seed OP BUCKET VALUE_BYTES ITERS INSTANCE");
        return ExitCode::from(2);
    };
    let (Ok(size), Ok(iters)) = (size.parse::<usize>(), iters.parse::<u64>()) else {
        return ExitCode::from(2);
    };
    match run(op, bucket, size, iters, instance) {
        Ok(Some(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("unknown op {op}");
            ExitCode::from(2)
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(op: &str, bucket: &str, size: usize, iters: u64, id: &str) -> Result<Option<String>, Error> {
    let b = Bucket::open(bucket)?;
    let value = vec![0x5a; size];
    let key = |n: u64| format!("{id}-k{}", n % KEYSPACE);
    let keys = iters.min(KEYSPACE);
    let batch: Vec<String> = (0..100).map(key).collect();
    let pairs: Vec<(String, Vec<u8>)> = batch.iter().map(|k| (k.clone(), value.clone())).collect();
    // Untimed setup.
    match op {
        "get-hit" | "exists" | "delete" | "get-many" => {
            for n in 0..keys.max(100) {
                b.set(&key(n), &value)?;
            }
        }
        "cas" => b.set(&format!("{id}-ctr"), b"0")?,
        _ => {}
    }
    let ctr = format!("{id}-ctr");
    let mut times = Vec::with_capacity(iters as usize);
    let start = Instant::now();
    for n in 0..iters {
        let t = Instant::now();
        match op {
            "get-hit" => {
                black_box(b.get(&key(n))?);
            }
            "get-miss" => {
                black_box(b.get(&format!("{id}-missing-{n}"))?);
            }
            "set" => b.set(&key(n), &value)?,
            "exists" => {
                black_box(b.exists(&key(n))?);
            }
            "delete" => b.delete(&key(n))?,
            "increment" => {
                black_box(b.increment(&ctr, 1)?);
            }
            "cas" => {
                black_box(b.compare_and_swap(&ctr, n, n + 1)?);
            }
            "get-many" => {
                black_box(b.get_many(&batch)?);
            }
            "set-many" => b.set_many(&pairs)?,
            _ => return Ok(None),
        }
        times.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed().as_nanos();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok(Some(format!("ns={total} p50={} p99={}", at(0.5), at(0.99))))
}
