//! Expiry, create-if-absent and versioned compare-and-swap, the same checks
//! on every built-in store: memory and SQLite with a clock the test moves,
//! a real redis-server and a real 3-master Redis Cluster (started by the
//! test on free loopback ports), where moving time means moving every
//! deadline that Redis holds by the same amount.

use std::sync::Arc;
use std::time::Duration;

use wasmkv_backend::memory::MemoryBackend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};
use wasmkv_backend::{
    Backend, Bytes, CounterRange, Expiry, ManualClock, SetOptions, SharedBackend, StoreUrl, Swap,
    SwapCondition,
};
use wasmkv_test_servers::{RedisCluster, RedisServer, shift_deadlines};

/// A store and how the test moves its time.
struct Store {
    kv: SharedBackend,
    advance: Box<dyn Fn(Duration) + Send + Sync>,
}

const TTL: Duration = Duration::from_secs(60);
/// Past [`TTL`].
const LATER: Duration = Duration::from_secs(61);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn with_ttl(ttl: Duration) -> SetOptions {
    SetOptions {
        ttl: Some(ttl),
        if_absent: false,
    }
}

const CREATE: SetOptions = SetOptions {
    ttl: None,
    if_absent: true,
};

fn memory() -> Store {
    let clock = ManualClock::starting_now();
    let moved = clock.clone();
    Store {
        kv: Arc::new(MemoryBackend::with_clock(clock)),
        advance: Box::new(move |by| moved.advance(by)),
    }
}

fn sqlite(dir: &std::path::Path) -> Store {
    let clock = ManualClock::starting_now();
    let moved = clock.clone();
    let options = SqliteOptions {
        clock,
        ..SqliteOptions::default()
    };
    Store {
        kv: Arc::new(SqliteBackend::open(dir.join("kv.db"), options).unwrap()),
        advance: Box::new(move |by| moved.advance(by)),
    }
}

async fn redis(url: String, ports: Vec<u16>) -> Store {
    let url: StoreUrl = url.parse().unwrap();
    Store {
        kv: url.open().await.unwrap(),
        advance: Box::new(move |by| shift_deadlines(&ports, by)),
    }
}

async fn keys(kv: &dyn Backend, ns: &str) -> Vec<String> {
    let (mut all, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = kv.list_keys(ns, cursor.as_deref(), 100).await.unwrap();
        all.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => {
                all.sort();
                return all;
            }
        }
    }
}

async fn an_expired_entry_is_never_read(s: &Store) {
    let (kv, ns) = (&*s.kv, "expiry");
    assert!(
        kv.set_with(ns, "short", b("v"), with_ttl(TTL))
            .await
            .unwrap()
    );
    kv.set(ns, "kept", b("k")).await.unwrap();
    assert_eq!(kv.get(ns, "short").await.unwrap(), Some(b("v")));
    match kv.expiry(ns, "short").await.unwrap() {
        Some(Expiry::At(_)) => {}
        other => panic!("{}: expiry of a TTL entry: {other:?}", kv.describe()),
    }
    assert_eq!(kv.expiry(ns, "kept").await.unwrap(), Some(Expiry::Never));
    assert_eq!(kv.expiry(ns, "absent").await.unwrap(), None);
    (s.advance)(LATER);
    assert_eq!(kv.get(ns, "short").await.unwrap(), None);
    assert!(!kv.exists(ns, "short").await.unwrap());
    assert_eq!(kv.get_entry(ns, "short").await.unwrap(), None);
    assert_eq!(kv.expiry(ns, "short").await.unwrap(), None);
    let many = kv
        .get_many(ns, &["short".into(), "kept".into()], usize::MAX)
        .await
        .unwrap();
    assert_eq!(many, vec![None, Some(b("k"))]);
    assert_eq!(keys(kv, ns).await, vec!["kept"]);
    assert!(
        !kv.compare_and_swap(ns, "short", Some(b"v"), b("x"))
            .await
            .unwrap(),
        "{}: a swap matched an expired value",
        kv.describe()
    );
}

async fn a_write_without_ttl_clears_it_and_an_increment_keeps_it(s: &Store) {
    let (kv, ns) = (&*s.kv, "clear");
    kv.set_with(ns, "plain", b("1"), with_ttl(TTL))
        .await
        .unwrap();
    kv.set(ns, "plain", b("2")).await.unwrap();
    assert_eq!(kv.expiry(ns, "plain").await.unwrap(), Some(Expiry::Never));
    kv.set_with(ns, "batch", b("1"), with_ttl(TTL))
        .await
        .unwrap();
    kv.set_many(ns, vec![("batch".into(), b("2"))])
        .await
        .unwrap();
    kv.set_with(ns, "count", b("5"), with_ttl(TTL))
        .await
        .unwrap();
    assert_eq!(
        kv.increment(ns, "count", 2, CounterRange::I64)
            .await
            .unwrap(),
        7
    );
    assert!(matches!(
        kv.expiry(ns, "count").await.unwrap(),
        Some(Expiry::At(_))
    ));
    (s.advance)(LATER);
    assert_eq!(kv.get(ns, "plain").await.unwrap(), Some(b("2")));
    assert_eq!(kv.get(ns, "batch").await.unwrap(), Some(b("2")));
    assert_eq!(
        kv.get(ns, "count").await.unwrap(),
        None,
        "the increment kept the TTL"
    );
    assert_eq!(
        kv.increment(ns, "count", 1, CounterRange::I64)
            .await
            .unwrap(),
        1,
        "an expired counter counts as absent"
    );
    assert_eq!(kv.expiry(ns, "count").await.unwrap(), Some(Expiry::Never));
}

async fn create_if_absent_writes_once(s: &Store) {
    let (kv, ns) = (&*s.kv, "create");
    assert!(kv.set_with(ns, "k", b("first"), CREATE).await.unwrap());
    assert!(!kv.set_with(ns, "k", b("second"), CREATE).await.unwrap());
    assert_eq!(kv.get(ns, "k").await.unwrap(), Some(b("first")));
    let short = SetOptions {
        ttl: Some(TTL),
        if_absent: true,
    };
    assert!(kv.set_with(ns, "t", b("1"), short).await.unwrap());
    (s.advance)(LATER);
    assert!(
        kv.set_with(ns, "t", b("2"), CREATE).await.unwrap(),
        "{}: an expired entry blocked a create",
        kv.describe()
    );
    assert_eq!(kv.get(ns, "t").await.unwrap(), Some(b("2")));
    assert_eq!(kv.expiry(ns, "t").await.unwrap(), Some(Expiry::Never));

    // Racing creators: exactly one wins.
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let kv = s.kv.clone();
            tokio::spawn(async move {
                kv.set_with("create", "race", b(&i.to_string()), CREATE)
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, racer) in racers.into_iter().enumerate() {
        if racer.await.unwrap().unwrap() {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{}: winners {winners:?}", kv.describe());
    assert_eq!(
        kv.get(ns, "race").await.unwrap(),
        Some(b(&winners[0].to_string()))
    );
}

fn by_version(version: &str) -> SwapCondition {
    SwapCondition {
        version: Some(version.to_string()),
        value: None,
    }
}

async fn every_write_gives_a_new_version(s: &Store) {
    let (kv, ns) = (&*s.kv, "versions");
    assert_eq!(kv.get_entry(ns, "k").await.unwrap(), None);
    assert_eq!(
        kv.swap(ns, "k", b("x"), &by_version("0")).await.unwrap(),
        Swap::Stale(None),
        "an absent key meets no condition"
    );
    kv.set(ns, "k", b("A")).await.unwrap();
    let first = kv.get_entry(ns, "k").await.unwrap().unwrap();
    assert_eq!(first.value, b("A"));
    assert_eq!(
        kv.get_entry(ns, "k").await.unwrap().unwrap().version,
        first.version,
        "a read changed the version"
    );
    // A → B → A through every kind of write: each leaves a new version.
    let writes: Vec<(&str, Bytes)> = vec![("set", b("B")), ("set", b("A"))];
    let mut seen = vec![first.version.clone()];
    for (how, value) in writes {
        assert_eq!(how, "set");
        kv.set(ns, "k", value).await.unwrap();
        seen.push(kv.get_entry(ns, "k").await.unwrap().unwrap().version);
    }
    kv.set_many(ns, vec![("k".into(), b("A"))]).await.unwrap();
    seen.push(kv.get_entry(ns, "k").await.unwrap().unwrap().version);
    assert!(
        kv.compare_and_swap(ns, "k", Some(b"A"), b("A"))
            .await
            .unwrap()
    );
    seen.push(kv.get_entry(ns, "k").await.unwrap().unwrap().version);
    kv.set_with(ns, "k", b("A"), with_ttl(TTL)).await.unwrap();
    seen.push(kv.get_entry(ns, "k").await.unwrap().unwrap().version);
    kv.delete(ns, "k").await.unwrap();
    kv.set(ns, "k", b("7")).await.unwrap();
    seen.push(kv.get_entry(ns, "k").await.unwrap().unwrap().version);
    kv.increment(ns, "k", 0, CounterRange::I64).await.unwrap();
    seen.push(kv.get_entry(ns, "k").await.unwrap().unwrap().version);
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "{}: versions repeat: {seen:?}",
        kv.describe()
    );

    let now = kv.get_entry(ns, "k").await.unwrap().unwrap();
    match kv
        .swap(ns, "k", b("x"), &by_version(&first.version))
        .await
        .unwrap()
    {
        Swap::Stale(Some(entry)) => assert_eq!(entry, now),
        other => panic!("{}: a swap on an old version: {other:?}", kv.describe()),
    }
    assert_eq!(
        kv.swap(ns, "k", b("8"), &by_version(&now.version))
            .await
            .unwrap(),
        Swap::Swapped
    );
    assert_eq!(kv.get(ns, "k").await.unwrap(), Some(b("8")));
    let by_value = |v: &str| SwapCondition {
        version: None,
        value: Some(b(v)),
    };
    assert!(matches!(
        kv.swap(ns, "k", b("9"), &by_value("7")).await.unwrap(),
        Swap::Stale(Some(_))
    ));
    assert_eq!(
        kv.swap(ns, "k", b("9"), &by_value("8")).await.unwrap(),
        Swap::Swapped
    );
    let both = SwapCondition {
        version: Some(kv.get_entry(ns, "k").await.unwrap().unwrap().version),
        value: Some(b("not it")),
    };
    assert!(
        matches!(
            kv.swap(ns, "k", b("10"), &both).await.unwrap(),
            Swap::Stale(_)
        ),
        "both parts of a condition must hold"
    );
    assert_eq!(kv.get(ns, "k").await.unwrap(), Some(b("9")));
}

/// Read-modify-write loops racing on one counter through versioned swaps:
/// no update is lost.
async fn racing_swaps_lose_no_update(s: &Store) {
    let ns = "race";
    s.kv.set(ns, "n", b("0")).await.unwrap();
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let kv = s.kv.clone();
            tokio::spawn(async move {
                let mut stale = 0;
                for _ in 0..EACH {
                    loop {
                        let entry = kv.get_entry(ns, "n").await.unwrap().unwrap();
                        let n: u64 = std::str::from_utf8(&entry.value).unwrap().parse().unwrap();
                        let next = b(&(n + 1).to_string());
                        match kv
                            .swap(ns, "n", next, &by_version(&entry.version))
                            .await
                            .unwrap()
                        {
                            Swap::Swapped => break,
                            Swap::Stale(_) => stale += 1,
                        }
                    }
                }
                stale
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        s.kv.get(ns, "n").await.unwrap(),
        Some(b(&(TASKS * EACH).to_string())),
        "{}",
        s.kv.describe()
    );
}

async fn all(s: Store) {
    an_expired_entry_is_never_read(&s).await;
    a_write_without_ttl_clears_it_and_an_increment_keeps_it(&s).await;
    create_if_absent_writes_once(&s).await;
    every_write_gives_a_new_version(&s).await;
    racing_swaps_lose_no_update(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memory() {
    all(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    all(sqlite(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let server = RedisServer::start();
    all(redis(server.url(), vec![server.port()]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_cluster() {
    let cluster = RedisCluster::start();
    let ports = cluster.nodes().iter().map(RedisServer::port).collect();
    all(redis(cluster.url(), ports).await).await;
}

/// Redis's own clock, once, without moving deadlines: an entry written
/// with a short TTL is gone when it passes, value and version alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_expires_entries_on_its_own_clock() {
    let server = RedisServer::start();
    let s = redis(server.url(), vec![server.port()]).await;
    let ns = "own-clock";
    s.kv.set_with(ns, "k", b("v"), with_ttl(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(s.kv.get_entry(ns, "k").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.kv.get(ns, "k").await.unwrap(), None);
    assert_eq!(
        server.cli(&["DBSIZE"]),
        "0",
        "the version key outlived its entry"
    );
}
