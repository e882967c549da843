//! `wasmkv`: runs WebAssembly components that import `wasi:keyvalue` on
//! real, shared, durable storage.

mod cli;
mod component;
mod config;
mod exit;
mod guest_limits;
mod host;
mod kv;
mod outbound;
mod run;
mod runtime;
mod serve;

use std::io::IsTerminal;

use clap::Parser;

use crate::cli::{Cli, Command};

/// What is logged when `WASMKV_LOG` is unset: warnings, and `serve`'s
/// access log and lifecycle lines. The compiled-code cache only saves time:
/// when two wasmkv processes compile the same component at once, the one
/// that loses the race to store it gets a wasmtime warning although the
/// other's copy is already in place, so cache warnings are not shown.
const DEFAULT_LOG: &str =
    "warn,wasmkv::access=info,wasmkv::serve=info,wasmtime_internal_cache=error";

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMKV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Kv(args) => kv::main(args),
    };
    std::process::exit(code);
}
