//! `wasmkv`: runs WebAssembly components that import `wasi:keyvalue` on
//! real, shared, durable storage.

mod cli;
mod config;
mod exit;
mod guest_limits;
mod kv;
mod run;
mod runtime;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMKV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Kv(args) => kv::main(args),
    };
    std::process::exit(code);
}
