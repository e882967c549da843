//! The differential test: one seeded random sequence of operations (every
//! bucket function, odd keys, counters at the edges of both ranges,
//! batches, listings, writes with a TTL, create-if-absent, versioned and
//! byte-compared swaps, and time moving on) run through the engine on
//! memory, SQLite, a Redis server and a Redis Cluster must give the same
//! result at every step. Time is the test's: memory and SQLite read a
//! clock it moves, and on Redis it moves every deadline by as much.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wasmkv_backend::memory::MemoryBackend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};
use wasmkv_backend::{ManualClock, SharedBackend};
use wasmkv_engine::{
    Bucket, Bytes, Cause, Engine, Entry, Expiry, HostBudget, KvError, SetOptions, StoreUrl, Swap,
    SwapCondition,
};
use wasmkv_test_servers::{RedisCluster, RedisServer, shift_deadlines};

/// Operations per backend and seed.
const STEPS: usize = 1500;
const SEEDS: [u64; 2] = [0x5eed_0001, 0x5eed_0002];

/// xorshift64*: a few lines, no dependency, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "a",
    "a:b",
    "a:b:c",
    "*",
    "[x]",
    "?",
    "\\",
    "ü",
    "日本",
    "line\nbreak",
    "nul\0byte",
    " ",
    "k ",
    "wasmkv:7:default:x",
    "0",
    "-1",
    "counter",
    "%s",
    "{tag}",
];

const VALUES: &[&[u8]] = &[
    b"",
    b"v",
    b"0",
    b"1",
    b"-5",
    b"01",
    b"+1",
    b"-0",
    b"abc",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"\xff\x00\xfe",
];

const U64_DELTAS: &[u64] = &[0, 1, 2, 1000, u64::MAX, u64::MAX - 1, 1 << 63];
const I64_DELTAS: &[i64] = &[0, 1, -1, i64::MAX, i64::MIN, -(1 << 40), 7];

/// What an operation gave, in a form every backend must agree on: values
/// exactly, errors by what they mean (counter refusals word for word, since
/// one codec words them; anything else by kind).
fn outcome<T: std::fmt::Debug>(result: Result<T, KvError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(e) => match e.cause() {
            Cause::Counter(c) => format!("counter refused: {c}"),
            Cause::InvalidKey(_) => "invalid key".into(),
            Cause::ValueTooLarge { .. } => "value too large".into(),
            Cause::TooMany { limit, .. } => format!("too many: {limit}"),
            other => format!("error: {other}"),
        },
    }
}

fn value_from(rng: &mut Rng) -> Bytes {
    let value = VALUES[rng.below(VALUES.len())];
    Bytes::from_static(value)
}

fn some_keys(rng: &mut Rng) -> Vec<String> {
    (0..rng.below(6))
        .map(|_| (*rng.pick(KEYS)).to_string())
        .collect()
}

/// The TTLs a step writes with: one that a few [`ADVANCE`]s pass, one no
/// run reaches. Both far longer than a run takes in real time, so Redis's
/// own clock never expires an entry before the test moves time.
const TTLS: [Duration; 2] = [Duration::from_secs(100), Duration::from_secs(100_000)];
/// How far one "time passes" step moves the clock.
const ADVANCE: Duration = Duration::from_secs(40);

/// A store under test and how its time moves.
struct Store {
    backend: SharedBackend,
    advance: Box<dyn Fn(Duration) + Send + Sync>,
}

/// What a run has seen of versions: each store's opaque versions become
/// `v0`, `v1`, … in the order they first appear, so stores whose versions
/// change at the same steps give the same trace.
#[derive(Default)]
struct Versions {
    names: HashMap<String, usize>,
    /// The last version read for each key, for the swaps that use it.
    seen: HashMap<String, String>,
}

impl Versions {
    fn name(&mut self, version: &str) -> String {
        let next = self.names.len();
        format!("v{}", self.names.entry(version.to_string()).or_insert(next))
    }

    fn entry(&mut self, key: &str, entry: Option<Entry>) -> String {
        match entry {
            None => "none".into(),
            Some(entry) => {
                self.seen.insert(key.to_string(), entry.version.clone());
                format!("{:?} {}", entry.value, self.name(&entry.version))
            }
        }
    }
}

async fn step(
    bucket: &Bucket,
    store: &Store,
    versions: &mut Versions,
    rng: &mut Rng,
) -> (String, String) {
    let key = (*rng.pick(KEYS)).to_string();
    let value = value_from(rng);
    match rng.below(20) {
        14 | 15 => {
            let options = SetOptions {
                ttl: (rng.below(3) > 0).then(|| *rng.pick(&TTLS)),
                if_absent: rng.below(2) == 0,
            };
            (
                format!("set-with {key:?} {value:?} {options:?}"),
                outcome(bucket.set_with(&key, value, options).await),
            )
        }
        16 => {
            let current = bucket.current(&key).await;
            let shown = current.map(|entry| versions.entry(&key, entry));
            (format!("current {key:?}"), outcome(shown))
        }
        17 => {
            let version = match rng.below(3) {
                0 => None,
                1 => Some("not a version".to_string()),
                _ => versions.seen.get(&key).cloned(),
            };
            let bytes = (rng.below(3) == 0).then(|| value_from(rng));
            let condition = SwapCondition {
                version: version.clone(),
                value: bytes.clone(),
            };
            let shown_version = version.as_deref().map(|v| match versions.names.get(v) {
                Some(n) => format!("v{n}"),
                None => v.to_string(),
            });
            let swapped = bucket.swap(&key, value.clone(), &condition).await;
            let shown = swapped.map(|swap| match swap {
                Swap::Swapped => "swapped".to_string(),
                Swap::Stale(entry) => format!("stale {}", versions.entry(&key, entry)),
            });
            (
                format!("swap {key:?} {value:?} if version {shown_version:?} bytes {bytes:?}"),
                outcome(shown),
            )
        }
        18 => {
            let expiry = bucket.expiry(&key).await.map(|e| match e {
                None => "absent",
                Some(Expiry::Never) => "never",
                Some(Expiry::At(_)) => "expires",
            });
            (format!("expiry {key:?}"), outcome(expiry))
        }
        19 => {
            (store.advance)(ADVANCE);
            ("time passes".into(), "ok".into())
        }
        other => plain_step(bucket, key, value, other, rng).await,
    }
}

/// The operations every store has had from the start.
async fn plain_step(
    bucket: &Bucket,
    key: String,
    value: Bytes,
    which: usize,
    rng: &mut Rng,
) -> (String, String) {
    match which {
        0 => (format!("get {key:?}"), outcome(bucket.get(&key).await)),
        13 => (
            format!("get as owned bytes {key:?}"),
            outcome(bucket.get_vec(&key).await),
        ),
        1 | 2 => (
            format!("set {key:?} {value:?}"),
            outcome(bucket.set(&key, value).await),
        ),
        3 => (
            format!("delete {key:?}"),
            outcome(bucket.delete(&key).await),
        ),
        4 => (
            format!("exists {key:?}"),
            outcome(bucket.exists(&key).await),
        ),
        5 => {
            let delta = *rng.pick(U64_DELTAS);
            (
                format!("increment u64 {key:?} {delta}"),
                outcome(bucket.increment_u64(&key, delta).await),
            )
        }
        6 => {
            let delta = *rng.pick(I64_DELTAS);
            (
                format!("increment i64 {key:?} {delta}"),
                outcome(bucket.increment_i64(&key, delta).await),
            )
        }
        7 => {
            let expected = match rng.below(3) {
                0 => None,
                _ => Some(*rng.pick(VALUES)),
            };
            (
                format!("cas {key:?} {expected:?} -> {value:?}"),
                outcome(bucket.compare_and_swap(&key, expected, value).await),
            )
        }
        8 => {
            let (old, new) = (*rng.pick(U64_DELTAS), *rng.pick(U64_DELTAS));
            (
                format!("cas counter {key:?} {old} -> {new}"),
                outcome(
                    bucket
                        .compare_and_swap_counter(&key, old.into(), new.into())
                        .await,
                ),
            )
        }
        9 => {
            let keys = some_keys(rng);
            let budget = HostBudget::new(usize::MAX);
            let got = bucket.get_many(&keys, &budget).await;
            (
                format!("get-many {keys:?}"),
                outcome(got.map(|(values, _charge)| values)),
            )
        }
        10 => {
            let items: Vec<(String, Bytes)> = (0..rng.below(6))
                .map(|_| {
                    let key = (*rng.pick(KEYS)).to_string();
                    (key, value_from(rng))
                })
                .collect();
            // A later pair for the same key wins on every backend.
            (
                format!("set-many {items:?}"),
                outcome(bucket.set_many(items).await),
            )
        }
        11 => {
            let keys = some_keys(rng);
            (
                format!("delete-many {keys:?}"),
                outcome(bucket.delete_many(&keys).await),
            )
        }
        _ => {
            let listed = bucket.keys().await.map(|mut keys| {
                keys.sort();
                keys
            });
            ("keys".into(), outcome(listed))
        }
    }
}

fn memory() -> Store {
    let clock = ManualClock::starting_now();
    let moved = clock.clone();
    Store {
        backend: Arc::new(MemoryBackend::with_clock(clock)),
        advance: Box::new(move |by| moved.advance(by)),
    }
}

fn sqlite(path: &std::path::Path) -> Store {
    let clock = ManualClock::starting_now();
    let moved = clock.clone();
    let options = SqliteOptions {
        clock,
        ..SqliteOptions::default()
    };
    Store {
        backend: Arc::new(SqliteBackend::open(path, options).unwrap()),
        advance: Box::new(move |by| moved.advance(by)),
    }
}

async fn redis(url: String, ports: Vec<u16>) -> Store {
    let url: StoreUrl = url.parse().unwrap();
    Store {
        backend: url
            .open()
            .await
            .expect("the store must be reachable: a backend that is not is a failure"),
        advance: Box::new(move |by| shift_deadlines(&ports, by)),
    }
}

async fn run(store: Store, bucket_name: &str, seed: u64) -> Vec<(String, String)> {
    let engine = Engine::builder()
        .store("s", store.backend.clone())
        .grant(bucket_name, "s")
        .build()
        .await
        .unwrap();
    let bucket = engine.open_bucket(bucket_name).unwrap();
    let mut rng = Rng(seed);
    let mut versions = Versions::default();
    let mut trace = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        trace.push(step(&bucket, &store, &mut versions, &mut rng).await);
    }
    // The final contents, key by key.
    let mut keys = bucket.keys().await.unwrap();
    keys.sort();
    for key in keys {
        trace.push((format!("final {key:?}"), outcome(bucket.get(&key).await)));
    }
    trace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_gives_the_same_result_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start();
    let cluster = RedisCluster::start();
    for seed in SEEDS {
        let bucket = format!("diff-{seed:x}");
        let reference = run(memory(), &bucket, seed).await;
        // The sequence reaches the interesting outcomes, not only "ok".
        for needle in [
            "counter refused",
            "ok Some(",
            "ok true",
            "ok false",
            "ok []",
            "ok \"swapped\"",
            "ok \"stale b",
            "ok \"stale none\"",
            "ok \"expires\"",
            "ok \"never\"",
        ] {
            assert!(
                reference.iter().any(|(_, got)| got.starts_with(needle)),
                "seed {seed:x} never gave {needle:?}"
            );
        }
        let cluster_ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
        let others = [
            (
                "sqlite",
                sqlite(&dir.path().join(format!("kv-{seed:x}.db"))),
            ),
            ("redis", redis(server.url(), vec![server.port()]).await),
            ("redis-cluster", redis(cluster.url(), cluster_ports).await),
        ];
        for (name, store) in others {
            let trace = run(store, &bucket, seed).await;
            for (i, (want, got)) in reference.iter().zip(&trace).enumerate() {
                assert_eq!(
                    want, got,
                    "seed {seed:x}, step {i}: {name} differs from memory"
                );
            }
            assert_eq!(
                trace.len(),
                reference.len(),
                "{name}: the final contents differ"
            );
        }
    }
}
