//! `wasmkv serve --metrics`: a real Prometheus server scrapes a running
//! server, and its query API must return exactly the requests and key-value
//! calls the test made; `promtool` accepts a scrape and the example alert
//! rules.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::http::{Server, get, runtime};
use crate::common::{repo_root, workdir};
use wasmkv_test_servers::{PrometheusServer, RedisServer};

/// The `http://HOST:PORT/metrics` a server announced.
fn metrics_addr(server: &Server) -> String {
    assert!(
        server.logged("metrics on http://"),
        "no metrics address announced:\n{}",
        server.stderr()
    );
    let stderr = server.stderr();
    let rest = stderr.split("metrics on http://").nth(1).unwrap();
    rest.split("/metrics").next().unwrap().to_string()
}

/// `component` served with `flags` and metrics on a free port, and the
/// metrics address it announced.
fn serve_with_metrics(dir: &std::path::Path, component: &str, flags: &[&str]) -> (Server, String) {
    let mut all = vec!["--metrics", "127.0.0.1:0"];
    all.extend_from_slice(flags);
    let server = Server::start(dir, component, &all);
    let metrics = metrics_addr(&server);
    (server, metrics)
}

/// One scrape of `addr`'s `/metrics`, as Prometheus would take it.
async fn scrape(addr: &str) -> String {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the one series `query` returns from Prometheus' query API
/// (0 when it returns none), once it has stopped changing: the query is
/// asked every 200 ms until it has answered `want` or 30 s have passed,
/// then the last answer is returned for the caller to compare.
async fn query_until(prometheus: &PrometheusServer, query: &str, want: f64) -> f64 {
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let path = format!("/api/v1/query?query={encoded}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&prometheus.addr(), &path).await;
        assert_eq!(status, 200, "{query}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect(&body);
        let results = answer["data"]["result"].as_array().expect(&body);
        assert!(
            results.len() <= 1,
            "{query} returned several series: {body}"
        );
        let value = results.first().map_or(0.0, |series| {
            series["value"][1].as_str().unwrap().parse::<f64>().unwrap()
        });
        if value == want || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn alert_rules() -> PathBuf {
    repo_root().join("docs/prometheus/alerts.yml")
}

/// `promtool ARGS` with `input` on stdin: its exit status and output.
fn promtool(args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start promtool: install Debian's prometheus package (scripts/test does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A 0.2 handler on SQLite: 12 increments, 2 reads, 3 reads of an empty
/// key (each refused as invalid-argument, answered 500), 2 traps, 4 unknown
/// paths and one request past --timeout. Prometheus, scraping every second, must
/// count exactly those.
#[test]
fn prometheus_counts_exactly_the_requests_and_calls_a_0_2_handler_got() {
    let dir = workdir();
    let (server, metrics) = serve_with_metrics(dir.path(), "http_probe", &["--timeout", "2s"]);
    let prometheus = PrometheusServer::scraping(&metrics, &[alert_rules()]);
    runtime().block_on(async {
        let app = server.addr();
        for _ in 0..12 {
            assert_eq!(get(app, "/incr?key=k").await.0, 200);
        }
        for _ in 0..2 {
            assert_eq!(get(app, "/get?key=k").await, (200, "12\n".into()));
        }
        for _ in 0..3 {
            let (status, body) = get(app, "/get?key=").await;
            assert_eq!(status, 500, "{body}");
        }
        for _ in 0..2 {
            assert_eq!(get(app, "/trap").await.0, 500);
        }
        for _ in 0..4 {
            assert_eq!(get(app, "/nope").await.0, 404);
        }
        assert_eq!(get(app, "/spin").await.0, 504);
        // The application's port has no metrics: /metrics is the guest's.
        assert_eq!(get(app, "/metrics").await, (404, "not found\n".into()));
        let requests = 12 + 2 + 3 + 2 + 4 + 1 + 1;

        let expected: &[(&str, f64)] = &[
            ("sum(wasmkv_http_requests_total)", requests as f64),
            (r#"wasmkv_http_requests_total{status="2xx",wasi="0.2"}"#, 14.0),
            (r#"wasmkv_http_requests_total{status="4xx",wasi="0.2"}"#, 5.0),
            (r#"wasmkv_http_requests_total{status="5xx",wasi="0.2"}"#, 6.0),
            ("wasmkv_http_request_duration_seconds_count", requests as f64),
            ("wasmkv_http_requests_timed_out_total", 1.0),
            ("wasmkv_http_requests_refused_total", 0.0),
            ("wasmkv_http_requests_in_flight", 0.0),
            ("wasmkv_instances_created_total", requests as f64),
            (r#"wasmkv_instances_stopped_total{cause="trap"}"#, 2.0),
            (r#"wasmkv_instances_stopped_total{cause="timeout"}"#, 1.0),
            ("wasmkv_instance_reused_requests_total", 0.0),
            ("sum(wasmkv_kv_operations_total)", 17.0 + 12.0 + 2.0 + 3.0),
            (
                r#"wasmkv_kv_operations_total{store="default",interface="seed",operation="increment",outcome="ok"}"#,
                12.0,
            ),
            (
                r#"wasmkv_kv_operations_total{store="default",interface="seed",operation="open-bucket",outcome="ok"}"#,
                17.0,
            ),
            (
                r#"wasmkv_kv_operations_total{store="default",interface="seed",operation="get",outcome="ok"}"#,
                2.0,
            ),
            (
                r#"wasmkv_kv_operations_total{store="default",interface="seed",operation="get",outcome="invalid_argument"}"#,
                3.0,
            ),
            (
                r#"wasmkv_kv_operation_duration_seconds_count{store="default",operation="increment"}"#,
                12.0,
            ),
            ("wasmkv_kv_host_held_bytes", 0.0),
            // Every increment is one durable write, in some number of
            // group commits; the invalid reads never reach the store.
            (r#"wasmkv_sqlite_commit_writes_sum{store="default"}"#, 12.0),
            (r#"sum(wasmkv_sqlite_reads_total{store="default"})"#, 2.0),
            (r#"count(wasmkv_sqlite_wal_bytes{store="default"} > 0)"#, 1.0),
        ];
        let mut wrong = Vec::new();
        for (query, want) in expected {
            let got = query_until(&prometheus, query, *want).await;
            if got != *want {
                wrong.push(format!("{query}: {got}, expected {want}"));
            }
        }
        let resident = query_until(&prometheus, "process_resident_memory_bytes > 0", 1.0).await;
        assert!(resident > 1e6, "process_resident_memory_bytes: {resident}");
        assert!(
            wrong.is_empty(),
            "Prometheus disagrees with what was sent:\n{}\nscrape:\n{}\nprometheus log:\n{}",
            wrong.join("\n"),
            scrape(&metrics).await,
            prometheus.log()
        );

        let (ok, report) = promtool(&["check", "metrics"], &scrape(&metrics).await);
        assert!(ok, "promtool check metrics:\n{report}");
    });
}

/// A 0.3 handler reuses its instance: the first request makes it, every
/// later one is counted as reused, and the kv calls are counted by the
/// interface the component imports.
#[test]
fn a_0_3_handler_counts_reused_instances_and_its_interface() {
    let dir = workdir();
    let flags = ["--store", "default=memory:"];
    let (server, metrics) = serve_with_metrics(dir.path(), "http_counter_p3", &flags);
    runtime().block_on(async {
        for n in 1..=10 {
            assert_eq!(get(server.addr(), "/x").await, (200, format!("{n}\n")));
        }
        let want = [
            r#"wasmkv_http_requests_total{status="2xx",wasi="0.3"} 10"#,
            "wasmkv_instances_created_total 1",
            "wasmkv_instance_reused_requests_total 9",
            "wasmkv_instances_live 1",
            r#"wasmkv_kv_operations_total{interface="seed",operation="increment",outcome="ok",store="default"} 10"#,
        ];
        let text = scrape_until(&metrics, &want).await;
        assert_lines(&text, &want);
        let (ok, report) = promtool(&["check", "metrics"], &text);
        assert!(ok, "promtool check metrics:\n{report}");
    });
}

/// Off by default: no metrics listener, nothing announced.
#[test]
fn metrics_are_off_unless_asked_for() {
    let dir = workdir();
    let server = Server::start(dir.path(), "http_counter", &[]);
    runtime().block_on(async {
        assert_eq!(get(server.addr(), "/a").await.0, 200);
    });
    assert!(
        !server.stderr().contains("metrics on"),
        "{}",
        server.stderr()
    );
}

/// `[metrics] listen` in wasmkv.toml turns them on as the flag does.
#[test]
fn the_config_file_turns_metrics_on() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("wasmkv.toml"),
        "[metrics]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), "http_counter", &[]);
    let metrics = metrics_addr(&server);
    runtime().block_on(async {
        assert_eq!(get(server.addr(), "/a").await.0, 200);
        assert!(
            scrape(&metrics)
                .await
                .contains("wasmkv_http_requests_total")
        );
        assert_eq!(get(&metrics, "/other").await.0, 404);
    });
}

/// The example alert rules in docs/prometheus pass `promtool check rules`
/// (and the scrape test above loads them into a real Prometheus).
#[test]
fn the_example_alert_rules_are_valid() {
    let rules = alert_rules();
    let (ok, report) = promtool(&["check", "rules", rules.to_str().unwrap()], "");
    assert!(ok, "promtool check rules:\n{report}");
    assert!(report.contains("3 rules found"), "{report}");
    let config = repo_root().join("docs/prometheus/prometheus.yml");
    let (ok, report) = promtool(&["check", "config", config.to_str().unwrap()], "");
    assert!(ok, "promtool check config:\n{report}");
}

/// Waits until a scrape of `metrics` has every line of `want`, and
/// returns the last scrape either way, for the caller's message.
async fn scrape_until(metrics: &str, want: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(metrics).await;
        let all = want.iter().all(|w| text.lines().any(|l| l == *w));
        if all || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every line of `want` is a line of `text`.
fn assert_lines(text: &str, want: &[&str]) {
    for line in want {
        assert!(
            text.lines().any(|l| l == *line),
            "missing {line:?} in:\n{text}"
        );
    }
}

/// The 0.2 probe served on store `store` with metrics on, and its metrics
/// address.
fn probe_on_store(dir: &std::path::Path, store: &str) -> (Server, String) {
    serve_with_metrics(dir, "http_probe", &["--store", store])
}

/// Increments the probe's counter `n` times, each answered with its count.
async fn count_to(server: &Server, n: u64) {
    for count in 1..=n {
        assert_eq!(
            get(server.addr(), "/incr").await,
            (200, format!("{count}\n"))
        );
    }
}

/// Redis going away under a server: the calls that fail are counted as
/// store_unavailable, and the lost connection as a reconnect.
#[test]
fn a_stopped_redis_shows_as_unavailable_calls_and_reconnects() {
    let dir = workdir();
    let mut redis = RedisServer::start();
    let store = format!("default={}?timeout_ms=500", redis.url());
    let (server, metrics) = probe_on_store(dir.path(), &store);
    runtime().block_on(async {
        count_to(&server, 3).await;
        redis.stop();
        for _ in 0..2 {
            let (status, body) = get(server.addr(), "/incr").await;
            assert_eq!(status, 500, "{body}");
        }
        let want = [
            r#"wasmkv_kv_operations_total{interface="seed",operation="increment",outcome="ok",store="default"} 3"#,
            r#"wasmkv_kv_operations_total{interface="seed",operation="increment",outcome="store_unavailable",store="default"} 2"#,
            r#"wasmkv_http_requests_total{status="5xx",wasi="0.2"} 2"#,
        ];
        let text = scrape_until(&metrics, &want).await;
        assert_lines(&text, &want);
        let reconnects = text
            .lines()
            .find_map(|l| l.strip_prefix(r#"wasmkv_redis_reconnects_total{store="default"} "#))
            .and_then(|n| n.parse::<u64>().ok());
        assert!(
            reconnects.is_some_and(|n| n >= 1),
            "no reconnect counted:\n{text}"
        );
    });
}

/// Under wait_replicas every write waits for its replica, and each wait is
/// in the WAIT histogram.
#[test]
fn writes_under_wait_replicas_are_timed_by_their_wait() {
    let dir = workdir();
    let primary = RedisServer::start();
    let _replica = RedisServer::start_replica_of(primary.port());
    let store = format!("default={}?timeout_ms=30000&wait_replicas=1", primary.url());
    let (server, metrics) = probe_on_store(dir.path(), &store);
    runtime().block_on(async {
        count_to(&server, 4).await;
        let want = [r#"wasmkv_redis_wait_duration_seconds_count{store="default"} 4"#];
        let text = scrape_until(&metrics, &want).await;
        assert_lines(&text, &want);
    });
}
