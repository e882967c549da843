//! What one measurement runs: an operation, a value size, how many
//! instances at once, and what it measured.

use serde::Serialize;

/// The operations every row is asked to run (a row may not support some).
pub const OPS: [&str; 9] = [
    "get-hit",
    "get-miss",
    "set",
    "exists",
    "delete",
    "increment",
    "cas",
    "get-many",
    "set-many",
];

/// Keys per `get-many` / `set-many` call.
pub const BATCH: usize = 100;

/// One cell of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// One of [`OPS`].
    pub op: &'static str,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Instances (or native tasks) running the loop at once.
    pub concurrency: usize,
}

/// What one run of a loop measured.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Wall time of the loops divided by all operations done.
    pub ns_per_op: f64,
    /// Median single-operation latency.
    pub p50_ns: f64,
    /// 99th-percentile single-operation latency.
    pub p99_ns: f64,
}

/// One row of the report (the JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The system measured, e.g. `wasmkv` or `native`.
    pub name: String,
    /// The store behind it.
    pub backend: String,
    /// The operation.
    pub op: String,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Instances at once.
    pub concurrency: usize,
    /// Median over rounds.
    pub ns_per_op: f64,
    /// `1e9 / ns_per_op`.
    pub ops_per_sec: f64,
    /// Median over rounds.
    pub p50_ns: f64,
    /// Median over rounds.
    pub p99_ns: f64,
    /// max/min of ns_per_op over rounds: how noisy this row was.
    pub spread: f64,
    /// Median over rounds of the server's CPU time (all its threads) per
    /// request, for the HTTP rows: a busy neighbour on a shared machine
    /// moves it far less than the rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_ns: Option<f64>,
    /// Median over rounds of the server's resident memory after the run,
    /// in KiB, for the HTTP rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kib: Option<u64>,
}

/// Percentile `q` (0..=1) of sorted `times`.
pub fn percentile(times: &[u64], q: f64) -> f64 {
    if times.is_empty() {
        return 0.0;
    }
    times[((times.len() as f64 * q) as usize).min(times.len() - 1)] as f64
}

/// The median of `values` (not sorted in place).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians_pick_the_right_element() {
        let times: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&times, 0.5), 51.0);
        assert_eq!(percentile(&times, 0.99), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
