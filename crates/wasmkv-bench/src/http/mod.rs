//! The HTTP rows: `wasmkv serve` (the real binary, on memory, SQLite and
//! Redis) beside a host wired as `wasmtime serve -S keyvalue` wires it and
//! (when a wasmtime CLI is given) the real `wasmtime serve`, all serving
//! the same `guest/bench-http` component (WASI 0.2); and the same
//! routes as a WASI 0.3 handler (`guest/bench-http-p3`) under `wasmkv
//! serve` and the real `wasmtime serve` (when a wasmtime CLI is given),
//! with instance reuse. Driven by `wrk` at 1, 16 and 64 connections,
//! interleaved round by round.

mod load;
mod otlp_sink;
pub mod wasmtime_style_host;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use wasmkv_test_servers::RedisServer;

use crate::workload::{Row, median};

/// The value `/get` reads: 100 bytes, as the store rows use.
pub const VALUE_BYTES: usize = 100;
const CONNECTIONS: [usize; 3] = [1, 16, 64];
/// The core the servers run on; `wrk` runs on [`LOAD_CORE`].
const SERVER_CORE: usize = 0;
/// The core `wrk` runs on.
pub const LOAD_CORE: usize = 1;

/// One server under test; killed when dropped.
struct Served {
    name: &'static str,
    backend: &'static str,
    addr: String,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `child`'s `stream` until a line containing `marker`, returns what
/// follows it, and keeps draining the pipe so the server never blocks on it.
fn address_from(pipe: impl Read + Send + 'static, marker: &'static str) -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(marker).nth(1) {
                let _ = tx.send(rest.trim().trim_end_matches('/').to_string());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .context("the server did not print its address")
}

/// On a machine with two or more cores, servers run on core 0 and `wrk` on
/// core 1 (`taskset`), so the load generator and the server under test do
/// not take turns on the same core: the rates then repeat within a few
/// percent instead of swinging 2x between rounds.
pub(crate) fn pinned(core: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 && Command::new("taskset").arg("-V").output().is_ok() {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(core.to_string()).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// The `wasmkv` binary and the bench-http components (release).
struct Built {
    wasmkv: PathBuf,
    p2: PathBuf,
    p3: PathBuf,
    p3_async: PathBuf,
}

fn build(repo: &Path) -> anyhow::Result<Built> {
    let wasmkv = crate::cli_runs::build_wasmkv(repo)?;
    let guests =
        crate::guest::build_packages(repo, &["bench-http", "bench-http-p3", "bench-http-async"])?;
    Ok(Built {
        wasmkv,
        p2: guests.join("bench_http.wasm"),
        p3: guests.join("bench_http_p3.wasm"),
        p3_async: guests.join("bench_http_async.wasm"),
    })
}

/// The two ways `wasmkv serve` is measured: as started (access log on) and
/// with `WASMKV_LOG=warn`, which shows what the access log costs.
const WASMKV: &str = "wasmkv serve";
const WASMKV_QUIET: &str = "wasmkv serve, log off";
/// The 0.3 handler under `wasmkv serve`, and under the wasmtime CLI.
pub const WASMKV_P3: &str = "wasmkv serve 0.3";
/// The same routes on `wasmcloud:keyvalue@0.2.0` (async calls), under
/// `wasmkv serve`: beside [`WASMKV_P3`] on Redis, what async calls buy.
pub const WASMKV_P3_ASYNC: &str = "wasmkv serve 0.3, async kv";
/// The 0.2 handler with `--metrics` on, beside [`WASMKV`]: what metrics cost.
pub const WASMKV_METRICS: &str = "wasmkv serve, metrics";
/// The 0.3 handler with `--metrics` on, beside [`WASMKV_P3`].
pub const WASMKV_P3_METRICS: &str = "wasmkv serve 0.3, metrics";
/// The 0.2 handler with metrics and OTLP traces on (spans sent to a sink).
pub const WASMKV_TRACED: &str = "wasmkv serve, metrics+traces";
/// The 0.3 handler with metrics and OTLP traces on.
pub const WASMKV_P3_TRACED: &str = "wasmkv serve 0.3, metrics+traces";
/// The 0.3 handler under the real `wasmtime serve -S keyvalue`.
pub const WASMTIME_P3: &str = "wasmtime serve 0.3";
/// The 0.2 handler under the real `wasmtime serve -S keyvalue`: what the
/// wasmtime-style host stands in for when no wasmtime CLI is given.
pub const WASMTIME_P2: &str = "wasmtime serve";

/// The OTLP sink the traced rows send to, started with the first of them.
static OTLP_SINK: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn start_wasmkv(
    wasmkv: &Path,
    component: &Path,
    name: &'static str,
    (backend, url): (&'static str, &str),
    dir: &Path,
) -> anyhow::Result<Served> {
    let mut command = pinned(SERVER_CORE, wasmkv);
    if name == WASMKV_QUIET {
        command.env("WASMKV_LOG", "warn");
    }
    command.args(["serve", "--addr", "127.0.0.1:0"]);
    let traced = [WASMKV_TRACED, WASMKV_P3_TRACED].contains(&name);
    if traced || [WASMKV_METRICS, WASMKV_P3_METRICS].contains(&name) {
        command.args(["--metrics", "127.0.0.1:0"]);
    }
    if traced {
        let sink = OTLP_SINK.get_or_init(|| otlp_sink::start().unwrap_or_default());
        if sink.is_empty() {
            bail!("cannot start the OTLP sink for {name}");
        }
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{sink}"));
    }
    let mut child = command
        .args(["--bucket", "", "--store"])
        .arg(format!("default={url}"))
        .arg(component)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start wasmkv serve")?;
    let addr = address_from(child.stderr.take().unwrap(), "serving HTTP on http://")?;
    let served = Served {
        name,
        backend,
        addr,
        child,
    };
    let (status, body) = http_get(&served.addr, "/seed")?;
    if status != 200 {
        bail!("seeding {backend} failed: {status} {body}");
    }
    Ok(served)
}

/// `wasmtime serve -S cli -S keyvalue` on `component` (shown as `name`),
/// its in-memory store given the value `/get` reads.
fn start_wasmtime_cli(
    wasmtime: &Path,
    component: &Path,
    name: &'static str,
) -> anyhow::Result<Served> {
    let seed = format!(
        "keyvalue-in-memory-data=bench-value={}",
        "x".repeat(VALUE_BYTES)
    );
    let mut child = pinned(SERVER_CORE, wasmtime)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "-S",
            "cli",
            "-S",
            "keyvalue",
            "-S",
        ])
        .arg(seed)
        .arg(component)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start wasmtime serve")?;
    let addr = address_from(child.stderr.take().unwrap(), "Serving HTTP on http://")?;
    Ok(Served {
        name,
        backend: "memory",
        addr,
        child,
    })
}

fn start_wasmtime_style(component: &Path) -> anyhow::Result<Served> {
    let mut child = pinned(SERVER_CORE, std::env::current_exe()?)
        .arg("--wasmtime-style-host")
        .arg(component)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the wasmtime-style host")?;
    let addr = address_from(child.stdout.take().unwrap(), "listening on ")?;
    Ok(Served {
        name: "wasmtime-serve-style",
        backend: "memory",
        addr,
        child,
    })
}

/// The CPU time `pid` has used, all its threads, in ns; `None` where
/// `/proc` cannot tell.
fn cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|&t| t > 0)?;
    Some(ticks * (1_000_000_000 / per_second))
}

/// One GET on a fresh connection, for seeding and checks (not measured).
fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// Which routes each server is measured on: the fixed body needs one
/// server per host; `get` every store; `incr` the stores that persist (the
/// wasmtime hosts keep a map per instance, so their counts mean nothing);
/// `get` and `get4` the 0.3 handlers on Redis, synchronous and async.
fn routes(server: &Served) -> &'static [&'static str] {
    match (server.name, server.backend) {
        (WASMKV, "memory") => &["fixed", "get", "incr"],
        (WASMKV, _) => &["get", "incr"],
        (
            WASMKV_QUIET | WASMKV_METRICS | WASMKV_P3_METRICS | WASMKV_TRACED | WASMKV_P3_TRACED,
            _,
        ) => &["get"],
        (WASMKV_P3, "memory") => &["fixed", "get"],
        (WASMKV_P3, "redis") | (WASMKV_P3_ASYNC, _) => &["get", "get4"],
        (WASMKV_P3, _) => &["incr"],
        _ => &["fixed", "get"],
    }
}

/// `pid`'s resident memory in KiB (`VmRSS`), where `/proc` tells.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs every HTTP row, `rounds` times interleaved, `seconds` per run;
/// the 0.3 rows under `wasmtime serve` when `wasmtime` (a CLI) is given.
pub fn run(
    repo: &Path,
    rounds: usize,
    seconds: u64,
    redis: bool,
    wasmtime: Option<&Path>,
) -> anyhow::Result<Vec<Row>> {
    let built = build(repo)?;
    let dir = tempfile::tempdir()?;
    let redis_server = if redis {
        Some(RedisServer::start())
    } else {
        None
    };
    let p2 = |name, store| start_wasmkv(&built.wasmkv, &built.p2, name, store, dir.path());
    let p3 = |store| start_wasmkv(&built.wasmkv, &built.p3, WASMKV_P3, store, dir.path());
    let mut servers = vec![
        p2(WASMKV, ("memory", "memory:"))?,
        p2(WASMKV_QUIET, ("memory", "memory:"))?,
        p2(WASMKV_METRICS, ("memory", "memory:"))?,
        p2(WASMKV_TRACED, ("memory", "memory:"))?,
        p2(WASMKV, ("sqlite", "sqlite:bench.db"))?,
    ];
    if let Some(redis) = &redis_server {
        servers.push(p2(WASMKV, ("redis", &redis.url()))?);
    }
    servers.push(start_wasmtime_style(&built.p2)?);
    if let Some(wasmtime) = wasmtime {
        servers.push(start_wasmtime_cli(wasmtime, &built.p2, WASMTIME_P2)?);
    }
    servers.push(p3(("memory", "memory:"))?);
    for name in [WASMKV_P3_METRICS, WASMKV_P3_TRACED] {
        servers.push(start_wasmkv(
            &built.wasmkv,
            &built.p3,
            name,
            ("memory", "memory:"),
            dir.path(),
        )?);
    }
    servers.push(p3(("sqlite", "sqlite:bench-p3.db"))?);
    if let Some(redis) = &redis_server {
        servers.push(p3(("redis", &redis.url()))?);
        servers.push(start_wasmkv(
            &built.wasmkv,
            &built.p3_async,
            WASMKV_P3_ASYNC,
            ("redis", &redis.url()),
            dir.path(),
        )?);
    }
    match wasmtime {
        Some(wasmtime) => servers.push(start_wasmtime_cli(wasmtime, &built.p3, WASMTIME_P3)?),
        None => eprintln!(
            "[http] no wasmtime CLI (--wasmtime-cli): the `wasmtime serve` and `wasmtime serve 0.3` rows are skipped"
        ),
    }

    let mut cells = Vec::new();
    for route in ["fixed", "get", "get4", "incr"] {
        for (index, server) in servers.iter().enumerate() {
            if !routes(server).contains(&route) {
                continue;
            }
            for c in CONNECTIONS {
                cells.push((index, route, c, Vec::new()));
            }
        }
    }
    let duration = Duration::from_secs(seconds.max(1));
    let warm_up = Duration::from_secs(1);
    for (index, route, c, _) in &cells {
        let url = format!("http://{}/{route}", servers[*index].addr);
        load::wrk(&url, *c, warm_up)?;
    }
    for round in 0..rounds {
        for (index, route, c, samples) in &mut cells {
            let url = format!("http://{}/{route}", servers[*index].addr);
            let pid = servers[*index].child.id();
            let before = cpu_ns(pid);
            let load = load::wrk(&url, *c, duration)?;
            let cpu = match (before, cpu_ns(pid)) {
                (Some(before), Some(after)) if load.requests > 0.0 => {
                    Some(after.saturating_sub(before) as f64 / load.requests)
                }
                _ => None,
            };
            samples.push((load, cpu, rss_kib(pid)));
        }
        eprintln!("[http] round {} of {rounds} done", round + 1);
    }
    // The durable counter saw every increment of every round.
    for server in &servers {
        if routes(server).contains(&"incr") {
            let (status, body) = http_get(&server.addr, "/incr")?;
            if status != 200 || body.trim().parse::<u64>().unwrap_or(0) < 2 {
                bail!(
                    "{} on {}: the counter did not count ({status} {body})",
                    server.name,
                    server.backend
                );
            }
        }
    }
    let rows = cells
        .into_iter()
        .map(|(index, route, c, samples)| {
            let cpu: Option<Vec<f64>> = samples.iter().map(|(_, cpu, _)| *cpu).collect();
            let rss: Option<Vec<f64>> = samples
                .iter()
                .map(|(_, _, rss)| rss.map(|kib| kib as f64))
                .collect();
            let samples: Vec<load::Load> = samples.into_iter().map(|(load, _, _)| load).collect();
            let rates: Vec<f64> = samples.iter().map(|s| s.requests_per_sec).collect();
            let rate = median(&rates);
            let spread = rates.iter().cloned().fold(f64::MIN, f64::max)
                / rates.iter().cloned().fold(f64::MAX, f64::min);
            Row {
                name: servers[index].name.into(),
                backend: servers[index].backend.into(),
                op: format!("http-{route}"),
                value_bytes: match route {
                    "get" => VALUE_BYTES,
                    "get4" => 4 * VALUE_BYTES,
                    _ => 0,
                },
                concurrency: c,
                ns_per_op: 1e9 / rate,
                ops_per_sec: rate,
                p50_ns: median(&samples.iter().map(|s| s.p50_ns).collect::<Vec<_>>()),
                p99_ns: median(&samples.iter().map(|s| s.p99_ns).collect::<Vec<_>>()),
                spread,
                server_cpu_ns: cpu.map(|cpu| median(&cpu)),
                server_rss_kib: rss.map(|rss| median(&rss) as u64),
            }
        })
        .collect();
    drop(servers);
    Ok(rows)
}

/// The `/get` value seeded into the wasmtime-style host's in-memory data.
pub fn seed_data() -> Vec<(String, Vec<u8>)> {
    vec![("bench-value".to_string(), vec![b'x'; VALUE_BYTES])]
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_process_cpu_time_is_read_from_proc_and_grows_with_its_work() {
        let pid = std::process::id();
        let before = cpu_ns(pid).expect("this process's CPU time");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut spins = 0u64;
        while cpu_ns(pid) == Some(before) {
            assert!(Instant::now() < deadline, "the CPU time never moved");
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        assert!(cpu_ns(pid).unwrap() > before);
        assert_eq!(cpu_ns(u32::MAX), None);
    }
}
