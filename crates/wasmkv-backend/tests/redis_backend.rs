//! The Redis backend against real redis-server processes: one standalone
//! server and a 3-master cluster, each started by the test on free loopback
//! ports and stopped by pid when the test ends.

use std::collections::HashSet;
use std::time::Duration;

use wasmkv_backend::memory::MemoryBackend;
use wasmkv_backend::{Backend, BackendError, Bytes, CounterRange, SharedBackend, StoreUrl};
use wasmkv_test_servers::{RedisCluster, RedisServer};

async fn open(url: &str) -> SharedBackend {
    let url: StoreUrl = url.parse().unwrap();
    url.open().await.unwrap()
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Fails the test instead of hanging if the backend never answers.
async fn answer<T>(op: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), op)
        .await
        .expect("the backend hung: no answer within 30 s")
}

/// Every key of `ns`, following `list_keys` pages of at most `page` keys to
/// the end.
async fn all_keys(kv: &dyn Backend, ns: &str, page: usize) -> Vec<String> {
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let listed = answer(kv.list_keys(ns, cursor.as_deref(), page))
            .await
            .unwrap();
        assert!(listed.keys.len() <= page, "page of {}", listed.keys.len());
        seen.extend(listed.keys);
        match listed.cursor {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
}

const U64_MAX: i128 = u64::MAX as i128;

async fn counters_cover_u64_and_stay_plain_decimal(kv: &dyn Backend, get: impl Fn(&str) -> String) {
    let ns = "counters";
    assert_eq!(
        kv.increment(ns, "n", U64_MAX - 1, CounterRange::U64)
            .await
            .unwrap(),
        U64_MAX - 1
    );
    assert_eq!(
        kv.increment(ns, "n", 1, CounterRange::U64).await.unwrap(),
        U64_MAX
    );
    assert_eq!(get("wasmkv:8:counters:n"), "18446744073709551615");

    let err = kv
        .increment(ns, "n", 1, CounterRange::U64)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Counter(_)), "{err}");
    assert!(err.to_string().contains("overflows"), "{err}");
    assert_eq!(get("wasmkv:8:counters:n"), "18446744073709551615");

    for stored in ["007", "+1", "-0", " 1", "1.0", "x"] {
        kv.set(ns, "bad", b(stored)).await.unwrap();
        let err = kv
            .increment(ns, "bad", 1, CounterRange::U64)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not a canonical"),
            "{stored:?}: {err}"
        );
        assert_eq!(kv.get(ns, "bad").await.unwrap(), Some(b(stored)));
    }
    kv.set(ns, "neg", b("-3")).await.unwrap();
    let err = kv
        .increment(ns, "neg", 5, CounterRange::U64)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("outside the counter range"),
        "{err}"
    );
    assert_eq!(kv.get(ns, "neg").await.unwrap(), Some(b("-3")));
}

#[tokio::test]
async fn counters_cover_u64_and_stay_plain_decimal_on_a_server() {
    let server = RedisServer::start();
    let kv = open(&server.url()).await;
    counters_cover_u64_and_stay_plain_decimal(&*kv, |key| server.cli(&["GET", key])).await;
}

#[tokio::test]
async fn counters_cover_u64_and_stay_plain_decimal_on_a_cluster() {
    let cluster = RedisCluster::start();
    let kv = open(&cluster.url()).await;
    counters_cover_u64_and_stay_plain_decimal(&*kv, |key| cluster.cli(&["GET", key])).await;
}

/// Every counter case gives Redis exactly the answer the memory backend
/// gives: same values, same refusals, same messages, for both ranges.
#[tokio::test]
async fn counter_rules_match_the_memory_backend() {
    let server = RedisServer::start();
    counter_rules_match_memory(&*open(&server.url()).await).await;
}

/// The same when every write waits for a replica (the increment is then a
/// recorded script on the i64 range too).
#[tokio::test]
async fn counter_rules_match_the_memory_backend_when_writes_wait_for_a_replica() {
    let (primary, _replica) = primary_and_replica();
    let url = format!("{}?wait_replicas=1", primary.url());
    counter_rules_match_memory(&*open(&url).await).await;
}

async fn counter_rules_match_memory(redis: &dyn Backend) {
    let memory = MemoryBackend::new();
    let i64_max = i64::MAX as i128;
    let i64_min = i64::MIN as i128;
    let stored_values = [
        None,
        Some("0"),
        Some("41"),
        Some("-41"),
        Some("9223372036854775807"),
        Some("-9223372036854775808"),
        Some("9223372036854775808"),
        Some("18446744073709551615"),
        Some("18446744073709551616"),
        Some("007"),
        Some("-0"),
        Some(""),
    ];
    let deltas = [0, 1, -1, 5, i64_max, i64_min, U64_MAX];
    for range in [CounterRange::U64, CounterRange::I64] {
        for stored in stored_values {
            for delta in deltas {
                if delta < 0 && range == CounterRange::U64 {
                    continue;
                }
                let mut outcomes = Vec::new();
                for kv in [redis, &memory as &dyn Backend] {
                    match stored {
                        Some(v) => kv.set("ns", "c", b(v)).await.unwrap(),
                        None => kv.delete("ns", "c").await.unwrap(),
                    }
                    let result = kv
                        .increment("ns", "c", delta, range)
                        .await
                        .map_err(|e| e.to_string());
                    let after = kv.get("ns", "c").await.unwrap();
                    outcomes.push((result, after));
                }
                assert_eq!(
                    outcomes[0], outcomes[1],
                    "redis vs memory: stored {stored:?}, delta {delta}, range {range}"
                );
            }
        }
    }
}

async fn buckets_never_collide(kv: &dyn Backend) {
    kv.set("a", "b:c", b("in a")).await.unwrap();
    kv.set("a:b", "c", b("in a:b")).await.unwrap();
    kv.set("", "1:a:b:c", b("in the empty bucket"))
        .await
        .unwrap();
    assert_eq!(kv.get("a", "b:c").await.unwrap(), Some(b("in a")));
    assert_eq!(kv.get("a:b", "c").await.unwrap(), Some(b("in a:b")));
    assert_eq!(all_keys(kv, "a", 1000).await, vec!["b:c".to_string()]);
    assert_eq!(all_keys(kv, "a:b", 1000).await, vec!["c".to_string()]);
    assert_eq!(all_keys(kv, "", 1000).await, vec!["1:a:b:c".to_string()]);
}

#[tokio::test]
async fn buckets_never_collide_on_a_server() {
    let server = RedisServer::start();
    buckets_never_collide(&*open(&server.url()).await).await;
}

async fn keys_lists_each_key_once(kv: &dyn Backend) {
    // Unescaped, bucket "g*"'s pattern would also match bucket "gx".
    let glob = "g*";
    let tricky = ["*", "?", "[a]", "\\", "x*y", "é", " "];
    let mut expected: HashSet<String> = (0..2500).map(|i| format!("key-{i}")).collect();
    expected.extend(tricky.iter().map(|k| k.to_string()));
    let items: Vec<(String, Bytes)> = expected.iter().map(|k| (k.clone(), b(k))).collect();
    for chunk in items.chunks(500) {
        kv.set_many(glob, chunk.to_vec()).await.unwrap();
    }
    kv.set("gx", "other", b("not in g*")).await.unwrap();
    kv.set("g", "other", b("not in g*")).await.unwrap();

    let listed = all_keys(kv, glob, 1000).await;
    assert_eq!(
        listed.len(),
        expected.len(),
        "a key was listed twice or missed"
    );
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(all_keys(kv, "gx", 1000).await, vec!["other".to_string()]);
    assert!(all_keys(kv, "never-used", 1000).await.is_empty());
}

async fn pages_list_each_key_once(kv: &dyn Backend) {
    let expected: HashSet<String> = (0..3000).map(|i| format!("p{i}")).collect();
    let items: Vec<(String, Bytes)> = expected.iter().map(|k| (k.clone(), b(""))).collect();
    for chunk in items.chunks(1000) {
        kv.set_many("paged", chunk.to_vec()).await.unwrap();
    }
    let seen = all_keys(kv, "paged", 200).await;
    assert_eq!(
        seen.len(),
        expected.len(),
        "a key was listed twice or missed"
    );
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    let bad = kv
        .list_keys("paged", Some("not-a-cursor"), 10)
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("not a listing cursor"), "{bad}");
}

#[tokio::test]
async fn pages_list_each_key_once_on_a_server() {
    let server = RedisServer::start();
    pages_list_each_key_once(&*open(&server.url()).await).await;
}

#[tokio::test]
async fn pages_list_each_key_once_on_a_cluster() {
    let cluster = RedisCluster::start();
    pages_list_each_key_once(&*open(&cluster.url()).await).await;
}

#[tokio::test]
async fn keys_lists_each_key_once_on_a_server() {
    let server = RedisServer::start();
    keys_lists_each_key_once(&*open(&server.url()).await).await;
}

#[tokio::test]
async fn keys_lists_each_key_once_on_a_cluster() {
    let cluster = RedisCluster::start();
    keys_lists_each_key_once(&*open(&cluster.url()).await).await;
}

async fn batches_keep_order_across_slots(kv: &dyn Backend) {
    let ns = "batch";
    let items: Vec<(String, Bytes)> = (0..200)
        .map(|i| (format!("k{i}"), b(&format!("v{i}"))))
        .collect();
    kv.set_many(ns, items).await.unwrap();
    // A later pair for the same key wins.
    kv.set_many(
        ns,
        vec![("dup".into(), b("first")), ("dup".into(), b("second"))],
    )
    .await
    .unwrap();
    assert_eq!(kv.get(ns, "dup").await.unwrap(), Some(b("second")));

    let wanted: Vec<String> = (0..250).rev().map(|i| format!("k{i}")).collect();
    let got = kv.get_many(ns, &wanted, usize::MAX).await.unwrap();
    for (key, value) in wanted.iter().zip(&got) {
        let i: usize = key[1..].parse().unwrap();
        let expected = (i < 200).then(|| b(&format!("v{i}")));
        assert_eq!(value, &expected, "{key}");
    }

    let doomed: Vec<String> = (0..200).step_by(2).map(|i| format!("k{i}")).collect();
    kv.delete_many(ns, &doomed).await.unwrap();
    assert!(!kv.exists(ns, "k0").await.unwrap());
    assert!(kv.exists(ns, "k1").await.unwrap());
    assert_eq!(all_keys(kv, ns, 1000).await.len(), 100 + 1);
    assert!(kv.get_many(ns, &[], usize::MAX).await.unwrap().is_empty());
    kv.set_many(ns, Vec::new()).await.unwrap();
    kv.delete_many(ns, &[]).await.unwrap();
}

#[tokio::test]
async fn batches_keep_order_across_slots_on_a_server() {
    let server = RedisServer::start();
    batches_keep_order_across_slots(&*open(&server.url()).await).await;
}

#[tokio::test]
async fn batches_keep_order_across_slots_on_a_cluster() {
    let cluster = RedisCluster::start();
    batches_keep_order_across_slots(&*open(&cluster.url()).await).await;
}

async fn compare_and_swap_loses_no_update(a: SharedBackend, b2: SharedBackend) {
    let ns = "cas";
    assert!(a.compare_and_swap(ns, "new", None, b("1")).await.unwrap());
    assert!(!a.compare_and_swap(ns, "new", None, b("2")).await.unwrap());
    assert!(
        !a.compare_and_swap(ns, "new", Some(b"2"), b("3"))
            .await
            .unwrap()
    );
    assert!(
        a.compare_and_swap(ns, "new", Some(b"1"), b(""))
            .await
            .unwrap()
    );
    assert_eq!(a.get(ns, "new").await.unwrap(), Some(b("")));

    // Four tasks over two independent connections each add 50 by CAS loops.
    let tasks: Vec<_> = [a.clone(), b2.clone(), a.clone(), b2]
        .into_iter()
        .map(|kv| {
            tokio::spawn(async move {
                for _ in 0..50 {
                    loop {
                        let current = kv.get(ns, "n").await.unwrap();
                        let n: u64 = current
                            .as_deref()
                            .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                        let next = b(&(n + 1).to_string());
                        if kv
                            .compare_and_swap(ns, "n", current.as_deref(), next)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        answer(task).await.unwrap();
    }
    assert_eq!(a.get(ns, "n").await.unwrap(), Some(b("200")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_loses_no_update_on_a_server() {
    let server = RedisServer::start();
    compare_and_swap_loses_no_update(open(&server.url()).await, open(&server.url()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_loses_no_update_on_a_cluster() {
    let cluster = RedisCluster::start();
    compare_and_swap_loses_no_update(open(&cluster.url()).await, open(&cluster.url()).await).await;
}

/// A primary and a replica it counts online.
fn primary_and_replica() -> (RedisServer, RedisServer) {
    let primary = RedisServer::start();
    let replica = primary.start_online_replica();
    (primary, replica)
}

/// With `wait_replicas=1` every write is on the replica when it is
/// acknowledged (the counters are read back from the replica), and the
/// batch and compare-and-swap rules hold as without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_wait_for_a_replica_are_on_it_when_acknowledged() {
    let (primary, replica) = primary_and_replica();
    let url = format!("{}?wait_replicas=1", primary.url());
    let kv = open(&url).await;
    counters_cover_u64_and_stay_plain_decimal(&*kv, |key| replica.cli(&["GET", key])).await;
    batches_keep_order_across_slots(&*kv).await;
    compare_and_swap_loses_no_update(kv.clone(), open(&url).await).await;
    kv.set("r", "k", b("v")).await.unwrap();
    assert_eq!(replica.cli(&["GET", "wasmkv:1:r:k"]), "v");
    kv.delete("r", "k").await.unwrap();
    assert_eq!(replica.cli(&["EXISTS", "wasmkv:1:r:k"]), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_wait_for_a_replica_keep_the_rules_on_a_cluster() {
    let cluster = RedisCluster::start_with_replicas();
    let url = format!("{}?wait_replicas=1", cluster.url());
    let kv = open(&url).await;
    counters_cover_u64_and_stay_plain_decimal(&*kv, |key| cluster.cli(&["GET", key])).await;
    batches_keep_order_across_slots(&*kv).await;
    compare_and_swap_loses_no_update(kv.clone(), open(&url).await).await;
}

/// Without the replica a write cannot be confirmed: after the timeout the
/// caller hears that, and that it may have been applied.
#[tokio::test]
async fn a_write_no_replica_confirms_fails_saying_it_may_have_been_applied() {
    let server = RedisServer::start();
    let kv = open(&format!("{}?wait_replicas=1&timeout_ms=500", server.url())).await;
    let started = std::time::Instant::now();
    let err = answer(kv.set("ns", "k", b("v"))).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Unavailable { .. }), "{err:?}");
    assert!(text.contains("0 of 1 replica(s) confirmed it"), "{text}");
    assert!(text.contains("may or may not have been applied"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = answer(kv.increment("ns", "n", 1, CounterRange::I64))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("may or may not"), "{err}");
    // The increment ran once on the primary, however often it was resent.
    assert_eq!(server.cli(&["GET", "wasmkv:2:ns:n"]), "1");
}

#[tokio::test]
async fn prefixes_keep_two_stores_on_one_server_apart() {
    let server = RedisServer::start();
    let one = open(&format!("{}?prefix=one:", server.url())).await;
    let two = open(&format!("{}?prefix=two:", server.url())).await;
    one.set("default", "k", b("1")).await.unwrap();
    two.set("default", "k", b("2")).await.unwrap();
    assert_eq!(one.get("default", "k").await.unwrap(), Some(b("1")));
    assert_eq!(two.get("default", "k").await.unwrap(), Some(b("2")));
    assert_eq!(
        all_keys(&*one, "default", 1000).await,
        vec!["k".to_string()]
    );
    let mut all: Vec<String> = server
        .cli(&["KEYS", "*"])
        .lines()
        .map(String::from)
        .collect();
    all.sort();
    assert_eq!(all, ["one:7:default:k", "two:7:default:k"]);
}

#[tokio::test]
async fn a_stopped_server_gives_errors_and_a_restarted_one_recovers() {
    let mut server = RedisServer::start();
    let kv = open(&format!("{}?timeout_ms=300", server.url())).await;
    kv.set("ns", "k", b("before")).await.unwrap();

    server.stop();
    for _ in 0..3 {
        let err = answer(kv.get("ns", "k")).await.unwrap_err();
        assert!(matches!(err, BackendError::Unavailable { .. }), "{err}");
        assert!(err.to_string().starts_with(&server.url()), "{err}");
        let err = answer(kv.increment("ns", "n", 1, CounterRange::U64))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Unavailable { .. }), "{err}");
    }

    server.restart();
    let mut recovered = None;
    for _ in 0..100 {
        match answer(kv.set("ns", "k", b("after"))).await {
            Ok(()) => {
                recovered = Some(());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(recovered.is_some(), "the backend never reconnected");
    assert_eq!(kv.get("ns", "k").await.unwrap(), Some(b("after")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_cluster_node_gives_errors_and_its_return_recovers() {
    let mut cluster = RedisCluster::start();
    let kv = open(&format!("{}?timeout_ms=500", cluster.url())).await;
    let keys: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    for key in &keys {
        kv.increment("ns", key, 1, CounterRange::U64).await.unwrap();
    }

    cluster.stop_node(1);
    let mut failed = 0;
    for key in &keys {
        if let Err(err) = answer(kv.increment("ns", key, 1, CounterRange::U64)).await {
            assert!(matches!(err, BackendError::Unavailable { .. }), "{err}");
            assert!(err.to_string().starts_with("redis-cluster://"), "{err}");
            failed += 1;
        }
    }
    assert!(failed > 0, "no key lived on the stopped node");

    cluster.restart_node(1);
    // Every key answers again; the restarted node kept no data, so its keys
    // start over, and the others were never touched by the failed calls.
    for key in &keys {
        let mut answered = None;
        for _ in 0..100 {
            match answer(kv.get("ns", key)).await {
                Ok(value) => {
                    answered = Some(value);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let value = answered.unwrap_or_else(|| panic!("{key} never answered again"));
        assert!(value.is_none() || value == Some(b("2")), "{key}: {value:?}");
    }
}

#[tokio::test]
async fn an_increment_whose_reply_is_lost_is_reported_and_not_repeated() {
    let server = RedisServer::start();
    let kv = open(&format!("{}?timeout_ms=300", server.url())).await;
    // Loads the increment script, so the paused call below is one EVALSHA.
    kv.increment("ns", "warm-up", 1, CounterRange::U64)
        .await
        .unwrap();
    // The server holds writes for 1.5 s: the increment reaches it but its
    // reply comes after the client has given up.
    server.cli(&["CLIENT", "PAUSE", "1500", "WRITE"]);
    let err = answer(kv.increment("ns", "n", 1, CounterRange::U64))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("may or may not have been applied"),
        "{err}"
    );

    // Once the pause ends the increment runs exactly once.
    let mut seen = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match kv.get("ns", "n").await {
            Ok(Some(v)) => {
                seen = Some(v);
                break;
            }
            Ok(None) => {}
            Err(e) => eprintln!("get after the pause: {e}"),
        }
    }
    assert_eq!(seen, Some(b("1")));
    assert_eq!(server.cli(&["GET", "wasmkv:2:ns:n"]), "1");
}

#[tokio::test]
async fn an_unreachable_server_fails_at_open_with_the_url() {
    let server = RedisServer::start();
    let url = format!(
        "redis://user:s3cret@127.0.0.1:{}?timeout_ms=300",
        server.port()
    );
    drop(server);
    let parsed: StoreUrl = url.parse().unwrap();
    let err = answer(parsed.open())
        .await
        .err()
        .expect("opened a stopped server");
    let text = err.to_string();
    assert!(text.contains("cannot connect"), "{text}");
    assert!(text.contains("user:***@127.0.0.1"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

/// A URL of the wrong kind for the server it names fails at startup with a
/// message naming the right scheme, instead of failing later, key by key.
#[tokio::test]
async fn a_redis_url_naming_a_cluster_node_or_a_sentinel_is_refused_naming_the_scheme() {
    let open_err = |url: String| async move {
        let url: StoreUrl = url.parse().unwrap();
        match answer(url.open()).await {
            Ok(_) => panic!("{url} was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let cluster = RedisCluster::start();
    let node = cluster.nodes()[0].port();
    let err = open_err(format!("redis://127.0.0.1:{node}")).await;
    assert!(err.contains("use redis-cluster://"), "{err}");

    let sentinels = wasmkv_test_servers::RedisSentinels::start();
    let first = sentinels
        .url()
        .trim_start_matches("redis-sentinel://")
        .split([',', '/'])
        .next()
        .unwrap()
        .to_string();
    let err = open_err(format!("redis://{first}")).await;
    assert!(err.contains("redis-sentinel://"), "{err}");

    // TLS to a port that does not speak it: no answer, and a hint.
    let plain = RedisServer::start();
    let err = open_err(format!(
        "rediss://127.0.0.1:{}?timeout_ms=500",
        plain.port()
    ))
    .await;
    assert!(err.contains("TLS port"), "{err}");
}
