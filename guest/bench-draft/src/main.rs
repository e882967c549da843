//! `bench-draft OP BUCKET VALUE_BYTES ITERS INSTANCE`: the same loop as
//! bench-seed, on `wasi:keyvalue@0.2.0-draft`, so one component runs under
//! wasmkv and under wasmtime-wasi-keyvalue. Prints `ns=TOTAL p50=NS p99=NS`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        generate_all,
    });
}

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use bindings::wasi::keyvalue::store::Error;
use bindings::wasi::keyvalue::{atomics, batch, store};

const KEYSPACE: u64 = 1000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, bucket, size, iters, instance] = &args[..] else {
        eprintln!("usage: bench-draft OP BUCKET VALUE_BYTES ITERS INSTANCE");
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
            println!("error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

fn run(op: &str, bucket: &str, size: usize, iters: u64, id: &str) -> Result<Option<String>, Error> {
    let b = store::open(bucket)?;
    let value = vec![0x5a; size];
    let key = |n: u64| format!("{id}-k{}", n % KEYSPACE);
    let keys = iters.min(KEYSPACE);
    let names: Vec<String> = (0..100).map(key).collect();
    let pairs: Vec<(String, Vec<u8>)> = names.iter().map(|k| (k.clone(), value.clone())).collect();
    if matches!(op, "get-hit" | "exists" | "delete" | "get-many") {
        for n in 0..keys.max(100) {
            b.set(&key(n), &value)?;
        }
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
                black_box(atomics::increment(&b, &ctr, 1)?);
            }
            "get-many" => {
                black_box(batch::get_many(&b, &names)?);
            }
            "set-many" => batch::set_many(&b, &pairs)?,
            _ => return Ok(None),
        }
        times.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed().as_nanos();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok(Some(format!("ns={total} p50={} p99={}", at(0.5), at(0.99))))
}
