//! The tokio runtime every subcommand runs on.

use std::future::Future;

use crate::exit;

/// Runs `task` on a multi-threaded runtime and returns its exit code; a
/// runtime that cannot start is a setup failure.
pub fn block_on(task: impl Future<Output = i32>) -> i32 {
    match tokio::runtime::Builder::new_multi_thread()
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
