//! The tokio runtime every subcommand runs on.

use std::future::Future;

use crate::exit;

/// How long the runtime waits for its workers when wasmkv exits.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `task` on a multi-threaded runtime and returns its exit code; a
/// runtime that cannot start is a setup failure.
///
/// One worker per core the process may use, tokio's default and `wasmtime
/// serve`'s. More workers than cores (two on one core, as this once
/// forced) only make the kernel time-slice them: measured under `taskset
/// -c 0`, two workers doubled the p99 of a reused 0.3 instance's requests
/// (5.6 ms against 2.7–3.4 ms at 16 connections) for no more throughput.
/// A guest busy in wasm still lets the worker go at every 10 ms epoch tick.
pub fn block_on(task: impl Future<Output = i32>) -> i32 {
    match tokio::runtime::Builder::new_multi_thread()
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
