//! The command line, as DESIGN.md's CLI contract gives it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run WebAssembly components that use wasi:keyvalue, on real storage.
#[derive(Parser, Debug)]
#[command(name = "wasmkv", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// wasmkv's subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a component (a `wasi:cli/run` command, WASI 0.2 or 0.3) with
    /// keyvalue storage.
    Run(RunArgs),
    /// Serve an HTTP handler component (`wasi:http/incoming-handler@0.2`, a
    /// fresh instance per request, or `wasi:http/handler@0.3`, instances
    /// reused), every request on the same stores.
    Serve(ServeArgs),
    /// Look at and move a store's data without writing a component.
    Kv(KvArgs),
}

/// Where stores, grants and limits come from; shared by `run` and `kv`.
#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Define a store: NAME=URL, URL one of memory:, sqlite:PATH,
    /// redis://HOST:PORT[/DB], redis-cluster://HOST:PORT[,HOST:PORT...],
    /// redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/DB], and
    /// rediss://, rediss-cluster://, rediss-sentinel:// for TLS (options:
    /// tls_ca_file, tls_cert_file, tls_key_file, tls_server_name,
    /// tls_system_roots, tls_insecure; and wait_replicas=N).
    /// Store "default" is sqlite:.wasmkv/default.db unless given.
    #[arg(long = "store", value_name = "NAME=URL", global = true)]
    pub stores: Vec<String>,

    /// Grant bucket NAME, stored in STORE (default "default"); NAME "*"
    /// grants every name. Without any grant, only bucket "default" is granted.
    #[arg(long = "bucket", value_name = "NAME[=STORE]", global = true)]
    pub buckets: Vec<String>,

    /// Give buckets opened through an import labelled LABEL (a component's
    /// `import LABEL: wasmcloud:keyvalue/store@0.2.0`) store STORE; grants
    /// still decide which names may be opened. An unmapped label uses the
    /// store its bucket's grant names, as an unlabelled import does.
    #[arg(long = "label", value_name = "LABEL=STORE", global = true)]
    pub labels: Vec<String>,

    /// Read stores, grants and limits from this file
    /// (default: ./wasmkv.toml when present).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Most bytes one get-many or key listing may return, e.g. 128MiB
    /// (overrides max_result_bytes in wasmkv.toml).
    #[arg(long, value_name = "SIZE")]
    pub max_result_bytes: Option<bytesize::ByteSize>,

    /// Most bytes the host holds for one instance (value bodies, snapshots,
    /// batch results), e.g. 256MiB (overrides max_instance_bytes).
    #[arg(long, value_name = "SIZE")]
    pub max_instance_bytes: Option<bytesize::ByteSize>,
}

/// What every instance gets, in `run` and in each request of `serve`.
#[derive(Args, Debug, Clone)]
pub struct InstanceArgs {
    /// Give the component a host directory, at GUEST (default: the same path).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,

    /// Set an environment variable for the component; NAME alone passes the
    /// host's value through.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    pub envs: Vec<String>,

    /// Cap each of the component's linear memories, e.g. 64MiB; growing past
    /// it stops the component (run: exit 123; serve: that request gets 500).
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<bytesize::ByteSize>,

    /// Most live resources (buckets, values, streams, errors, WASI handles)
    /// the component may hold at once; one more stops it (run: exit 122;
    /// serve: that request gets 500).
    #[arg(long, value_name = "N", default_value_t = 50_000, value_parser = at_least_one)]
    pub max_resources: usize,

    /// Let the component send outgoing HTTP requests (wasi:http 0.2.x
    /// `outgoing-handler`, 0.3.x `client`) to HOST (any port) or HOST:PORT;
    /// `*` allows any. Repeatable. Without it every outgoing request is
    /// denied.
    #[arg(long = "allow-outbound", value_name = "HOST[:PORT]")]
    pub allow_outbound: Vec<String>,
}

impl InstanceArgs {
    /// `--max-memory` in bytes, as wasmtime's limiter counts them.
    pub fn max_memory_bytes(&self) -> Option<usize> {
        self.max_memory
            .map(|size| usize::try_from(size.as_u64()).unwrap_or(usize::MAX))
    }
}

/// `wasmkv run`'s options.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub instance: InstanceArgs,

    /// Stop the component after this much wall-clock time, e.g. 30s or 500ms
    /// (exit 124), whether it is computing or waiting on the host.
    #[arg(long, value_name = "DURATION", value_parser = nonzero_duration)]
    pub timeout: Option<humantime::Duration>,

    /// The component to run (.wasm).
    #[arg(value_name = "COMPONENT")]
    pub component: PathBuf,

    /// Arguments passed to the component.
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// `wasmkv serve`'s options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub instance: InstanceArgs,

    /// Listen here; port 0 picks a free port (the address is printed).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080", value_parser = host_and_port)]
    pub addr: String,

    /// Serve Prometheus metrics at http://HOST:PORT/metrics, a listener of
    /// their own (never the application's port); off unless given here or
    /// as `[metrics] listen` in wasmkv.toml. Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_and_port)]
    pub metrics: Option<String>,

    /// Answer 504 when a request has not been answered after this long,
    /// e.g. 30s or 500ms, and stop its instance, busy or waiting.
    #[arg(long, value_name = "DURATION", value_parser = nonzero_duration)]
    pub timeout: Option<humantime::Duration>,

    /// Most requests handled at once; more wait in a queue.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrency: u32,

    /// Most requests waiting for a slot; one more gets 503 at once. A
    /// waiting request also gets 503 when --timeout passes before it starts.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_queued: usize,

    /// On SIGINT or SIGTERM, how long in-flight requests may take to finish
    /// before wasmkv exits anyway.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub shutdown_timeout: humantime::Duration,

    /// WASI 0.3 handlers: most requests one instance handles before it is
    /// dropped (default 128). WASI 0.2 handlers always get a fresh instance.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub max_instance_reuse_count: Option<usize>,

    /// WASI 0.3 handlers: most requests one instance handles at once
    /// (default 16).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub max_instance_concurrent_reuse_count: Option<usize>,

    /// WASI 0.3 handlers: how long an instance with nothing to do is kept
    /// for the next request.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub idle_instance_timeout: humantime::Duration,

    /// Most open connections; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = at_least_one)]
    pub max_concurrent_connections: usize,

    /// Close a connection whose request headers are not all in this long
    /// after its first byte.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = nonzero_duration)]
    pub header_read_timeout: humantime::Duration,

    /// Close a connection that sends nothing this long after it opened or
    /// after its last response (keep-alive).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = nonzero_duration)]
    pub idle_timeout: humantime::Duration,

    /// The HTTP handler component to serve (.wasm).
    #[arg(value_name = "COMPONENT")]
    pub component: PathBuf,
}

/// `wasmkv kv`'s options: the stores, then one admin command.
#[derive(Args, Debug)]
pub struct KvArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,

    /// The admin command.
    #[command(subcommand)]
    pub command: KvCommand,
}

/// The admin commands. Any bucket can be named: one with a grant lives in
/// its granted store, any other where `*` points, else in `default`.
#[derive(Subcommand, Debug)]
pub enum KvCommand {
    /// Print the bucket's keys, sorted, one per line.
    List {
        /// The bucket.
        bucket: String,
        /// Only keys starting with this.
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
    },
    /// Write a value's raw bytes to stdout (exit 1 when the key is absent).
    Get {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Store a value given inline, from a file (--file) or from stdin (-).
    Set {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The value; `-` reads it from stdin. A value may itself start
        /// with `-` (`kv set b k -5`).
        #[arg(
            required_unless_present = "file",
            conflicts_with = "file",
            allow_hyphen_values = true
        )]
        value: Option<String>,
        /// Read the value from this file.
        #[arg(long, value_name = "F")]
        file: Option<PathBuf>,
        /// Expire the entry this long from now, e.g. 30s, 10m, 1h (without
        /// it, any earlier expiry is cleared).
        #[arg(long, value_name = "DURATION", value_parser = nonzero_duration)]
        ttl: Option<humantime::Duration>,
    },
    /// Print the time an entry has left before it expires, in whole
    /// seconds and humanly (`none` when it has no expiry; exit 1 when the
    /// key is absent or already expired).
    Ttl {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Remove a key.
    Delete {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Add DELTA (default 1, may be negative) to a counter; prints the result.
    Incr {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The amount to add.
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        delta: i64,
    },
    /// Write every key and value as JSON Lines (`{"key": ..., "value": BASE64}`).
    Export {
        /// The bucket.
        bucket: String,
        /// Write here instead of stdout.
        #[arg(long, value_name = "F")]
        out: Option<PathBuf>,
    },
    /// Read JSON Lines as `export` writes them and store every pair.
    Import {
        /// The bucket.
        bucket: String,
        /// Read from here instead of stdin.
        #[arg(long = "in", value_name = "F")]
        input: Option<PathBuf>,
    },
}

/// A count that must be at least 1: 0 would stop every component at once.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A listening address with its host: a port alone (`8080`) is the
/// commonest slip, and the socket layer would only say "invalid socket
/// address".
fn host_and_port(text: &str) -> Result<String, String> {
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(text.to_string())
        }
        _ => Err(format!(
            "expected HOST:PORT, e.g. 127.0.0.1:{port} (0.0.0.0:{port} for every interface)",
            port = text
                .rsplit(':')
                .next()
                .filter(|p| p.parse::<u16>().is_ok())
                .unwrap_or("8080")
        )),
    }
}

/// A duration above zero: a zero timeout would stop every component before
/// it starts.
fn nonzero_duration(text: &str) -> Result<humantime::Duration, String> {
    let duration: humantime::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if duration.is_zero() {
        return Err("must be more than 0, e.g. 30s".into());
    }
    Ok(duration)
}
