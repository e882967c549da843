//! What the bench guests share: `NAME OP BUCKET VALUE_BYTES ITERS INSTANCE`
//! on the command line, a loop timing each operation with the monotonic
//! clock, and one output line `ns=TOTAL p50=NS p99=NS` for wasmkv-bench.
//! wasmkv-bench's native loops use the same key space and [`Stamper`].

use std::fmt::Debug;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Distinct keys per instance; loops cycle through them.
pub const KEYSPACE: u64 = 1000;

/// Keys per batch call.
pub const BATCH: u64 = 100;

/// One benchmark request.
pub struct Request {
    /// The operation, e.g. `get-hit`.
    pub op: String,
    /// The bucket to open.
    pub bucket: String,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Operations to time.
    pub iters: u64,
    /// Prefix keeping concurrent instances' keys apart.
    pub instance: String,
}

impl Request {
    /// Reads the command line; `None` (after printing usage) when malformed.
    pub fn from_args(name: &str) -> Option<Request> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let parsed = match &args[..] {
            [op, bucket, size, iters, instance] => Some(Request {
                op: op.clone(),
                bucket: bucket.clone(),
                value_bytes: size.parse().ok()?,
                iters: iters.parse().ok()?,
                instance: instance.clone(),
            }),
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("usage: {name} OP BUCKET VALUE_BYTES ITERS INSTANCE");
        }
        parsed
    }

    /// The key for iteration `n` of this instance.
    pub fn key(&self, n: u64) -> String {
        format!("{}-k{}", self.instance, n % KEYSPACE)
    }

    /// The key iteration `n` of a `delete` loop removes: one per iteration,
    /// so every timed delete removes a key that is there.
    pub fn doomed_key(&self, n: u64) -> String {
        format!("{}-d{n}", self.instance)
    }

    /// Whether the timed loop reads keys that setup must write first.
    pub fn needs_keys(&self) -> bool {
        matches!(self.op.as_str(), "get-hit" | "exists" | "get-many")
    }

    /// How many keys setup writes.
    pub fn setup_keys(&self) -> u64 {
        self.iters.clamp(BATCH, KEYSPACE)
    }
}

/// Makes every write store bytes the key did not hold before.
///
/// SQLite does not rewrite a page when an update leaves its bytes as they
/// were, so a loop re-setting the same value would time commits that write
/// nothing. A stamp unique to this run and iteration goes in each value's
/// first bytes.
pub struct Stamper {
    nonce: u64,
}

impl Stamper {
    /// A stamper whose stamps differ from any earlier run's.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self { nonce: nanos }
    }

    /// Stamps `value` for iteration `n`.
    pub fn stamp(&self, value: &mut [u8], n: u64) {
        let stamp = self.nonce.wrapping_add(n).to_le_bytes();
        let len = value.len().min(stamp.len());
        value[..len].copy_from_slice(&stamp[..len]);
    }
}

impl Default for Stamper {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `op` for iterations `0..iters`, timing each. `op` returns `Ok(false)`
/// for an operation it does not know.
pub fn timed<E>(
    iters: u64,
    mut op: impl FnMut(u64) -> Result<bool, E>,
) -> Result<Option<String>, E> {
    let mut times = Vec::with_capacity(iters as usize);
    let start = Instant::now();
    for n in 0..iters {
        let t = Instant::now();
        if !op(n)? {
            return Ok(None);
        }
        times.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed().as_nanos();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1))];
    Ok(Some(format!("ns={total} p50={} p99={}", at(0.5), at(0.99))))
}

/// Prints the result line (or the error) and turns it into the exit code.
pub fn finish<E: Debug>(op: &str, result: Result<Option<String>, E>) -> ExitCode {
    match result {
        Ok(Some(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("not offered: {op}");
            ExitCode::from(2)
        }
        Err(e) => {
            println!("error: {e:?}");
            ExitCode::FAILURE
        }
    }
}
