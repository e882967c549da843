//! `wasmkv-bench`: every system side by side in one run, interleaved so
//! machine drift hits all rows alike. See BENCHMARKS.md for a run's results.
//!
//! ```text
//! cargo run --release -p wasmkv-bench -- [--quick] [--json FILE] [--svg FILE]
//! cargo run --release -p wasmkv-bench -- --http [--quick] [--json FILE] [--svg FILE]
//! ```

mod cli_runs;
mod guest;
mod http;
mod native;
mod redis_benchmark;
mod report;
mod spin_style;
mod workload;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use wasmkv_backend::memory::MemoryBackend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};
use wasmkv_backend::{SharedBackend, StoreUrl};
use wasmkv_engine::Engine as KvEngine;
use wasmkv_test_servers::{RedisServer, ServerTls, TestPki};

use crate::cli_runs::{Cli, CliRuns};
use crate::guest::{Guest, Guests};
use crate::workload::{OPS, Row, Sample, Workload, median};

/// Benchmark wasmkv against its backends natively and against the hosts
/// users would pick instead.
#[derive(Parser, Debug)]
struct Args {
    /// A short run (one value size, fewer rounds) that ends in minutes.
    #[arg(long)]
    quick: bool,
    /// Also write every row as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the target chart as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Rounds per measurement (default 3 quick, 5 full); rows report medians.
    #[arg(long)]
    rounds: Option<usize>,
    /// Skip the Redis rows even when redis-server is installed.
    #[arg(long)]
    no_redis: bool,
    /// Only these operations (repeatable), e.g. `--op set --op get-hit`.
    #[arg(long = "op", value_name = "OP")]
    ops: Vec<String>,
    /// Only these systems (repeatable), e.g. `--system wasmkv-draft`: a
    /// profiler then sees one host's calls and nothing else.
    #[arg(long = "system", value_name = "NAME")]
    systems: Vec<String>,
    /// Only the rows on these backends (repeatable), e.g. `--backend redis`:
    /// with `--system`, one host on one store, for a profiler.
    #[arg(long = "backend", value_name = "NAME")]
    backends: Vec<String>,
    /// Only the workloads run by this many instances at once.
    #[arg(long, value_name = "N")]
    at_once: Option<usize>,
    /// Run the HTTP rows instead: `wasmkv serve` and a host wired as
    /// `wasmtime serve -S keyvalue`, serving guest/bench-http (0.2), and
    /// guest/bench-http-p3 (0.3) under `wasmkv serve` and the wasmtime CLI's
    /// `wasmtime serve`, driven by wrk.
    #[arg(long)]
    http: bool,
    /// Whole seconds per HTTP measurement (default 1 quick, 3 full).
    #[arg(long, value_name = "S")]
    http_seconds: Option<u64>,
    /// The wasmtime CLI that the `wasmtime-run` rows run bench-draft under
    /// (`wasmtime run -S keyvalue`), next to `wasmkv run`, and that serves
    /// the HTTP rows' `wasmtime serve` (0.2) and `wasmtime serve 0.3`;
    /// without it on PATH those rows are skipped.
    #[arg(long, value_name = "PATH", default_value = "wasmtime")]
    wasmtime_cli: PathBuf,
    /// Internal: serve COMPONENT as `wasmtime serve -S keyvalue` would (the
    /// HTTP rows' comparison host, run as a process of its own).
    #[arg(long, value_name = "COMPONENT", hide = true)]
    wasmtime_style_host: Option<PathBuf>,
}

/// A system measured on one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Native(&'static str),
    Wasmkv(&'static str),
    WasmkvDraft,
    WasmtimeKeyvalue,
    SpinStyle,
    RedisBenchmark,
    Run(Cli),
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Native(_) => "native",
            System::Wasmkv(_) => "wasmkv",
            System::WasmkvDraft => "wasmkv-draft",
            System::WasmtimeKeyvalue => "wasmtime-wasi-keyvalue",
            System::SpinStyle => "spin-style",
            System::RedisBenchmark => "redis-benchmark",
            System::Run(Cli::Wasmkv) => "wasmkv-run",
            System::Run(Cli::Wasmtime) => "wasmtime-run",
        }
    }

    fn backend(self) -> &'static str {
        match self {
            System::Native(b) | System::Wasmkv(b) => b,
            System::WasmkvDraft | System::WasmtimeKeyvalue | System::Run(_) => "memory",
            System::SpinStyle => "sqlite",
            System::RedisBenchmark => "redis",
        }
    }
}

/// The stores, engines and guests every row needs, opened once.
struct Bench {
    guests: Guests,
    native: Vec<(&'static str, SharedBackend, KvEngine)>,
    spin: SharedBackend,
    cli: Option<CliRuns>,
    redis_port: Option<u16>,
    /// The plain server, and the TLS one (mutual TLS, its own PKI) whose
    /// `redis-tls` rows show what TLS costs.
    _redis: Option<(RedisServer, RedisServer, TestPki)>,
    _dir: tempfile::TempDir,
    quick: bool,
}

impl Bench {
    async fn open(args: &Args) -> anyhow::Result<Self> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = tempfile::tempdir()?;
        let mut native: Vec<(&'static str, SharedBackend)> = vec![
            ("memory", native::shared(MemoryBackend::new())),
            (
                "sqlite",
                native::shared(SqliteBackend::open(
                    dir.path().join("wasmkv.db"),
                    SqliteOptions::default(),
                )?),
            ),
        ];
        let redis = if args.no_redis || which("redis-server").is_none() {
            println!(
                "Redis rows skipped ({})",
                if args.no_redis {
                    "--no-redis"
                } else {
                    "redis-server not installed"
                }
            );
            None
        } else {
            let pki = TestPki::generate();
            let tls = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), true));
            Some((RedisServer::start(), tls, pki))
        };
        if let Some((server, tls, pki)) = &redis {
            let url: StoreUrl = server.url().parse()?;
            native.push(("redis", url.open().await?));
            let url: StoreUrl = format!("{}?{}", tls.tls_url(), pki.mutual_tls_query()).parse()?;
            native.push(("redis-tls", url.open().await?));
        }
        let mut with_engines = Vec::new();
        for (name, backend) in native {
            let engine = KvEngine::builder()
                .store("default", backend.clone())
                .grant("bench", "default")
                .build()
                .await?;
            with_engines.push((name, backend, engine));
        }
        let memory = &with_engines.iter().find(|(n, _, _)| *n == "memory");
        let guests = Guests::build(&repo, &memory.context("no memory store")?.2)?;
        let spin = native::shared(spin_style::SpinStyleSqlite::open(
            &dir.path().join("spin.db"),
        )?);
        let cli = match CliRuns::prepare(&repo, &args.wasmtime_cli, guests.draft_file())? {
            Some((runs, version)) => {
                println!("CLI rows: wasmkv run vs {version} run -S keyvalue");
                Some(runs)
            }
            None => {
                println!(
                    "CLI rows skipped (no {} on PATH; give --wasmtime-cli PATH)",
                    args.wasmtime_cli.display()
                );
                None
            }
        };
        Ok(Self {
            guests,
            native: with_engines,
            spin,
            cli,
            redis_port: redis.as_ref().map(|(server, _, _)| server.port()),
            _redis: redis,
            _dir: dir,
            quick: args.quick,
        })
    }

    fn systems(&self) -> Vec<System> {
        let mut out = Vec::new();
        for (backend, _, _) in &self.native {
            out.push(System::Native(backend));
            out.push(System::Wasmkv(backend));
        }
        out.extend([
            System::WasmkvDraft,
            System::WasmtimeKeyvalue,
            System::SpinStyle,
        ]);
        if self.redis_port.is_some() {
            out.push(System::RedisBenchmark);
        }
        if self.cli.is_some() {
            out.extend([System::Run(Cli::Wasmkv), System::Run(Cli::Wasmtime)]);
        }
        out
    }

    fn store(&self, backend: &str) -> (&SharedBackend, &KvEngine) {
        let (_, b, e) = self
            .native
            .iter()
            .find(|(n, _, _)| *n == backend)
            .expect("opened");
        (b, e)
    }

    async fn measure(&self, system: System, w: Workload, iters: u64) -> anyhow::Result<Sample> {
        match system {
            System::Native(b) => native::run(self.store(b).0.clone(), w, iters).await,
            System::Wasmkv(b) => {
                self.guests
                    .on_wasmkv(Guest::Seed, self.store(b).1, w, iters)
                    .await
            }
            System::WasmkvDraft => {
                self.guests
                    .on_wasmkv(Guest::Draft, self.store("memory").1, w, iters)
                    .await
            }
            System::WasmtimeKeyvalue => self.guests.on_wasmtime(w, iters).await,
            System::SpinStyle => native::run(self.spin.clone(), w, iters).await,
            System::RedisBenchmark => {
                let port = self.redis_port.context("no redis")?;
                let requests = (iters * w.concurrency as u64).max(1000);
                redis_benchmark::run(port, w, requests)?.context("not offered by redis-benchmark")
            }
            System::Run(cli) => {
                let runs = self.cli.as_ref().context("no CLIs")?;
                tokio::task::block_in_place(|| runs.run(cli, w, iters))
            }
        }
    }

    /// Nanoseconds of loop each measurement should take.
    fn budget_ns(&self) -> f64 {
        if self.quick { 80e6 } else { 300e6 }
    }
}

/// `program` itself when it is a path to a file, else the first file of
/// that name on `PATH`.
fn which(program: impl AsRef<Path>) -> Option<PathBuf> {
    let program = program.as_ref();
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

fn plan(quick: bool) -> Vec<Workload> {
    let w = |op, value_bytes, concurrency| Workload {
        op,
        value_bytes,
        concurrency,
    };
    let mut plan: Vec<Workload> = OPS.iter().map(|op| w(op, 100, 1)).collect();
    if !quick {
        for size in [16, 1024, 64 * 1024, 1024 * 1024] {
            plan.push(w("get-hit", size, 1));
            plan.push(w("set", size, 1));
        }
    }
    for c in [16, 64] {
        plan.push(w("set", 100, c));
        plan.push(w("get-hit", 100, c));
    }
    plan
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // As the `wasmkv` binary does, so the SQLite rows measure what it serves.
    // SAFETY: no SQLite connection is open yet in this process.
    unsafe { wasmkv_backend::sqlite::install_nowait_reads() };
    let args = Args::parse();
    if let Some(component) = &args.wasmtime_style_host {
        return http::wasmtime_style_host::serve(component, "127.0.0.1:0", http::seed_data()).await;
    }
    let rounds = args.rounds.unwrap_or(if args.quick { 3 } else { 5 }).max(1);
    print_machine();
    if args.http {
        return http_main(&args, rounds).await;
    }
    let bench = Bench::open(&args).await?;
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let chosen = |w: &Workload| {
        (args.ops.is_empty() || args.ops.iter().any(|o| o == w.op))
            && args.at_once.is_none_or(|n| n == w.concurrency)
    };
    let systems: Vec<System> = bench
        .systems()
        .into_iter()
        .filter(|s| args.systems.is_empty() || args.systems.iter().any(|n| n == s.name()))
        .filter(|s| args.backends.is_empty() || args.backends.iter().any(|b| b == s.backend()))
        .collect();
    for w in plan(args.quick).into_iter().filter(chosen) {
        // Calibrate (also the warm-up), then interleave the rows round by round.
        let mut active = Vec::new();
        for &system in &systems {
            let probe = if w.value_bytes >= 1 << 20 { 2 } else { 8 };
            match bench.measure(system, w, probe).await {
                Ok(sample) => {
                    let total = (bench.budget_ns() / sample.ns_per_op.max(1.0)) as u64;
                    let per_instance = (total / w.concurrency as u64).clamp(5, 50_000);
                    active.push((system, per_instance, Vec::new()));
                }
                Err(e) => skipped.push(format!(
                    "{} {} {}: {e:#}",
                    system.name(),
                    system.backend(),
                    w.op
                )),
            }
        }
        for _ in 0..rounds {
            for (system, iters, samples) in &mut active {
                samples.push(bench.measure(*system, w, *iters).await?);
            }
        }
        for (system, _, samples) in active {
            let ns: Vec<f64> = samples.iter().map(|s| s.ns_per_op).collect();
            let ns_per_op = median(&ns);
            let spread = ns.iter().cloned().fold(f64::MIN, f64::max)
                / ns.iter().cloned().fold(f64::MAX, f64::min);
            rows.push(Row {
                name: system.name().into(),
                backend: system.backend().into(),
                op: w.op.into(),
                value_bytes: w.value_bytes,
                concurrency: w.concurrency,
                ns_per_op,
                ops_per_sec: 1e9 / ns_per_op,
                p50_ns: median(&samples.iter().map(|s| s.p50_ns).collect::<Vec<_>>()),
                p99_ns: median(&samples.iter().map(|s| s.p99_ns).collect::<Vec<_>>()),
                spread,
                server_cpu_ns: None,
                server_rss_kib: None,
            });
        }
        eprintln!(
            "[{:>5.1}s] {} {} B x{} done",
            started.elapsed().as_secs_f64(),
            w.op,
            w.value_bytes,
            w.concurrency
        );
    }
    report::print_tables(&rows);
    let targets = report::targets(&rows, 100);
    report::print_targets(&targets);
    if !skipped.is_empty() {
        println!("\nNot measured (the system does not offer the operation):");
        for s in &skipped {
            println!("  {s}");
        }
    }
    let noisiest = rows.iter().map(|r| r.spread).fold(1.0, f64::max);
    println!(
        "\n{} rows, {rounds} interleaved rounds each; noisiest row's max/min over rounds: {noisiest:.2}x; {:.0} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    write_outputs(&args, &rows, &targets)
}

async fn http_main(args: &Args, rounds: usize) -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seconds = args.http_seconds.unwrap_or(if args.quick { 1 } else { 3 });
    let redis = !args.no_redis && which("redis-server").is_some();
    if !redis {
        println!("Redis rows skipped (--no-redis, or redis-server not installed)");
    }
    let wasmtime = which(&args.wasmtime_cli);
    let started = Instant::now();
    let rows = tokio::task::spawn_blocking(move || {
        http::run(&repo, rounds, seconds, redis, wasmtime.as_deref())
    })
    .await??;
    report::print_tables(&rows);
    let targets = report::http_targets(&rows);
    report::print_targets(&targets);
    println!(
        "\n{} rows, {rounds} interleaved rounds of {seconds} s each (wrk, keep-alive); {:.0} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    write_outputs(args, &rows, &targets)
}

/// Writes the rows as JSON and the targets as SVG where `--json` and
/// `--svg` ask for them.
fn write_outputs(args: &Args, rows: &[Row], targets: &[report::Target]) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(rows)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, report::svg(targets))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cpu}, {cores} cores; wasmkv {}",
        env!("CARGO_PKG_VERSION")
    );
}
