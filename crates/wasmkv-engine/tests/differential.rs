//! The differential test: one seeded random sequence of operations (every
//! bucket function, odd keys, counters at the edges of both ranges,
//! batches, listings) run through the engine on memory, SQLite, a Redis
//! server and a Redis Cluster must give the same result at every step.

use wasmkv_engine::{Bucket, Bytes, Cause, Engine, HostBudget, KvError, StoreUrl};
use wasmkv_test_servers::{RedisCluster, RedisServer};

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

async fn step(bucket: &Bucket, rng: &mut Rng) -> (String, String) {
    let key = (*rng.pick(KEYS)).to_string();
    let value = value_from(rng);
    match rng.below(14) {
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

async fn run(url: StoreUrl, bucket_name: &str, seed: u64) -> Vec<(String, String)> {
    let engine = Engine::builder()
        .store_url("s", url)
        .grant(bucket_name, "s")
        .build()
        .await
        .expect("the store must be reachable: a backend that is not is a failure");
    let bucket = engine.open_bucket(bucket_name).unwrap();
    let mut rng = Rng(seed);
    let mut trace = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        trace.push(step(&bucket, &mut rng).await);
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
        let reference = run(StoreUrl::memory(), &bucket, seed).await;
        // The sequence reaches the interesting outcomes, not only "ok".
        for needle in [
            "counter refused",
            "ok Some(",
            "ok true",
            "ok false",
            "ok []",
        ] {
            assert!(
                reference.iter().any(|(_, got)| got.starts_with(needle)),
                "seed {seed:x} never gave {needle:?}"
            );
        }
        let others = [
            ("sqlite", StoreUrl::sqlite(dir.path().join("kv.db"))),
            ("redis", server.url().parse().unwrap()),
            ("redis-cluster", cluster.url().parse().unwrap()),
        ];
        for (name, url) in others {
            let trace = run(url, &bucket, seed).await;
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
