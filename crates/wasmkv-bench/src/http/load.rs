//! The load generator: `wrk` (Debian's package) against one URL, and its
//! report parsed into requests/s and latency percentiles.

use std::time::Duration;

use anyhow::{Context, bail};

/// What one `wrk` run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Completed requests per second.
    pub requests_per_sec: f64,
    /// Completed requests in the whole run.
    pub requests: f64,
    /// Median latency, ns.
    pub p50_ns: f64,
    /// 99th-percentile latency, ns.
    pub p99_ns: f64,
}

/// Runs `wrk` with `connections` keep-alive connections for `duration`.
/// A run with any non-2xx answer or socket error is an error: a failing
/// handler must not look fast.
pub fn wrk(url: &str, connections: usize, duration: Duration) -> anyhow::Result<Load> {
    let out = super::pinned(super::LOAD_CORE, "wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            // wrk takes whole seconds.
            &format!("-d{}s", duration.as_secs().max(1)),
            "--latency",
            url,
        ])
        .output()
        .context("cannot run wrk (apt-get install -y wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "wrk {url} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse(&text).with_context(|| format!("wrk {url}:\n{text}"))
}

/// Parses wrk's `--latency` report.
pub fn parse(report: &str) -> anyhow::Result<Load> {
    if let Some(line) = report
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        bail!("the handler failed: {}", line.trim());
    }
    if let Some(line) = report.lines().find(|l| l.contains("Socket errors")) {
        bail!("socket errors: {}", line.trim());
    }
    let field = |prefix: &str| {
        report
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .with_context(|| format!("no {prefix:?} line"))
    };
    let requests_per_sec: f64 = field("Requests/sec:")?.parse()?;
    let requests: f64 = report
        .lines()
        .map(str::trim)
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .context("no \"requests in\" line")?
        .parse()?;
    Ok(Load {
        requests_per_sec,
        requests,
        p50_ns: duration_ns(field("50%")?)?,
        p99_ns: duration_ns(field("99%")?)?,
    })
}

/// wrk's durations: `812.00us`, `1.20ms`, `2.03s`, `1.00m`.
fn duration_ns(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse()?;
    let scale = match unit {
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => bail!("unknown unit in {text:?}"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 1s test @ http://127.0.0.1:8080/fixed
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   103.55us   40.12us   1.20ms   92.00%
    Req/Sec     9.71k   512.33    10.20k    80.00%
  Latency Distribution
     50%   97.00us
     75%  105.00us
     90%  121.00us
     99%    1.05ms
  9712 requests in 1.00s, 1.20MB read
Requests/sec:   9702.31
Transfer/sec:      1.20MB
";

    #[test]
    fn a_report_gives_rate_and_percentiles() {
        let load = parse(REPORT).unwrap();
        assert_eq!(load.requests_per_sec, 9702.31);
        assert_eq!(load.requests, 9712.0);
        assert_eq!(load.p50_ns, 97_000.0);
        assert_eq!(load.p99_ns, 1_050_000.0);
    }

    #[test]
    fn failed_requests_are_an_error_not_a_rate() {
        let report = REPORT.replace(
            "Requests/sec:",
            "  Non-2xx or 3xx responses: 12\nRequests/sec:",
        );
        let err = parse(&report).unwrap_err();
        assert!(format!("{err}").contains("Non-2xx"), "{err}");
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(duration_ns("2.03s").unwrap().round(), 2_030_000_000.0);
        assert_eq!(duration_ns("1.00m").unwrap(), 60e9);
        assert!(duration_ns("12").is_err());
    }
}
