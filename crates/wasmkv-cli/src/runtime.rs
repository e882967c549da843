//! The tokio runtime every subcommand runs on.

use std::future::Future;

use crate::exit;

/// The fewest runtime workers. Guests run on the workers (wasm between
/// epoch ticks, host calls in between): with one worker, as a 1-CPU
/// container or `taskset` would give by default, a busy guest would stall
/// every other connection's I/O.
const MIN_WORKERS: usize = 2;

/// Runs `task` on a multi-threaded runtime and returns its exit code; a
/// runtime that cannot start is a setup failure.
pub fn block_on(task: impl Future<Output = i32>) -> i32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.max(MIN_WORKERS))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(task),
        Err(e) => {
            exit::report(&anyhow::Error::new(e).context("cannot start the async runtime"));
            exit::SETUP_FAILED
        }
    }
}
