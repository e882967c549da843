//! `wasmkv`: runs WebAssembly components that import `wasi:keyvalue` on
//! real, shared, durable storage.

mod cli;
mod component;
mod config;
mod exit;
mod grant_hint;
mod guest_limits;
mod host;
mod kv;
mod linking;
mod metrics;
mod observer;
mod outbound;
mod output;
mod run;
mod runtime;
mod serve;
mod traces;

use std::io::IsTerminal;

use clap::Parser;

use crate::cli::{Cli, Command};

/// What is logged when `WASMKV_LOG` is unset: warnings, and `serve`'s
/// access log and lifecycle lines. The compiled-code cache only saves time:
/// when two wasmkv processes compile the same component at once, the one
/// that loses the race to store it gets a wasmtime warning although the
/// other's copy is already in place, so cache warnings are not shown.
const DEFAULT_LOG: &str =
    "warn,wasmkv::access=info,wasmkv::serve=info,wasmtime_internal_cache=error,redis=error";

/// What `WASMKV_LOG` means. A bare level (`WASMKV_LOG=debug`) is for
/// wasmkv's own lines: wasmtime and Cranelift stay at warnings (their debug
/// output would bury wasmkv's), and the Redis client's recovery warnings
/// stay hidden, as by default: wasmkv reports what they led to itself.
/// Anything else is a full `tracing` filter, e.g. `wasmkv=debug,wasmtime=debug`.
fn log_filter(value: Option<&str>) -> tracing_subscriber::EnvFilter {
    let directives = match value {
        None => DEFAULT_LOG.to_string(),
        Some(level @ ("trace" | "debug" | "info" | "warn" | "error" | "off")) => {
            let others = if matches!(level, "error" | "off") {
                level
            } else {
                "warn"
            };
            format!(
                "{others},redis=error,wasmkv={level},wasmkv_backend={level},wasmkv_engine={level},wasmkv_host={level}"
            )
        }
        Some(filter) => filter.to_string(),
    };
    tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG))
}

/// Help and version go to stdout with exit 0. Any other command-line
/// mistake is wasmkv's one error line with exit 125, like every other
/// failure before the component runs, instead of clap's usage block and 2.
fn usage_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let asked = match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Some(0),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Some(exit::SETUP_FAILED),
        _ => None,
    };
    if let Some(code) = asked {
        let _ = e.print();
        return code;
    }
    let rendered = e.render().to_string();
    // The message is the first paragraph (a list of missing arguments
    // follows on indented lines); usage and help hints come after.
    let first = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let first = first.trim_start_matches("error: ");
    // clap's "to pass '--x' as a value, use '-- --x'" is not what a mistyped
    // or misplaced option needs; its other tips (a similar name) are.
    let tip = rendered
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("tip: "))
        .filter(|tip| !tip.starts_with("to pass "))
        .map(|tip| format!("; {tip}"))
        .unwrap_or_default();
    // The usage line names the (sub)command the mistake was made in.
    let command = rendered
        .lines()
        .find_map(|line| line.trim().strip_prefix("Usage: "))
        .map(|usage| {
            usage
                .split_whitespace()
                .take_while(|word| !word.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|command| !command.is_empty())
        .unwrap_or_else(|| "wasmkv".to_string());
    exit::report(&anyhow::anyhow!("{first}{tip} (see `{command} --help`)"));
    exit::SETUP_FAILED
}

fn main() {
    // The binary owns its process, so it takes the process-wide opt-in the
    // library leaves to embedders: SQLite reads on a runtime worker never
    // wait for the disk. First, before any thread could open a connection.
    // SAFETY: no SQLite connection exists yet, and no other thread runs.
    unsafe { wasmkv_backend::sqlite::install_nowait_reads() };
    // Log lines are written by a thread of their own, so a request never
    // waits on a write to stderr (the access log writes one per request).
    // Nothing is dropped: a full buffer makes the logger wait instead. The
    // thread flushes whenever its queue is empty, so under load many lines
    // share one write, and an idle server's lines appear at once.
    let (writer, flush_on_drop) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(output::LogSink::stderr());
    output::set_log_writer(writer.clone());
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("WASMKV_LOG").ok().as_deref()))
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = usage_error(&e);
            drop(flush_on_drop);
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Kv(args) => kv::main(args),
    };
    // `exit` runs no destructors: write out the last log lines first.
    drop(flush_on_drop);
    std::process::exit(code);
}
