//! wasmkv's command-line integration tests, one binary: the real `wasmkv`
//! binary on real guest components (built once for the whole run), real
//! SQLite files, real redis-server processes and real HTTP clients.
//! `cargo test -p wasmkv-cli --test cli MODULE::` runs one area.

mod common;

mod admin;
mod async_calls;
mod bad_input;
mod conformance;
mod crash;
mod guest_limits;
mod host_memory;
mod immediate_linking;
mod large_values;
mod metrics;
mod processes;
mod redis;
mod run_p3;
mod serve;
mod serve_p3;
mod shared_sqlite;
mod traces;
mod versions;
mod wasmcloud;
mod wasmtime_compat;
