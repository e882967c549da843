//! The tokio runtime every subcommand runs on.

use std::future::Future;

use crate::exit;

/// The fewest runtime workers. Guests run on the workers (wasm between
/// epoch ticks, host calls in between): with one worker, as a 1-CPU
/// container or `taskset` would give by default, a busy guest would stall
/// every other connection's I/O.
const MIN_WORKERS: usize = 2;

/// How long the runtime waits for its workers when wasmkv exits.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `task` on a multi-threaded runtime and returns its exit code; a
/// runtime that cannot start is a setup failure.
pub fn block_on(task: impl Future<Output = i32>) -> i32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.max(MIN_WORKERS))
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
