//! Synchronous host functions for engines that never wait.
//!
//! wasmtime runs an async host function by boxing its future and polling it
//! on the instance's fiber; for a store that answers at once (memory) that
//! costs more than the lookup itself. When every store of the engine never
//! waits ([`KvEngine::never_waits`](crate::KvEngine::never_waits)), the
//! single-key and counter interfaces are linked from bindings generated
//! without `async`, whose functions run the same async implementation to
//! completion in one poll.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The output of `call`, which must be ready the first time it is polled.
///
/// Only linked for engines whose stores never wait, so a future that is not
/// ready is a broken store contract: it traps, naming the function, rather
/// than blocking the thread the instance runs on.
pub(crate) fn now<T>(
    function: &'static str,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    match pin!(call).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(waits(function, None)),
    }
}

/// The trap for a linker made for stores that never wait, used with an
/// engine whose store does.
pub(crate) fn waits(function: &str, bucket: Option<&str>) -> wasmtime::Error {
    let bucket = bucket
        .map(|b| format!(" (bucket {b:?})"))
        .unwrap_or_default();
    wasmtime::format_err!(
        "wasmkv: {function}{bucket} was linked for stores that never wait, \
         but this bucket's store does I/O; link with wasmkv_host::add_to_linker, or make \
         the linker's LinkOptions from the engine the instances use"
    )
}
