//! `wasmkv serve` as users meet it: real servers on free loopback ports, a
//! real HTTP client, the http-counter example and the http-probe handler,
//! on every backend.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::http::{Server, get, get_concurrently, runtime, try_get};
use crate::common::{component, run, workdir};
use wasmkv_test_servers::{RedisCluster, RedisServer};

const CONCURRENT: usize = 200;

/// 200 concurrent hits on one path to `counter` (`http_counter` or its
/// 0.3 twin): every answer is a distinct count from 1 to 200 (each
/// increment atomic, none lost), and the next hit is 201.
pub fn counts_concurrent_hits_exactly_with(counter: &str, store_flags: &[&str]) {
    let dir = workdir();
    let server = Server::start(dir.path(), counter, store_flags);
    runtime().block_on(async {
        let answers = get_concurrently(server.addr(), "/hits", CONCURRENT).await;
        let mut counts = BTreeSet::new();
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}\nserver:\n{}", server.stderr());
            counts.insert(body.trim().parse::<u64>().expect(body));
        }
        let expected: BTreeSet<u64> = (1..=CONCURRENT as u64).collect();
        assert_eq!(counts, expected, "each hit must see its own count");
        assert_eq!(get(server.addr(), "/hits").await, (200, "201\n".into()));
    });
}

fn counts_concurrent_hits_exactly(store_flags: &[&str]) {
    counts_concurrent_hits_exactly_with("http_counter", store_flags);
}

#[test]
fn two_hundred_concurrent_hits_on_sqlite_count_exactly() {
    counts_concurrent_hits_exactly(&[]);
}

#[test]
fn two_hundred_concurrent_hits_in_memory_count_exactly() {
    counts_concurrent_hits_exactly(&["--store", "default=memory:"]);
}

#[test]
fn two_hundred_concurrent_hits_on_redis_count_exactly() {
    let redis = RedisServer::start();
    let store = format!("default={}", redis.url());
    counts_concurrent_hits_exactly(&["--store", &store]);
}

#[test]
fn two_hundred_concurrent_hits_on_redis_cluster_count_exactly() {
    let cluster = RedisCluster::start();
    let store = format!("default={}", cluster.url());
    counts_concurrent_hits_exactly(&["--store", &store]);
}

/// Five hits, a clean stop, a new server on the same store: the count goes on.
fn count_survives_a_restart(dir: &std::path::Path, store_flags: &[&str]) {
    let mut first = Server::start(dir, "http_counter", store_flags);
    runtime().block_on(async {
        for n in 1..=5 {
            assert_eq!(get(first.addr(), "/r").await, (200, format!("{n}\n")));
        }
    });
    first.stop();
    let second = Server::start(dir, "http_counter", store_flags);
    runtime().block_on(async {
        assert_eq!(get(second.addr(), "/r").await, (200, "6\n".into()));
    });
}

#[test]
fn count_survives_a_restart_on_the_default_sqlite_store() {
    let dir = workdir();
    count_survives_a_restart(dir.path(), &[]);
    assert!(dir.path().join(".wasmkv/default.db").is_file());
}

#[test]
fn count_survives_a_restart_on_redis() {
    let redis = RedisServer::start();
    let store = format!("default={}", redis.url());
    count_survives_a_restart(workdir().path(), &["--store", &store]);
}

/// Two servers on one store, serving `counters` (the same handler, or a
/// 0.2 and a 0.3 one), 100 concurrent hits each at the same time: the total
/// is exact, and the store (read by `wasmkv kv`) agrees.
pub fn two_servers_share_one_store_with(
    counters: [&str; 2],
    dir: &std::path::Path,
    store_flags: &[&str],
) {
    let a = Server::start(dir, counters[0], store_flags);
    let b = Server::start(dir, counters[1], store_flags);
    runtime().block_on(async {
        let (from_a, from_b) = tokio::join!(
            get_concurrently(a.addr(), "/shared", CONCURRENT / 2),
            get_concurrently(b.addr(), "/shared", CONCURRENT / 2),
        );
        let mut counts = BTreeSet::new();
        for (status, body) in from_a.iter().chain(&from_b) {
            assert_eq!(
                *status,
                200,
                "{body}\nA:\n{}\nB:\n{}",
                a.stderr(),
                b.stderr()
            );
            counts.insert(body.trim().parse::<u64>().expect(body));
        }
        assert_eq!(counts, (1..=CONCURRENT as u64).collect::<BTreeSet<_>>());
    });
    let mut args = vec!["kv"];
    args.extend_from_slice(store_flags);
    args.extend_from_slice(&["get", "default", "hits:/shared"]);
    let stored = run(dir, &args).success();
    assert_eq!(stored.stdout, CONCURRENT.to_string());
}

fn two_servers_share_one_store(dir: &std::path::Path, store_flags: &[&str]) {
    two_servers_share_one_store_with(["http_counter", "http_counter"], dir, store_flags);
}

#[test]
fn two_servers_on_one_sqlite_file_count_exactly() {
    two_servers_share_one_store(workdir().path(), &[]);
}

/// Two servers on one SQLite file (their reads on their own threads'
/// connections), while another connection holds a read transaction open
/// and a third checkpoints in a loop: each count one server acknowledges is
/// what the other server reads next, and every request is answered.
#[test]
fn a_write_acknowledged_by_one_server_is_read_by_the_other_during_checkpoints() {
    const CLIENTS: usize = 4;
    const ROUNDS: u64 = 60;
    let dir = workdir();
    let a = Server::start(dir.path(), "http_probe", &[]);
    let b = Server::start(dir.path(), "http_probe", &[]);
    let file = dir.path().join(".wasmkv/default.db");
    runtime().block_on(async {
        assert_eq!(get(a.addr(), "/incr?key=first").await, (200, "1\n".into()));
    });

    let long_reader = rusqlite::Connection::open(&file).unwrap();
    long_reader.execute_batch("BEGIN").unwrap();
    let rows_seen = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
            .unwrap()
    };
    let rows_at_start = rows_seen(&long_reader);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checkpointer = {
        let (file, done) = (file.clone(), done.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&file).unwrap();
            conn.busy_timeout(Duration::from_secs(1)).unwrap();
            let mut runs = 0u32;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let _: i64 = conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(0))
                    .unwrap();
                runs += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            runs
        })
    };

    runtime().block_on(async {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let servers = [a.addr().to_string(), b.addr().to_string()];
                tokio::spawn(async move {
                    for n in 1..=ROUNDS {
                        let (writer, reader) = (&servers[n as usize % 2], &servers[1 - n as usize % 2]);
                        let incr = get(writer, &format!("/incr?key=c{c}")).await;
                        assert_eq!(incr, (200, format!("{n}\n")), "client {c}: increment {n} on {writer}");
                        let read = get(reader, &format!("/get?key=c{c}")).await;
                        assert_eq!(read, (200, format!("{n}\n")), "client {c}: {reader} read after increment {n} was acknowledged by {writer}");
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap_or_else(|e| {
                panic!("{e}\nA:\n{}\nB:\n{}", a.stderr(), b.stderr())
            });
        }
    });
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(checkpointer.join().unwrap() > 0);
    assert_eq!(
        rows_seen(&long_reader),
        rows_at_start,
        "the long read transaction kept its snapshot throughout"
    );
    long_reader.execute_batch("COMMIT").unwrap();
    assert_eq!(rows_seen(&long_reader), rows_at_start + CLIENTS as i64);
}

/// A server reading one key without pause while this process writes and runs
/// TRUNCATE checkpoints: each checkpoint still backfills every frame and
/// empties the WAL, and every read is answered with the value.
#[test]
fn a_checkpoint_in_another_process_finishes_while_a_server_reads_without_pause() {
    const READERS: usize = 4;
    let dir = workdir();
    let server = Server::start(dir.path(), "http_probe", &[]);
    let file = dir.path().join(".wasmkv/default.db");
    let wal = dir.path().join(".wasmkv/default.db-wal");
    runtime().block_on(async {
        assert_eq!(
            get(server.addr(), "/incr?key=hot").await,
            (200, "1\n".into())
        );
    });
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers = {
        let (addr, done, reads) = (server.addr().to_string(), done.clone(), reads.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let tasks: Vec<_> = (0..READERS)
                    .map(|_| {
                        let (addr, done, reads) = (addr.clone(), done.clone(), reads.clone());
                        tokio::spawn(async move {
                            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                                assert_eq!(get(&addr, "/get?key=hot").await, (200, "1\n".into()));
                                reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            })
        })
    };

    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    for round in 0..5 {
        let reads_before = reads.load(std::sync::atomic::Ordering::SeqCst);
        conn.execute(
            "INSERT OR REPLACE INTO kv (bucket, key, value) VALUES ('elsewhere', ?1, x'00')",
            [format!("row {round}")],
        )
        .unwrap();
        let (busy, frames): (i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(
            (busy, frames),
            (0, 0),
            "round {round}: the checkpoint was held up\n{}",
            server.stderr()
        );
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "round {round}");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            reads.load(std::sync::atomic::Ordering::SeqCst) > reads_before,
            "round {round}: no read was answered"
        );
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    readers
        .join()
        .unwrap_or_else(|_| panic!("a read failed\n{}", server.stderr()));
}

#[test]
fn two_servers_on_one_redis_count_exactly() {
    let redis = RedisServer::start();
    let store = format!("default={}", redis.url());
    two_servers_share_one_store(workdir().path(), &["--store", &store]);
}

/// Instance slots are reused between requests (and, where the kernel
/// allows, reset in place rather than unmapped: `serve/pool.rs`), yet each
/// request's instance starts from the component's image: its statics are
/// as compiled, and a heap buffer at the same address as the previous
/// request's holds none of what that request wrote there. Both below the
/// pages a slot keeps resident (64 KiB) and well past them (8 MiB, in
/// memory the guest grows); one request at a time, so slots are reused.
#[test]
fn each_request_starts_from_the_components_image_in_a_reused_slot() {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        "http_probe",
        &["--store", "default=memory:", "--max-concurrency", "1"],
    );
    runtime().block_on(async {
        for kb in [64, 8192] {
            let mut addresses = BTreeSet::new();
            for request in 1..=6 {
                let (status, body) = get(server.addr(), &format!("/fresh?kb={kb}")).await;
                assert_eq!(status, 200, "{body}\n{}", server.stderr());
                let fields: Vec<&str> = body.split_whitespace().collect();
                assert_eq!(
                    fields[..2],
                    ["1", "0"],
                    "{kb} KiB, request {request}: a fresh instance sees its static at 1 and none of the mark in its buffer"
                );
                addresses.insert(fields[2].to_string());
            }
            assert_eq!(
                addresses.len(),
                1,
                "{kb} KiB: the buffer was at the same address every time, where the last request left its mark: {addresses:?}"
            );
        }
    });
}

#[test]
fn a_trapping_request_gets_500_and_the_next_one_is_served() {
    let dir = workdir();
    let server = Server::start(dir.path(), "http_probe", &[]);
    runtime().block_on(async {
        let (status, body) = get(server.addr(), "/trap").await;
        assert_eq!(status, 500);
        assert_eq!(body, "internal server error\n", "no internals in the body");
        assert_eq!(get(server.addr(), "/ok").await, (200, "ok\n".into()));
    });
    for line in [
        "GET /trap: the handler trapped",
        "GET /trap 500",
        "GET /ok 200",
    ] {
        assert!(server.logged(line), "no {line:?} in {}", server.stderr());
    }
}

#[test]
fn a_request_past_the_timeout_gets_504_whether_waiting_or_spinning() {
    let dir = workdir();
    let server = Server::start(dir.path(), "http_probe", &["--timeout", "500ms"]);
    runtime().block_on(async {
        let started = std::time::Instant::now();
        let (status, body) = get(server.addr(), "/sleep?ms=30000").await;
        assert_eq!((status, body.as_str()), (504, "the request timed out\n"));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "504 came far too late"
        );
        assert_eq!(get(server.addr(), "/spin").await.0, 504);
        assert_eq!(
            get(server.addr(), "/sleep?ms=10").await,
            (200, "slept 10\n".into())
        );
    });
    assert!(server.logged("ran past --timeout"), "{}", server.stderr());
}

#[test]
fn over_max_concurrency_gets_503_not_a_hang() {
    over_max_concurrency_gets_503("http_probe");
}

/// With one slot and no queue, a request while `probe` sleeps in the slot
/// gets 503, and the sleeper is still answered.
pub fn over_max_concurrency_gets_503(probe: &str) {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        probe,
        &["--max-concurrency", "1", "--max-queued", "0"],
    );
    runtime().block_on(async {
        let addr = server.addr().to_string();
        let slow = tokio::spawn(async move { get(&addr, "/sleep?ms=2000").await });
        // Wait until the slow request holds the only slot.
        let mut refused = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (status, body) = get(server.addr(), "/ok").await;
            if status == 503 {
                refused = Some(body);
                break;
            }
        }
        assert_eq!(refused.as_deref(), Some("server busy, try again later\n"));
        assert_eq!(slow.await.unwrap().0, 200);
        assert_eq!(get(server.addr(), "/ok").await, (200, "ok\n".into()));
    });
}

#[test]
fn queued_requests_wait_for_a_slot_and_are_served() {
    let dir = workdir();
    let server = Server::start(
        dir.path(),
        "http_probe",
        &["--max-concurrency", "1", "--max-queued", "16"],
    );
    runtime().block_on(async {
        let answers = get_concurrently(server.addr(), "/sleep?ms=50", 8).await;
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    });
}

#[test]
fn outbound_http_is_denied_unless_allowed() {
    outbound_http_is_denied_unless_allowed_for("http_probe");
}

/// `probe`'s `/outbound` is denied (502, the denial logged with the fix)
/// without `--allow-outbound`, or with another port allowed; allowed with it.
pub fn outbound_http_is_denied_unless_allowed_for(probe: &str) {
    let dir = workdir();
    let target = Server::start(dir.path(), probe, &["--store", "default=memory:"]);
    let url = format!("/outbound?url=http://{}/ok", target.addr());
    let denied = Server::start(dir.path(), probe, &["--store", "default=memory:"]);
    let other_port = Server::start(
        dir.path(),
        probe,
        &[
            "--store",
            "default=memory:",
            "--allow-outbound",
            "127.0.0.1:1",
        ],
    );
    let allow = format!("127.0.0.1:{}", target.port());
    let allowed = Server::start(
        dir.path(),
        probe,
        &["--store", "default=memory:", "--allow-outbound", &allow],
    );
    runtime().block_on(async {
        for server in [&denied, &other_port] {
            let (status, body) = get(server.addr(), &url).await;
            assert_eq!(status, 502, "{body}");
            assert!(body.contains("HttpRequestDenied"), "{body}");
        }
        assert_eq!(
            get(allowed.addr(), &url).await,
            (200, "upstream 200: ok\n".into())
        );
    });
    assert!(
        denied.logged("--allow-outbound 127.0.0.1:"),
        "the denial is logged with the fix: {}",
        denied.stderr()
    );
}

#[test]
fn sigterm_lets_the_in_flight_request_finish_then_exits_0() {
    let dir = workdir();
    let mut server = Server::start(dir.path(), "http_probe", &[]);
    let addr = server.addr().to_string();
    let rt = runtime();
    let slow = rt.spawn(async move { get(&addr, "/sleep?ms=1500").await });
    // Give the request time to reach the guest.
    std::thread::sleep(Duration::from_millis(400));
    server.terminate();
    assert_eq!(rt.block_on(slow).unwrap(), (200, "slept 1500\n".into()));
    assert_eq!(
        server.wait(Duration::from_secs(15)),
        0,
        "{}",
        server.stderr()
    );
    for line in ["SIGTERM: no longer accepting", "GET /sleep?ms=1500 200"] {
        assert!(server.logged(line), "no {line:?} in {}", server.stderr());
    }
}

#[test]
fn serve_refuses_a_command_and_run_refuses_a_handler() {
    let dir = workdir();
    let command = component("counter");
    let served = run(
        dir.path(),
        &["serve", "--addr", "127.0.0.1:0", command.to_str().unwrap()],
    );
    assert_eq!(served.code, 125, "{}", served.stderr);
    assert!(
        served.stderr.starts_with("wasmkv: error: "),
        "{}",
        served.stderr
    );
    assert!(
        served.stderr.contains("run it with `wasmkv run"),
        "{}",
        served.stderr
    );

    let handler = component("http_counter");
    let ran = run(dir.path(), &["run", handler.to_str().unwrap()]);
    assert_eq!(ran.code, 125, "{}", ran.stderr);
    assert!(ran.stderr.starts_with("wasmkv: error: "), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("serve it with `wasmkv serve"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_bad_listen_address_is_a_startup_error() {
    let dir = workdir();
    let handler = component("http_counter");
    let handler = handler.to_str().unwrap();
    run(dir.path(), &["serve", "--addr", "not-an-address", handler]).fails_with(
        125,
        "'not-an-address' for '--addr <HOST:PORT>': expected HOST:PORT",
    );
    // Well formed, but nothing can listen there (after serve's own
    // lifecycle line).
    let out = run(dir.path(), &["serve", "--addr", "999.0.0.1:8080", handler]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--addr 999.0.0.1:8080: cannot listen there"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_handler_built_for_wasi_http_0_2_0_is_served() {
    let dir = workdir();
    let server = Server::start(dir.path(), "http_wasi_0_2_0", &[]);
    runtime().block_on(async {
        assert_eq!(get(server.addr(), "/").await, (200, "1\n".into()));
        assert_eq!(get(server.addr(), "/").await, (200, "2\n".into()));
    });
}

#[test]
fn sigterm_with_a_guest_that_never_returns_exits_after_the_shutdown_timeout() {
    sigterm_with_a_spinning_guest_exits_after_the_shutdown_timeout("http_probe");
}

/// `probe` spinning in `/spin` with no `--timeout`: only the shutdown can
/// stop it, and does, after `--shutdown-timeout`, with exit 0.
pub fn sigterm_with_a_spinning_guest_exits_after_the_shutdown_timeout(probe: &str) {
    let dir = workdir();
    let mut server = Server::start(dir.path(), probe, &["--shutdown-timeout", "1s"]);
    let addr = server.addr().to_string();
    let rt = runtime();
    let _spinning = rt.spawn(async move { try_get(&addr, "/spin").await });
    std::thread::sleep(Duration::from_millis(400));
    server.terminate();
    assert_eq!(
        server.wait(Duration::from_secs(15)),
        0,
        "{}",
        server.stderr()
    );
    assert!(
        server.logged("--shutdown-timeout passed with 1 request(s) still running"),
        "{}",
        server.stderr()
    );
    rt.shutdown_background();
}
