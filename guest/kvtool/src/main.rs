//! One keyvalue operation per run, driven by arguments, so host tests can
//! probe a store from outside: `kvtool OP BUCKET [KEY] [ARGS...]`.
//!
//! Prints the result on stdout; on a keyvalue error prints `error: TRACE`
//! and exits 3; on bad usage exits 2.

use std::io::{Read, Write};
use std::process::ExitCode;

use wasmkv_guest::{Bucket, Error, OutgoingValue};

const USAGE: &str = "usage: kvtool get|set|set-many|get-many|get-many-repeat|hold-values|hold-outgoing|set-loop|incr-until-recovered|delete|exists|keys|incr|cas-incr|write-big|read-big|round-trip-big BUCKET [KEY] [ARGS]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args) {
        Ok(Some(out)) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::from(3)
        }
    }
}

fn num(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// FNV-1a, so a writer and a reader can agree on a value without holding it.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf29ce484222325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
    }
}

fn run(args: &[&str]) -> Result<Option<String>, Error> {
    let out = match *args {
        ["get", bucket, key] => match Bucket::open(bucket)?.get(key)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => "(none)".into(),
        },
        ["set-many", bucket, prefix, count] => {
            // Sets PREFIX0..PREFIX{count-1} in one batch call.
            let Some(count) = num(count) else {
                return Ok(None);
            };
            let items: Vec<(String, String)> = (0..count)
                .map(|i| (format!("{prefix}{i}"), i.to_string()))
                .collect();
            Bucket::open(bucket)?.set_many(&items)?;
            "ok".into()
        }
        ["get-many", bucket, prefix, count] => {
            let Some(count) = num(count) else {
                return Ok(None);
            };
            let keys: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
            let found = Bucket::open(bucket)?.get_many(&keys)?;
            format!("{} found", found.iter().flatten().count())
        }
        ["set", bucket, key, value] => {
            Bucket::open(bucket)?.set(key, value.as_bytes())?;
            "ok".into()
        }
        ["delete", bucket, key] => {
            Bucket::open(bucket)?.delete(key)?;
            "ok".into()
        }
        ["exists", bucket, key] => Bucket::open(bucket)?.exists(key)?.to_string(),
        ["keys", bucket] => {
            let mut keys = Bucket::open(bucket)?.keys()?;
            keys.sort();
            keys.join("\n")
        }
        ["incr", bucket, key, delta] => {
            let Some(delta) = num(delta) else {
                return Ok(None);
            };
            Bucket::open(bucket)?.increment(key, delta)?.to_string()
        }
        ["incr", bucket, key, delta, times] => {
            let (Some(delta), Some(times)) = (num(delta), num(times)) else {
                return Ok(None);
            };
            let b = Bucket::open(bucket)?;
            let mut last = 0;
            for _ in 0..times {
                last = b.increment(key, delta)?;
            }
            last.to_string()
        }
        ["cas-incr", bucket, key, times] => {
            let Some(times) = num(times) else {
                return Ok(None);
            };
            let b = Bucket::open(bucket)?;
            let mut retries = 0u64;
            for _ in 0..times {
                loop {
                    let current = match b.get(key)? {
                        None => {
                            // Absent: create it as 0; a racing creator makes this a no-op add.
                            b.increment(key, 0)?;
                            continue;
                        }
                        Some(v) => String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0),
                    };
                    if b.compare_and_swap(key, current, current + 1)? {
                        break;
                    }
                    retries += 1;
                }
            }
            format!("done retries={retries}")
        }
        ["get-many-repeat", bucket, key, times] => {
            // One get-many naming KEY TIMES times: the host must refuse a
            // result bigger than its limits before reading it.
            let Some(times) = num(times) else {
                return Ok(None);
            };
            let keys = vec![key; times as usize];
            let values = Bucket::open(bucket)?.get_many(&keys)?;
            let bytes: usize = values.iter().flatten().map(Vec::len).sum();
            format!("got {} values, {bytes} bytes", values.len())
        }
        ["hold-values", bucket, key, times] => {
            // Keeps TIMES incoming values of KEY alive at once, unread.
            let Some(times) = num(times) else {
                return Ok(None);
            };
            let b = Bucket::open(bucket)?;
            let mut held = Vec::new();
            for i in 0..times {
                match b.get_value(key) {
                    Ok(v) => held.push(v),
                    Err(e) => return Ok(Some(format!("error after {i} values: {}", e.trace()))),
                }
            }
            format!("held {}", held.len())
        }
        ["hold-outgoing", count, size] => {
            // Writes COUNT outgoing values of SIZE bytes each, all kept alive.
            let (Some(count), Some(size)) = (num(count), num(size)) else {
                return Ok(None);
            };
            let chunk = vec![7u8; 1 << 20];
            let mut held = Vec::new();
            for i in 0..count {
                let value = OutgoingValue::new();
                let mut w = value.writer()?;
                let mut left = size;
                while left > 0 {
                    let len = left.min(chunk.len() as u64) as usize;
                    if let Err(e) = w.write_all(&chunk[..len]) {
                        return Ok(Some(format!("stream error in value {i}: {e}")));
                    }
                    left -= len as u64;
                }
                drop(w);
                held.push(value);
            }
            format!("held {}", held.len())
        }
        ["write-big", bucket, key, size] => {
            let Some(size) = num(size) else {
                return Ok(None);
            };
            let b = Bucket::open(bucket)?;
            let value = OutgoingValue::new();
            let mut w = value.writer()?;
            let mut hash = Fnv::new();
            let mut chunk = vec![0u8; 1 << 20];
            let mut left = size;
            let mut n = 0u64;
            while left > 0 {
                let len = left.min(chunk.len() as u64) as usize;
                for (i, byte) in chunk[..len].iter_mut().enumerate() {
                    *byte = ((n + i as u64).wrapping_mul(31) >> 3) as u8;
                }
                hash.update(&chunk[..len]);
                if let Err(e) = w.write_all(&chunk[..len]) {
                    return Ok(Some(format!("stream error after {n} bytes: {e}")));
                }
                n += len as u64;
                left -= len as u64;
            }
            let _ = w.flush();
            drop(w);
            b.set_value(key, &value)?;
            format!("wrote {size} fnv={:016x}", hash.0)
        }
        ["set-loop", bucket, prefix, times] => {
            // Prints `acked N` after each acknowledged set, for crash tests.
            let Some(times) = num(times) else {
                return Ok(None);
            };
            let b = Bucket::open(bucket)?;
            let mut out = std::io::stdout();
            for i in 0..times {
                b.set(&format!("{prefix}{i}"), i.to_string().as_bytes())?;
                let _ = writeln!(out, "acked {i}");
                let _ = out.flush();
            }
            "done".into()
        }
        ["incr-until-recovered", bucket, key] => {
            // For outage tests: increments every 50 ms, printing `ok N` or
            // `error TRACE` per attempt, and ends at the first success after
            // an error. Gives up after 2000 attempts so it can never hang.
            let b = Bucket::open(bucket)?;
            let mut out = std::io::stdout();
            let mut failed = false;
            for _ in 0..2000 {
                let line = match b.increment(key, 1) {
                    Ok(n) if failed => {
                        let _ = writeln!(out, "ok {n}");
                        return Ok(Some("recovered".into()));
                    }
                    Ok(n) => format!("ok {n}"),
                    Err(e) => {
                        failed = true;
                        format!("error {e}")
                    }
                };
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            "gave up".into()
        }
        ["round-trip-big", bucket, key, size] => {
            // Both halves in one process, for stores that do not outlive it.
            let wrote = run(&["write-big", bucket, key, size])?.unwrap_or_default();
            let read = run(&["read-big", bucket, key])?.unwrap_or_default();
            format!("{wrote}\n{read}")
        }
        ["read-big", bucket, key] => {
            let b = Bucket::open(bucket)?;
            let Some(v) = b.get_value(key)? else {
                return Ok(Some("(none)".into()));
            };
            let size = v.size();
            let mut r = v.reader()?;
            let mut hash = Fnv::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                let n = r.read(&mut buf).map_err(|e| e.to_string()).unwrap_or(0);
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                total += n as u64;
            }
            format!("read {total} size={size} fnv={:016x}", hash.0)
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
