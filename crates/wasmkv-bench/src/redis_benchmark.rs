//! `redis-benchmark` (from the redis-tools package) for the operations it
//! has: `SET` and `GET`, with the same value size and client count.

use std::process::Command;

use anyhow::{Context, bail};

use crate::workload::{Sample, Workload};

/// Runs redis-benchmark against `port` for `w` (only `set` and `get-hit`),
/// `requests` requests in all; `None` for operations it does not have.
pub fn run(port: u16, w: Workload, requests: u64) -> anyhow::Result<Option<Sample>> {
    let test = match w.op {
        "set" => "SET",
        "get-hit" => "GET",
        _ => return Ok(None),
    };
    // SET first, so GET reads a key that exists.
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "set,get",
            "--csv",
        ])
        .args(["-n", &requests.to_string()])
        .args(["-d", &w.value_bytes.to_string()])
        .args(["-c", &w.concurrency.to_string()])
        .output()
        .context("cannot run redis-benchmark")?;
    if !out.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|h| h.trim_matches('"') == name);
    let (Some(rps), Some(p50), Some(p99)) = (
        column("rps"),
        column("p50_latency_ms"),
        column("p99_latency_ms"),
    ) else {
        bail!("unexpected redis-benchmark output: {text}");
    };
    for line in text.lines().skip(1) {
        let cells: Vec<f64> = line
            .split(',')
            .map(|c| c.trim_matches('"').parse().unwrap_or(f64::NAN))
            .collect();
        if line.starts_with(&format!("\"{test}\"")) {
            return Ok(Some(Sample {
                ns_per_op: 1e9 / cells[rps],
                p50_ns: cells[p50] * 1e6,
                p99_ns: cells[p99] * 1e6,
            }));
        }
    }
    bail!("redis-benchmark printed no {test} row: {text}")
}
