//! The report: a table per workload with ratios, the JSON rows, the
//! headline targets, and an SVG chart of those targets.

use std::fmt::Write as _;

use crate::workload::Row;

/// The row each system is compared with, for the same backend: the CLIs
/// with each other, everything else with what a user would pick instead.
fn comparison(row: &Row) -> &'static str {
    match (row.name.as_str(), row.backend.as_str()) {
        ("wasmkv-run" | "wasmtime-run", _) => "wasmtime-run",
        ("wasmkv serve 0.3, metrics" | "wasmkv serve 0.3, metrics+traces", _) => "wasmkv serve 0.3",
        ("wasmkv serve, metrics" | "wasmkv serve, metrics+traces", _) => "wasmkv serve",
        ("wasmkv serve 0.3" | "wasmtime serve 0.3", _) => "wasmtime serve 0.3",
        (
            "wasmkv serve" | "wasmkv serve, log off" | "wasmtime-serve-style" | "wasmtime serve",
            _,
        ) => "wasmtime-serve-style",
        (_, "memory") => "wasmtime-wasi-keyvalue",
        (_, "sqlite") => "spin-style",
        _ => "redis-benchmark",
    }
}

fn find<'a>(rows: &'a [Row], name: &str, backend: &str, like: &Row) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.name == name
            && r.backend == backend
            && r.op == like.op
            && r.value_bytes == like.value_bytes
            && r.concurrency == like.concurrency
    })
}

fn ratio(a: &Row, b: Option<&Row>) -> String {
    b.map_or("-".into(), |b| format!("{:.2}x", a.ns_per_op / b.ns_per_op))
}

fn cpu_ratio(a: &Row, b: Option<&Row>) -> String {
    match (a.server_cpu_ns, b.and_then(|b| b.server_cpu_ns)) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// Prints one table per workload, in plan order.
pub fn print_tables(rows: &[Row]) {
    let mut seen: Vec<(String, usize, usize)> = Vec::new();
    for r in rows {
        let id = (r.op.clone(), r.value_bytes, r.concurrency);
        if seen.contains(&id) {
            continue;
        }
        seen.push(id.clone());
        println!(
            "\n{} · {} B values · {} at once",
            r.op, r.value_bytes, r.concurrency
        );
        let table: Vec<&Row> = rows
            .iter()
            .filter(|x| (x.op.clone(), x.value_bytes, x.concurrency) == id)
            .collect();
        let with_cpu = table.iter().any(|x| x.server_cpu_ns.is_some());
        let with_rss = table.iter().any(|x| x.server_rss_kib.is_some());
        let mut cpu_header = if with_cpu {
            format!(" {:>11} {:>9}", "cpu ns/op", "cpu/comp")
        } else {
            String::new()
        };
        if with_rss {
            cpu_header.push_str(&format!(" {:>9}", "rss MiB"));
        }
        println!(
            "  {:<24} {:<7} {:>11} {:>11} {:>10} {:>10} {:>9} {:>9} {:>7}{cpu_header}",
            "system",
            "backend",
            "ns/op",
            "ops/s",
            "p50 ns",
            "p99 ns",
            "/native",
            "/compare",
            "spread"
        );
        for row in table {
            let compared = find(rows, comparison(row), &row.backend, row);
            let mut cpu = if with_cpu {
                format!(
                    " {:>11} {:>9}",
                    row.server_cpu_ns
                        .map_or("-".into(), |ns| format!("{ns:.0}")),
                    cpu_ratio(row, compared)
                )
            } else {
                String::new()
            };
            if with_rss {
                let rss = row
                    .server_rss_kib
                    .map_or("-".into(), |kib| format!("{:.1}", kib as f64 / 1024.0));
                cpu.push_str(&format!(" {rss:>9}"));
            }
            println!(
                "  {:<24} {:<7} {:>11.0} {:>11.0} {:>10.0} {:>10.0} {:>9} {:>9} {:>6.2}x{cpu}",
                row.name,
                row.backend,
                row.ns_per_op,
                row.ops_per_sec,
                row.p50_ns,
                row.p99_ns,
                ratio(row, find(rows, "native", &row.backend, row)),
                ratio(row, compared),
                row.spread
            );
        }
    }
}

/// A target from DESIGN.md, as measured.
pub struct Target {
    /// What it says.
    pub label: String,
    /// The measured ratio.
    pub value: f64,
    /// The bound.
    pub bound: f64,
    /// Whether the measured ratio must stay at or below the bound.
    pub at_most: bool,
}

impl Target {
    fn met(&self) -> bool {
        if self.at_most {
            self.value <= self.bound
        } else {
            self.value >= self.bound
        }
    }
}

fn get<'a>(
    rows: &'a [Row],
    name: &str,
    backend: &str,
    op: &str,
    bytes: usize,
    c: usize,
) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.name == name
            && r.backend == backend
            && r.op == op
            && r.value_bytes == bytes
            && r.concurrency == c
    })
}

/// The DESIGN.md targets that this run has the rows for.
pub fn targets(rows: &[Row], bytes: usize) -> Vec<Target> {
    let mut out = Vec::new();
    let mut push = |label: String,
                    a: Option<&Row>,
                    b: Option<&Row>,
                    bound: f64,
                    at_most: bool,
                    inverse: bool| {
        if let (Some(a), Some(b)) = (a, b) {
            let value = if inverse {
                b.ns_per_op / a.ns_per_op
            } else {
                a.ns_per_op / b.ns_per_op
            };
            out.push(Target {
                label,
                value,
                bound,
                at_most,
            });
        }
    };
    // The same draft component in process on one wasmtime build, and from
    // outside as issue 13 measured it, each CLI as shipped. The seed API
    // needs three component calls per get where the draft needs one: its
    // rows are reported in the tables, not targeted.
    let same_component = [
        (
            ("wasmkv (same draft guest)", "wasmkv-draft"),
            ("wasmtime-wasi-keyvalue", "wasmtime-wasi-keyvalue"),
        ),
        (
            ("`wasmkv run`", "wasmkv-run"),
            ("`wasmtime run -S keyvalue`", "wasmtime-run"),
        ),
    ];
    for ((ours, ours_row), (theirs, theirs_row)) in same_component {
        for op in ["get-hit", "set", "increment"] {
            push(
                format!("memory {op}: {ours} time / {theirs}"),
                get(rows, ours_row, "memory", op, bytes, 1),
                get(rows, theirs_row, "memory", op, bytes, 1),
                1.0,
                true,
                false,
            );
        }
    }
    for op in ["get-hit", "set"] {
        push(
            format!("redis {op}: wasmkv time / native Rust"),
            get(rows, "wasmkv", "redis", op, bytes, 1),
            get(rows, "native", "redis", op, bytes, 1),
            1.1,
            true,
            false,
        );
    }
    // Each: label, our row and the row it is measured against (system,
    // backend, op, instances at once), the bound, whether it is an upper
    // bound, and whether rates (not times) are compared.
    let ratios = [
        (
            "redis get-hit, 64 instances: wasmkv time / native Rust",
            ("wasmkv", "redis", "get-hit", 64),
            ("native", "redis", "get-hit", 64),
            1.15,
            true,
            false,
        ),
        (
            "sqlite get-hit, 1 instance: wasmkv time / wasmkv memory time",
            ("wasmkv", "sqlite", "get-hit", 1),
            ("wasmkv", "memory", "get-hit", 1),
            // DESIGN.md's bound since reads stopped keeping their WAL read
            // lock between reads (issue 33): two fcntl calls per read.
            5.0,
            true,
            false,
        ),
        (
            "sqlite get-hit, 64 instances: wasmkv rate / wasmkv redis rate",
            ("wasmkv", "sqlite", "get-hit", 64),
            ("wasmkv", "redis", "get-hit", 64),
            5.0,
            false,
            true,
        ),
        (
            "sqlite set, 1 writer: wasmkv rate / spin-style rate",
            ("wasmkv", "sqlite", "set", 1),
            ("spin-style", "sqlite", "set", 1),
            4.0,
            false,
            true,
        ),
        (
            "sqlite set: 64 wasmkv instances' rate / 1 instance's",
            ("wasmkv", "sqlite", "set", 64),
            ("wasmkv", "sqlite", "set", 1),
            10.0,
            false,
            true,
        ),
    ];
    for (label, ours, theirs, bound, at_most, rates) in ratios {
        let row = |(name, backend, op, c)| get(rows, name, backend, op, bytes, c);
        push(label.into(), row(ours), row(theirs), bound, at_most, rates);
    }
    if let Some(row) = get(rows, "wasmkv", "sqlite", "get-hit", bytes, 64) {
        out.push(Target {
            label: "sqlite get-hit, 64 instances: wasmkv p99 / 0.2 ms".into(),
            value: row.p99_ns / 0.2e6,
            bound: 1.0,
            at_most: true,
        });
    }
    out
}

/// `ours` and `theirs` on the 100-byte `/get` on memory at `c`
/// connections, when the run has both rows.
fn http_get_pair<'a>(
    rows: &'a [Row],
    ours: &str,
    theirs: &str,
    c: usize,
) -> Option<(&'a Row, &'a Row)> {
    Some((
        get(rows, ours, "memory", "http-get", 100, c)?,
        get(rows, theirs, "memory", "http-get", 100, c)?,
    ))
}

/// The HTTP targets of issue 12 that this run has the rows for.
pub fn http_targets(rows: &[Row]) -> Vec<Target> {
    let mut out = Vec::new();
    // Issue 34: telemetry on may cost at most 2% of the rate.
    for (on, off, wasi, what) in [
        ("wasmkv serve, metrics", "wasmkv serve", "0.2", "metrics"),
        (
            "wasmkv serve 0.3, metrics",
            "wasmkv serve 0.3",
            "0.3",
            "metrics",
        ),
        (
            "wasmkv serve, metrics+traces",
            "wasmkv serve",
            "0.2",
            "metrics+traces",
        ),
        (
            "wasmkv serve 0.3, metrics+traces",
            "wasmkv serve 0.3",
            "0.3",
            "metrics+traces",
        ),
    ] {
        for c in [1, 16, 64] {
            if let Some((a, b)) = http_get_pair(rows, on, off, c) {
                out.push(Target {
                    label: format!("HTTP kv get {wasi}, memory, {c} conn: {what} on rate / off"),
                    value: a.ops_per_sec / b.ops_per_sec,
                    bound: 0.98,
                    at_most: false,
                });
            }
        }
    }
    let theirs = "wasmtime-serve-style";
    for (ours, label) in [
        ("wasmkv serve", "wasmkv"),
        ("wasmkv serve, log off", "wasmkv log off"),
    ] {
        for c in [1, 16, 64] {
            if let Some((a, b)) = http_get_pair(rows, ours, theirs, c) {
                out.push(Target {
                    label: format!("HTTP kv get, memory, {c} conn: {label} rate / wasmtime-style"),
                    value: a.ops_per_sec / b.ops_per_sec,
                    bound: 1.0,
                    at_most: false,
                });
                out.push(Target {
                    label: format!("HTTP kv get, memory, {c} conn: {label} p99 / wasmtime-style"),
                    value: a.p99_ns / b.p99_ns,
                    bound: 1.2,
                    at_most: true,
                });
            }
        }
    }
    for c in [1, 16, 64] {
        if let Some((a, b)) = http_get_pair(rows, "wasmkv serve", "wasmtime serve", c) {
            out.push(Target {
                label: format!("HTTP kv get, memory, {c} conn: wasmkv rate / wasmtime serve"),
                value: a.ops_per_sec / b.ops_per_sec,
                bound: 1.0,
                at_most: false,
            });
        }
    }
    // The same comparisons in server CPU per request, which this shared
    // machine's neighbours disturb far less than the rate.
    for (theirs, short) in [
        ("wasmtime-serve-style", "wasmtime-style"),
        ("wasmtime serve", "wasmtime serve"),
    ] {
        for c in [1, 16, 64] {
            if let Some((a, b)) = http_get_pair(rows, "wasmkv serve", theirs, c)
                && let (Some(ours), Some(theirs)) = (a.server_cpu_ns, b.server_cpu_ns)
            {
                out.push(Target {
                    label: format!("HTTP kv get, memory, {c} conn: wasmkv CPU/req / {short}"),
                    value: ours / theirs,
                    bound: 1.0,
                    at_most: true,
                });
            }
        }
    }
    // On Redis, the 0.3 handler through the async interface against the
    // same routes through the synchronous draft import.
    let (sync, async_) = ("wasmkv serve 0.3", "wasmkv serve 0.3, async kv");
    for (route, bytes) in [("http-get", 100), ("http-get4", 400)] {
        for c in [1, 16, 64] {
            let a = get(rows, async_, "redis", route, bytes, c);
            let b = get(rows, sync, "redis", route, bytes, c);
            if let (Some(a), Some(b)) = (a, b) {
                out.push(Target {
                    label: format!("HTTP 0.3 {route}, Redis, {c} conn: async kv rate / sync kv"),
                    value: a.ops_per_sec / b.ops_per_sec,
                    bound: 1.0,
                    at_most: false,
                });
            }
        }
    }
    for name in [async_, sync] {
        let one = get(rows, name, "redis", "http-get", 100, 1);
        let four = get(rows, name, "redis", "http-get4", 400, 1);
        if let (Some(one), Some(four)) = (one, four) {
            out.push(Target {
                label: format!("HTTP 0.3 Redis, 1 conn, {name}: p50 of 4 gets / of 1 get"),
                value: four.p50_ns / one.p50_ns,
                bound: 1.25,
                at_most: true,
            });
        }
    }
    for route in ["http-fixed", "http-get"] {
        let bytes = if route == "http-get" { 100 } else { 0 };
        for c in [1, 16, 64] {
            let a = get(rows, "wasmkv serve 0.3", "memory", route, bytes, c);
            let b = get(rows, "wasmtime serve 0.3", "memory", route, bytes, c);
            if let (Some(a), Some(b)) = (a, b) {
                out.push(Target {
                    label: format!("HTTP 0.3 {route}, {c} conn: wasmkv rate / wasmtime serve"),
                    value: a.ops_per_sec / b.ops_per_sec,
                    bound: 1.0,
                    at_most: false,
                });
                out.push(Target {
                    label: format!("HTTP 0.3 {route}, {c} conn: wasmkv p99 / wasmtime serve"),
                    value: a.p99_ns / b.p99_ns,
                    bound: 1.2,
                    at_most: true,
                });
            }
        }
    }
    for (ours, label) in [("wasmkv serve", "0.2"), ("wasmkv serve 0.3", "0.3")] {
        let one = get(rows, ours, "sqlite", "http-incr", 0, 1);
        let many = get(rows, ours, "sqlite", "http-incr", 0, 64);
        if let (Some(one), Some(many)) = (one, many) {
            out.push(Target {
                label: format!(
                    "HTTP {label} durable increment, sqlite: 64 conn rate / 1 conn rate"
                ),
                value: many.ops_per_sec / one.ops_per_sec,
                bound: 10.0,
                at_most: false,
            });
        }
    }
    out
}

/// Prints each target with met / not met.
pub fn print_targets(targets: &[Target]) {
    println!("\nTargets (DESIGN.md):");
    for t in targets {
        let op = if t.at_most { "<=" } else { ">=" };
        let verdict = if t.met() { "met" } else { "NOT met" };
        println!(
            "  {:<66} {:>7.2}x  (target {op} {}x)  {verdict}",
            t.label, t.value, t.bound
        );
    }
}

/// A horizontal bar chart of the targets: each bar is the measured ratio,
/// each tick the bound, green when met. Written directly as SVG: the chart
/// is a handful of rectangles, and plotting crates need system fonts to lay
/// out text, which CI machines do not have.
pub fn svg(targets: &[Target]) -> String {
    let (width, bar_h, left) = (900.0, 26.0, 470.0);
    let height = 50.0 + bar_h * 1.5 * targets.len() as f64;
    let max = targets
        .iter()
        .map(|t| t.value.max(t.bound))
        .fold(1.0, f64::max)
        * 1.1;
    let scale = (width - left - 60.0) / max;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14">wasmkv-bench: measured ratio (bar) against the DESIGN.md target (line)</text>"#
    );
    for (i, t) in targets.iter().enumerate() {
        let y = 40.0 + i as f64 * bar_h * 1.5;
        let color = if t.met() { "#3a9d5d" } else { "#d05050" };
        let label = t.label.replace('&', "&amp;").replace('<', "&lt;");
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.0}">{label}</text>"#,
            y + bar_h * 0.7
        );
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{y:.0}" width="{:.1}" height="{bar_h}" fill="{color}"/>"#,
            t.value * scale
        );
        let bx = left + t.bound * scale;
        let _ = writeln!(
            s,
            r#"<line x1="{bx:.1}" y1="{:.0}" x2="{bx:.1}" y2="{:.0}" stroke="black" stroke-width="2"/>"#,
            y - 3.0,
            y + bar_h + 3.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}">{:.2}x</text>"#,
            left + t.value * scale + 6.0,
            y + bar_h * 0.7,
            t.value
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, backend: &str, op: &str, c: usize, ns: f64) -> Row {
        Row {
            name: name.into(),
            backend: backend.into(),
            op: op.into(),
            value_bytes: 100,
            concurrency: c,
            ns_per_op: ns,
            ops_per_sec: 1e9 / ns,
            p50_ns: ns,
            p99_ns: ns,
            spread: 1.0,
            server_cpu_ns: None,
            server_rss_kib: None,
        }
    }

    #[test]
    fn targets_compare_the_right_rows_in_the_right_direction() {
        let rows = vec![
            row("wasmkv-draft", "memory", "get-hit", 1, 1200.0),
            row("wasmtime-wasi-keyvalue", "memory", "get-hit", 1, 1000.0),
            row("wasmkv", "sqlite", "set", 1, 1000.0),
            row("wasmkv", "sqlite", "set", 64, 50.0),
            row("spin-style", "sqlite", "set", 1, 5000.0),
            row("wasmkv-run", "memory", "set", 1, 600.0),
            row("wasmtime-run", "memory", "set", 1, 1000.0),
        ];
        let targets = targets(&rows, 100);
        let find = |needle: &str| targets.iter().find(|t| t.label.contains(needle)).unwrap();
        let boundary = find("memory get-hit: wasmkv (same draft guest)");
        assert!((boundary.value - 1.2).abs() < 1e-9 && !boundary.met());
        let cli = find("memory set: `wasmkv run`");
        assert!((cli.value - 0.6).abs() < 1e-9 && cli.met());
        let spin = find("1 writer");
        assert!((spin.value - 5.0).abs() < 1e-9 && spin.met());
        let group = find("64 wasmkv");
        assert!((group.value - 20.0).abs() < 1e-9 && group.met());
        assert_eq!(svg(&targets).matches("<rect").count(), targets.len());
    }
}
