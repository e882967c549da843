//! wasmkv's own exit codes, kept apart from the guest's so scripts can tell
//! "the component failed" from "wasmkv could not run it".

/// wasmkv could not start the component: bad flag value, bad config,
/// missing file, unlinkable component, unreachable store.
pub const SETUP_FAILED: i32 = 125;

/// The component held more live resources than `--max-resources`.
pub const RESOURCE_LIMIT: i32 = 122;

/// The component grew a linear memory past `--max-memory`.
pub const MEMORY_LIMIT: i32 = 123;

/// The component ran past `--timeout` (as GNU `timeout` reports it).
pub const TIMED_OUT: i32 = 124;

/// The component trapped (128 + SIGABRT, as `wasmtime run` reports it).
pub const TRAPPED: i32 = 134;

/// The command's output could not be written (full disk, I/O error);
/// whatever it changed was changed, and the message says so (EX_IOERR).
pub const OUTPUT_FAILED: i32 = 74;

/// The reader closed the pipe before all the output was written: the exit
/// status of a process killed by SIGPIPE, without the signal.
pub const CLOSED_PIPE: i32 = 141;

/// Prints wasmkv's one-line error to stderr.
pub fn report(error: &anyhow::Error) {
    // Redacted whatever the error quotes: a last guard for secrets in
    // input that failed to parse, wherever the message came from.
    let line = wasmkv_backend::redact_secrets(&format!("{error:#}")).replace(['\n', '\r'], " ");
    crate::output::stderr_line(&format!("wasmkv: error: {line}"));
}
