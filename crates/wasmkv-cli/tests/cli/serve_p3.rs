//! `wasmkv serve` on WASI 0.3 handlers (`wasi:http/handler@0.3`): instance
//! reuse, every guarantee of 0.2 serving per request, 0.2 and 0.3 servers
//! on one store; and the connection limits every server has.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::http::{Server, get, get_concurrently, runtime};
use crate::common::workdir;
use crate::serve::{
    counts_concurrent_hits_exactly_with, outbound_http_is_denied_unless_allowed_for,
    over_max_concurrency_gets_503, sigterm_with_a_spinning_guest_exits_after_the_shutdown_timeout,
    two_servers_share_one_store_with,
};
use wasmkv_test_servers::{RedisCluster, RedisServer};

const PROBE: &str = "http_probe_p3";

#[test]
fn two_hundred_concurrent_hits_on_a_p3_handler_on_sqlite_count_exactly() {
    counts_concurrent_hits_exactly_with("http_counter_p3", &[]);
}

#[test]
fn two_hundred_concurrent_hits_on_a_p3_handler_in_memory_count_exactly() {
    counts_concurrent_hits_exactly_with("http_counter_p3", &["--store", "default=memory:"]);
}

#[test]
fn two_hundred_concurrent_hits_on_a_p3_handler_on_redis_count_exactly() {
    let redis = RedisServer::start();
    let store = format!("default={}", redis.url());
    counts_concurrent_hits_exactly_with("http_counter_p3", &["--store", &store]);
}

#[test]
fn two_hundred_concurrent_hits_on_a_p3_handler_on_redis_cluster_count_exactly() {
    let cluster = RedisCluster::start();
    let store = format!("default={}", cluster.url());
    counts_concurrent_hits_exactly_with("http_counter_p3", &["--store", &store]);
}

#[test]
fn a_p2_server_and_a_p3_server_on_one_sqlite_file_count_exactly() {
    two_servers_share_one_store_with(["http_counter", "http_counter_p3"], workdir().path(), &[]);
}

/// `/state` counts the requests its instance has seen.
async fn states(addr: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (status, body) = get(addr, "/state").await;
        assert_eq!(status, 200, "{body}");
        seen.push(body.trim().to_string());
    }
    seen
}

#[test]
fn a_reused_instance_keeps_its_own_state_across_requests() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &[]);
    runtime().block_on(async {
        assert_eq!(states(server.addr(), 5).await, ["1", "2", "3", "4", "5"]);
    });
    assert!(
        server.logged("WASI 0.3 handler: instances reused for up to 128 requests, 16 at once, kept 1s when idle"),
        "{}",
        server.stderr()
    );
}

#[test]
fn reuse_count_1_gives_each_request_a_fresh_instance() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &["--max-instance-reuse-count", "1"]);
    runtime().block_on(async {
        assert_eq!(states(server.addr(), 4).await, ["1", "1", "1", "1"]);
    });
}

#[test]
fn an_instance_is_replaced_after_its_reuse_count_and_its_idle_timeout() {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        PROBE,
        &[
            "--max-instance-reuse-count",
            "3",
            "--idle-instance-timeout",
            "300ms",
        ],
    );
    runtime().block_on(async {
        assert_eq!(states(server.addr(), 5).await, ["1", "2", "3", "1", "2"]);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            states(server.addr(), 1).await,
            ["1"],
            "an idle instance was kept"
        );
    });
}

#[test]
fn requests_on_one_instance_run_concurrently() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &[]);
    runtime().block_on(async {
        let started = Instant::now();
        let answers = get_concurrently(server.addr(), "/sleep?ms=1000", 8).await;
        let numbers: BTreeSet<String> = answers
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 200, "{body}");
                body.trim().rsplit(' ').next().unwrap().to_string()
            })
            .collect();
        // Eight awaiting requests at once on fewer instances than requests:
        // some instance took more than one of them.
        assert!(
            numbers.contains("2"),
            "every request got its own instance: {answers:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "the requests did not overlap: {:?}",
            started.elapsed()
        );
    });
}

#[test]
fn a_trap_answers_500_and_the_next_request_gets_a_fresh_instance() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &[]);
    runtime().block_on(async {
        assert_eq!(states(server.addr(), 2).await, ["1", "2"]);
        let (status, body) = get(server.addr(), "/trap").await;
        assert_eq!((status, body.as_str()), (500, "internal server error\n"));
        assert_eq!(get(server.addr(), "/ok").await, (200, "ok\n".into()));
        assert_eq!(
            states(server.addr(), 1).await,
            ["1"],
            "the trapped instance was reused"
        );
    });
    for line in [
        "the handler trapped: wasm trap",
        "GET /trap: its instance was stopped before it answered",
        "GET /trap 500",
        "GET /ok 200",
    ] {
        assert!(server.logged(line), "no {line:?} in {}", server.stderr());
    }
}

#[test]
fn a_p3_request_past_the_timeout_gets_504_whether_awaiting_or_spinning() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &["--timeout", "500ms"]);
    runtime().block_on(async {
        let started = Instant::now();
        let (status, body) = get(server.addr(), "/sleep?ms=30000").await;
        assert_eq!((status, body.as_str()), (504, "the request timed out\n"));
        assert_eq!(get(server.addr(), "/spin").await.0, 504);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "504 came far too late"
        );
        let (status, body) = get(server.addr(), "/sleep?ms=10").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("slept 10 "), "{body}");
    });
    assert!(server.logged("ran past --timeout"), "{}", server.stderr());
}

/// One request on an instance runs past `--timeout` while others on the
/// same instance are awaiting: they finish and are answered; the instance
/// takes no new requests and is replaced.
#[test]
fn other_requests_on_an_instance_whose_request_timed_out_finish() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &["--timeout", "1500ms"]);
    runtime().block_on(async {
        let addr = server.addr().to_string();
        let slow = tokio::spawn({
            let addr = addr.clone();
            async move { get(&addr, "/sleep?ms=60000").await }
        });
        // One at a time, each while the instance only awaits, so each
        // joins the slow request's instance.
        let mut quick = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let addr = addr.clone();
            quick.push(tokio::spawn(
                async move { get(&addr, "/sleep?ms=1200").await },
            ));
        }
        let mut numbers = BTreeSet::new();
        for answer in quick {
            let (status, body) = answer.await.unwrap();
            assert_eq!(status, 200, "{body}");
            numbers.insert(body.trim().rsplit(' ').next().unwrap().to_string());
        }
        assert_eq!(
            numbers,
            BTreeSet::from(["2".to_string(), "3".into(), "4".into()]),
            "the quick requests were not on the slow one's instance"
        );
        assert_eq!(slow.await.unwrap().0, 504);
        assert_eq!(
            states(&addr, 1).await,
            ["1"],
            "the timed-out instance was reused"
        );
    });
}

#[test]
fn max_memory_answers_500_for_that_instance_only() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &["--max-memory", "32MiB"]);
    runtime().block_on(async {
        assert_eq!(get(server.addr(), "/hoard?mb=64").await.0, 500);
        assert_eq!(get(server.addr(), "/hoard?mb=1").await.0, 200);
    });
    assert!(server.logged("over --max-memory"), "{}", server.stderr());
}

#[test]
fn max_resources_answers_500_for_that_instance_only() {
    let dir = workdir();
    let server = Server::start(dir.path(), PROBE, &["--max-resources", "200"]);
    runtime().block_on(async {
        assert_eq!(get(server.addr(), "/buckets?n=1000").await.0, 500);
        assert_eq!(
            get(server.addr(), "/buckets?n=1").await,
            (200, "holding 1 buckets\n".into())
        );
    });
    assert!(
        server.logged("more than --max-resources"),
        "{}",
        server.stderr()
    );
}

#[test]
fn over_max_concurrency_a_p3_request_gets_503() {
    over_max_concurrency_gets_503(PROBE);
}

#[test]
fn p3_outbound_http_is_denied_unless_allowed() {
    outbound_http_is_denied_unless_allowed_for(PROBE);
}

#[test]
fn sigterm_lets_in_flight_p3_requests_finish_then_exits_0() {
    let dir = workdir();
    let mut server = Server::start(dir.path(), PROBE, &[]);
    let addr = server.addr().to_string();
    let rt = runtime();
    let slow = rt.spawn(async move { get_concurrently(&addr, "/sleep?ms=1500", 3).await });
    std::thread::sleep(Duration::from_millis(400));
    server.terminate();
    for (status, body) in rt.block_on(slow).unwrap() {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        server.wait(Duration::from_secs(15)),
        0,
        "{}",
        server.stderr()
    );
    assert!(
        server.logged("SIGTERM: no longer accepting"),
        "{}",
        server.stderr()
    );
    assert!(
        !server.stderr().contains("still running"),
        "{}",
        server.stderr()
    );
}

#[test]
fn sigterm_with_a_spinning_p3_guest_exits_after_the_shutdown_timeout() {
    sigterm_with_a_spinning_guest_exits_after_the_shutdown_timeout(PROBE);
}

/// Opens `count` connections that each send a request line and never
/// finish their headers.
async fn slow_clients(addr: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("cannot connect");
        stream
            .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("cannot write");
        streams.push(stream);
    }
    streams
}

/// Whether the server closed `stream` (a read sees the end, or a reset).
async fn closed_by_server(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

/// 600 connections that never finish their headers, against a cap of 200:
/// a well-behaved client is still served, and every slow connection is
/// closed by the server after `--header-read-timeout`.
fn slow_headers_cannot_hold_the_server(handler: &str) {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        handler,
        &[
            "--store",
            "default=memory:",
            "--max-concurrent-connections",
            "200",
            "--header-read-timeout",
            "1s",
        ],
    );
    runtime().block_on(async {
        let mut slow = slow_clients(server.addr(), 600).await;
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(20), get(server.addr(), "/ok"))
            .await
            .expect("a normal request was not served while slow clients held connections");
        assert_eq!(answer, (200, "ok\n".into()));
        assert!(started.elapsed() < Duration::from_secs(20));
        let mut closed = 0;
        for stream in &mut slow {
            if closed_by_server(stream, Duration::from_secs(10)).await {
                closed += 1;
            }
        }
        assert_eq!(closed, slow.len(), "slow connections left open");
    });
}

#[test]
fn slow_headers_cannot_hold_a_p2_server() {
    slow_headers_cannot_hold_the_server("http_probe");
}

#[test]
fn slow_headers_cannot_hold_a_p3_server() {
    slow_headers_cannot_hold_the_server(PROBE);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        PROBE,
        &["--store", "default=memory:", "--idle-timeout", "1s"],
    );
    runtime().block_on(async {
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        // Kept open for a while after the response, then closed.
        assert!(!closed_by_server(&mut stream, Duration::from_millis(300)).await);
        assert!(closed_by_server(&mut stream, Duration::from_secs(5)).await);
        // A connection that never sends anything is closed too.
        let mut silent = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        assert!(closed_by_server(&mut silent, Duration::from_secs(5)).await);
    });
}

/// README's example handler, served as README serves it: a session is
/// created once and expires by itself, notes are appended by versioned
/// swaps without losing one however many requests append at once.
#[test]
fn the_sessions_example_logs_in_once_and_loses_no_note() {
    let dir = workdir();
    let server = Server::start(dir.path(), "http_sessions_p3", &[]);
    runtime().block_on(async {
        let addr = server.addr();
        let (status, body) = get(addr, "/login?user=ada").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(get(addr, "/login?user=ada").await.0, 409);
        assert_eq!(get(addr, "/note?user=bob&text=x").await.0, 401);
        let notes: Vec<_> = (0..20)
            .map(|i| {
                let addr = addr.to_string();
                tokio::spawn(async move { get(&addr, &format!("/note?user=ada&text=n{i}")).await })
            })
            .collect();
        for note in notes {
            let (status, body) = note.await.unwrap();
            assert_eq!(status, 200, "{body}");
        }
        let (_, notes) = get(addr, "/notes?user=ada").await;
        let mut lines: Vec<&str> = notes.lines().collect();
        lines.sort();
        let mut want: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
        want.sort();
        assert_eq!(lines, want, "a note was lost");
        assert_eq!(get(addr, "/logout?user=ada").await.0, 200);
        assert_eq!(get(addr, "/login?user=ada").await.0, 201);
    });
    let ttl = crate::common::run(dir.path(), &["kv", "ttl", "default", "session:ada"]).success();
    let left: u64 = ttl.stdout.split(' ').next().unwrap().parse().unwrap();
    assert!(left <= 60, "{}", ttl.stdout);
}
