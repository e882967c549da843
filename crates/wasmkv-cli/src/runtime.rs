//! The tokio runtime every subcommand runs on.

use std::future::Future;

use crate::exit;

/// How long the runtime waits for its workers when wasmkv exits.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How many runtime workers a subcommand gets.
#[derive(Debug, Clone, Copy)]
pub enum Workers {
    /// One per usable core, but at least two. Guests run on the workers
    /// (wasm between epoch ticks, host calls in between): with one worker,
    /// as a 1-CPU container or `taskset` gives, a 0.2 server that
    /// instantiates per request served 10–20% fewer requests (docs/bench/history.md,
    /// "WASI 0.3").
    AtLeastTwo,
    /// One per usable core, tokio's and `wasmtime serve`'s default. A server
    /// of reused 0.3 instances gets this: two workers on one core only make
    /// the kernel time-slice them, which doubled such a server's p99 for no
    /// more throughput.
    PerCore,
}

impl Workers {
    fn count(self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self {
            Workers::AtLeastTwo => cores.max(2),
            Workers::PerCore => cores,
        }
    }
}

/// Runs `task` on a multi-threaded runtime with `workers` and returns its
/// exit code; a runtime that cannot start is a setup failure.
pub fn block_on(workers: Workers, task: impl Future<Output = i32>) -> i32 {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.count())
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(task);
            // Tasks still running (a request abandoned at shutdown) are
            // dropped; a worker that does not come back in time is left
            // behind rather than keeping the process alive.
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
            code
        }
        Err(e) => {
            exit::report(&anyhow::Error::new(e).context("cannot start the async runtime"));
            exit::SETUP_FAILED
        }
    }
}
