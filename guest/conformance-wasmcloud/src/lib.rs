//! Conformance checks for `wasmcloud:keyvalue@0.2.0`, one line each, then
//! `N passed, M failed`: every function, option and error case. The host
//! must grant bucket `wasmcloud` and must not grant `wasmcloud-denied`.
//!
//! Modes for the host tests that need more than one process or interface:
//! `get BUCKET KEY`, `set BUCKET KEY VALUE [TTL_MS]`, `create BUCKET KEY
//! VALUE [TTL_MS]` (prints `created` or `exists`), `incr BUCKET KEY DELTA`,
//! `current BUCKET KEY` (prints `VERSION VALUE`, or `(none)`), `swap BUCKET
//! KEY VERSION VALUE` (prints `swapped` or `stale`), `swap-incr BUCKET KEY
//! TIMES` (a read-modify-write loop on versions; prints how many swaps went
//! stale), `keys BUCKET [PREFIX]` and `two-gets BUCKET KEY1 KEY2` (both
//! awaited at once).

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use conformance_harness::{Harness, Outcome, ensure};
use wasmkv_guest::wasmcloud::{Bucket, Error, Require, SetOptions, Swap};

const MAIN: &str = "wasmcloud";

/// The TTL of the checks' short-lived entries: long enough that a busy
/// machine reads them back before it passes, short enough to wait out.
const SHORT: Duration = Duration::from_millis(1500);
/// Past [`SHORT`].
const PAST_SHORT_MS: u64 = 2100;

struct Command;

impl wasip3::exports::cli::run::Guest for Command {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args.is_empty() {
            return if checks().await { Ok(()) } else { Err(()) };
        }
        match mode(&args).await {
            Ok(out) => {
                println!("{out}");
                Ok(())
            }
            Err(e) => {
                println!("error: {e}");
                Err(())
            }
        }
    }
}

wasip3::cli::command::export!(Command);

/// Awaits both futures at once, polling each in turn: two calls in flight
/// together, as `join` would have them.
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

async fn mode(args: &[&str]) -> Result<String, String> {
    let open = |name: &str| {
        let name = name.to_string();
        async move { Bucket::open(&name).await.map_err(|e| format!("open: {e}")) }
    };
    let ttl = |ms: Option<&&str>| -> Result<Option<Duration>, String> {
        ms.map(|ms| {
            ms.parse()
                .map(Duration::from_millis)
                .map_err(|e| format!("{e}"))
        })
        .transpose()
    };
    let text = |v: Option<Vec<u8>>| {
        v.map_or("(none)".to_string(), |v| {
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    match args {
        ["get", bucket, key] => Ok(text(
            open(bucket)
                .await?
                .get(key)
                .await
                .map_err(|e| e.to_string())?,
        )),
        ["set", bucket, key, value, rest @ ..] => {
            let options = SetOptions {
                ttl: ttl(rest.first())?,
                if_not_exists: false,
            };
            open(bucket)
                .await?
                .set_with(key, value.as_bytes(), options)
                .await
                .map_err(|e| e.to_string())?;
            Ok("ok".into())
        }
        ["create", bucket, key, value, rest @ ..] => {
            let options = SetOptions {
                ttl: ttl(rest.first())?,
                if_not_exists: true,
            };
            match open(bucket)
                .await?
                .set_with(key, value.as_bytes(), options)
                .await
            {
                Ok(()) => Ok("created".into()),
                Err(Error::PreconditionFailed) => Ok("exists".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        ["incr", bucket, key, delta] => {
            let delta: i64 = delta.parse().map_err(|e| format!("{e}"))?;
            let n = open(bucket)
                .await?
                .increment(key, delta)
                .await
                .map_err(|e| e.to_string())?;
            Ok(n.to_string())
        }
        ["current", bucket, key] => match open(bucket)
            .await?
            .current(key)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(entry) => Ok(format!(
                "{} {}",
                entry.version,
                String::from_utf8_lossy(&entry.value)
            )),
            None => Ok("(none)".into()),
        },
        ["swap", bucket, key, version, value] => {
            match open(bucket)
                .await?
                .swap(key, value.as_bytes(), Require::Version(version))
                .await
            {
                Ok(Swap::Swapped) => Ok("swapped".into()),
                Ok(Swap::Stale(_)) => Ok("stale".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        ["swap-incr", bucket, key, times] => {
            let times: u64 = times.parse().map_err(|e| format!("{e}"))?;
            let b = open(bucket).await?;
            let mut stale = 0u64;
            for _ in 0..times {
                loop {
                    let seen = b.current(key).await.map_err(|e| e.to_string())?;
                    let (n, require) = match &seen {
                        Some(entry) => {
                            let n: u64 = String::from_utf8_lossy(&entry.value)
                                .parse()
                                .map_err(|e| format!("{e}"))?;
                            (n, Some(entry.version.as_str()))
                        }
                        None => (0, None),
                    };
                    let next = (n + 1).to_string();
                    let done = match require {
                        Some(version) => {
                            b.swap(key, next.as_bytes(), Require::Version(version))
                                .await
                                .map_err(|e| e.to_string())?
                                == Swap::Swapped
                        }
                        None => b
                            .create(key, next.as_bytes())
                            .await
                            .map_err(|e| e.to_string())?,
                    };
                    if done {
                        break;
                    }
                    stale += 1;
                }
            }
            Ok(format!("stale {stale}"))
        }
        ["keys", bucket, rest @ ..] => {
            let keys = open(bucket)
                .await?
                .keys(rest.first().copied())
                .await
                .map_err(|e| e.to_string())?;
            Ok(keys.join("\n"))
        }
        ["two-gets", bucket, k1, k2] => {
            let b = open(bucket).await?;
            let (a, c) = join(b.get(k1), b.get(k2)).await;
            Ok(format!(
                "{} {}",
                text(a.map_err(|e| e.to_string())?),
                text(c.map_err(|e| e.to_string())?)
            ))
        }
        _ => Err(format!("unknown mode {args:?}")),
    }
}

/// Opens the main bucket and removes every key in it.
async fn fresh() -> Result<Bucket, String> {
    let b = Bucket::open(MAIN).await.map_err(|e| format!("open: {e}"))?;
    let keys = b.keys(None).await.map_err(|e| format!("keys: {e}"))?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    for chunk in keys.chunks(1000) {
        b.delete_many(chunk)
            .await
            .map_err(|e| format!("delete-many: {e}"))?;
    }
    Ok(b)
}

fn expect_err<T: std::fmt::Debug>(got: Result<T, Error>, want: Error, what: &str) -> Outcome {
    match got {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: expected {want:?}, got {other:?}")),
    }
}

/// Waits on the host's monotonic clock.
async fn sleep(ms: u64) {
    wasip3::clocks::monotonic_clock::wait_for(ms * 1_000_000).await;
}

async fn checks() -> bool {
    let mut h = Harness::default();
    h.check_async(
        "open: a granted bucket opens, an ungranted one is access-denied",
        async {
            Bucket::open(MAIN).await.map_err(|e| format!("{e}"))?;
            expect_err(
                Bucket::open("wasmcloud-denied").await.map(|_| ()),
                Error::AccessDenied,
                "ungranted",
            )
        },
    )
    .await;
    h.check_async("get, set, exists and delete of one key", async {
        let b = fresh().await?;
        ensure!(b.get("k").await == Ok(None), "absent key read as present");
        ensure!(b.exists("k").await == Ok(false), "absent key exists");
        b.set("k", b"v1").await.map_err(|e| e.to_string())?;
        ensure!(b.get("k").await == Ok(Some(b"v1".to_vec())), "set then get");
        b.set("k", b"v2").await.map_err(|e| e.to_string())?;
        ensure!(b.get("k").await == Ok(Some(b"v2".to_vec())), "overwrite");
        ensure!(
            b.exists("k").await == Ok(true),
            "present key does not exist"
        );
        b.delete("k").await.map_err(|e| e.to_string())?;
        ensure!(b.get("k").await == Ok(None), "deleted key still there");
        b.delete("k")
            .await
            .map_err(|e| format!("deleting an absent key: {e}"))?;
        b.set("empty", b"").await.map_err(|e| e.to_string())?;
        ensure!(
            b.get("empty").await == Ok(Some(Vec::new())),
            "an empty value is present"
        );
        ensure!(b.exists("empty").await == Ok(true), "an empty value exists");
        Ok(())
    })
    .await;
    h.check_async("bad keys are invalid-argument", async {
        let b = fresh().await?;
        expect_err(b.set("", b"v").await, Error::InvalidArgument, "empty key")?;
        expect_err(
            b.get(&"k".repeat(5000)).await,
            Error::InvalidArgument,
            "key over 4096 bytes",
        )
    })
    .await;
    h.check_async(
        "ttl-ms: the entry is there, then gone; 0 is invalid-argument",
        async {
            let b = fresh().await?;
            b.set_with_ttl("short", b"v", SHORT)
                .await
                .map_err(|e| e.to_string())?;
            b.set_with_ttl("long", b"v", Duration::from_secs(3600))
                .await
                .map_err(|e| e.to_string())?;
            ensure!(
                b.get("short").await == Ok(Some(b"v".to_vec())),
                "not readable before its TTL"
            );
            sleep(PAST_SHORT_MS).await;
            ensure!(b.get("short").await == Ok(None), "readable after its TTL");
            ensure!(b.exists("short").await == Ok(false), "exists after its TTL");
            ensure!(
                b.current("short").await == Ok(None),
                "current after its TTL"
            );
            ensure!(
                b.get_many(&["short", "long"]).await == Ok(vec![None, Some(b"v".to_vec())]),
                "get-many after its TTL"
            );
            let keys = b.keys(None).await.map_err(|e| e.to_string())?;
            ensure!(keys == ["long"], "listed after its TTL: {keys:?}");
            expect_err(
                b.set_with_ttl("zero", b"v", Duration::ZERO).await,
                Error::InvalidArgument,
                "ttl-ms 0",
            )
        },
    )
    .await;
    h.check_async(
        "a write without ttl-ms clears an expiry; an increment keeps it",
        async {
            let b = fresh().await?;
            b.set_with_ttl("cleared", b"1", SHORT)
                .await
                .map_err(|e| e.to_string())?;
            b.set("cleared", b"2").await.map_err(|e| e.to_string())?;
            b.set_with_ttl("kept", b"5", SHORT)
                .await
                .map_err(|e| e.to_string())?;
            ensure!(
                b.increment("kept", 1).await == Ok(6),
                "increment of a TTL counter"
            );
            sleep(PAST_SHORT_MS).await;
            ensure!(
                b.get("cleared").await == Ok(Some(b"2".to_vec())),
                "a plain set did not clear the TTL"
            );
            ensure!(
                b.get("kept").await == Ok(None),
                "the increment dropped the TTL"
            );
            Ok(())
        },
    )
    .await;
    h.check_async(
        "if-not-exists creates once, then precondition-failed",
        async {
            let b = fresh().await?;
            ensure!(b.create("c", b"first").await == Ok(true), "first create");
            expect_err(
                b.set_with(
                    "c",
                    b"second",
                    SetOptions {
                        ttl: None,
                        if_not_exists: true,
                    },
                )
                .await,
                Error::PreconditionFailed,
                "second create",
            )?;
            ensure!(
                b.get("c").await == Ok(Some(b"first".to_vec())),
                "a lost create wrote"
            );
            b.delete("c").await.map_err(|e| e.to_string())?;
            ensure!(
                b.create("c", b"again").await == Ok(true),
                "create after delete"
            );
            ensure!(
                b.create_with_ttl("t", b"1", SHORT).await == Ok(true),
                "create with ttl"
            );
            sleep(PAST_SHORT_MS).await;
            ensure!(
                b.create("t", b"2").await == Ok(true),
                "an expired entry blocked a create"
            );
            Ok(())
        },
    )
    .await;
    h.check_async(
        "list-keys: every key once, prefixes, cursors; a forged cursor is invalid-argument",
        async {
            let b = fresh().await?;
            let mut pairs: Vec<(String, Vec<u8>)> = (0..1500)
                .map(|i| (format!("item-{i:04}"), vec![1]))
                .collect();
            pairs.push(("other".into(), vec![2]));
            let refs: Vec<(&str, &[u8])> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            for chunk in refs.chunks(500) {
                b.set_many(chunk).await.map_err(|e| e.to_string())?;
            }
            let mut all = b.keys(None).await.map_err(|e| e.to_string())?;
            all.sort();
            ensure!(all.len() == 1501, "{} keys listed", all.len());
            all.dedup();
            ensure!(all.len() == 1501, "a key was listed twice");
            let items = b.keys(Some("item-")).await.map_err(|e| e.to_string())?;
            ensure!(
                items.len() == 1500 && items.iter().all(|k| k.starts_with("item-")),
                "prefix listing gave {}",
                items.len()
            );
            let none = b.keys(Some("nothing-")).await.map_err(|e| e.to_string())?;
            ensure!(none.is_empty(), "a prefix nothing has listed {none:?}");
            expect_err(
                b.list_keys(None, Some("not a cursor")).await,
                Error::InvalidArgument,
                "forged cursor",
            )
        },
    )
    .await;
    h.check_async(
        "atomics.increment: signed, canonical decimal, refusals leave the value",
        async {
            let b = fresh().await?;
            ensure!(b.increment("n", 5).await == Ok(5), "absent counts as 0");
            ensure!(b.increment("n", -12).await == Ok(-7), "negative delta");
            ensure!(
                b.get("n").await == Ok(Some(b"-7".to_vec())),
                "stored as canonical decimal"
            );
            b.set("word", b"abc").await.map_err(|e| e.to_string())?;
            expect_err(
                b.increment("word", 1).await,
                Error::InvalidArgument,
                "not a number",
            )?;
            ensure!(
                b.get("word").await == Ok(Some(b"abc".to_vec())),
                "a refused increment changed the value"
            );
            b.set("max", i64::MAX.to_string().as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            expect_err(
                b.increment("max", 1).await,
                Error::InvalidArgument,
                "overflow",
            )?;
            ensure!(
                b.get("max").await == Ok(Some(i64::MAX.to_string().into_bytes())),
                "overflow changed the value"
            );
            Ok(())
        },
    )
    .await;
    h.check_async("cas: current, swap on version and on value, stale with the entry, A-B-A seen", async {
        let b = fresh().await?;
        ensure!(b.current("k").await == Ok(None), "current of an absent key");
        ensure!(b.swap("k", b"x", Require::Value(b"x")).await == Ok(Swap::Stale(None)), "swap of an absent key");
        b.set("k", b"A").await.map_err(|e| e.to_string())?;
        let first = b.current("k").await.map_err(|e| e.to_string())?.ok_or("current lost the entry")?;
        ensure!(first.value == b"A", "current's value");
        b.set("k", b"B").await.map_err(|e| e.to_string())?;
        b.set("k", b"A").await.map_err(|e| e.to_string())?;
        let now = b.current("k").await.map_err(|e| e.to_string())?.ok_or("entry lost")?;
        ensure!(now.version != first.version, "A-B-A left the version as it was");
        match b.swap("k", b"C", Require::Version(&first.version)).await {
            Ok(Swap::Stale(Some(entry))) => ensure!(entry == now, "stale gave {entry:?}, not {now:?}"),
            other => return Err(format!("swap on an old version: {other:?}")),
        }
        ensure!(b.swap("k", b"C", Require::Version(&now.version)).await == Ok(Swap::Swapped), "swap on the current version");
        ensure!(b.get("k").await == Ok(Some(b"C".to_vec())), "the swap did not store");
        ensure!(matches!(b.swap("k", b"D", Require::Value(b"A")).await, Ok(Swap::Stale(Some(_)))), "swap on old bytes");
        ensure!(b.swap("k", b"D", Require::Value(b"C")).await == Ok(Swap::Swapped), "swap on the current bytes");
        let v = b.current("k").await.map_err(|e| e.to_string())?.ok_or("entry lost")?.version;
        ensure!(matches!(b.swap("k", b"E", Require::Both(&v, b"no")).await, Ok(Swap::Stale(_))), "both must hold");
        let raw = wasmkv_guest::wasmcloud::bindings::wasmcloud::keyvalue::cas::CasOptions { require_version: None, require_value: None };
        let empty = wasmkv_guest::wasmcloud::bindings::wasmcloud::keyvalue::cas::swap(b.raw(), "k".into(), b"F".to_vec(), raw).await;
        ensure!(matches!(empty, Err(wasmkv_guest::wasmcloud::bindings::wasmcloud::keyvalue::types::Error::InvalidArgument)), "empty cas-options: {empty:?}");
        ensure!(b.get("k").await == Ok(Some(b"D".to_vec())), "a refused swap wrote");
        Ok(())
    })
    .await;
    h.check_async("batch: get-many, set-many, delete-many", async {
        let b = fresh().await?;
        b.set_many(&[("a", b"1"), ("b", b"2")])
            .await
            .map_err(|e| e.to_string())?;
        ensure!(
            b.get_many(&["a", "x", "b"]).await
                == Ok(vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]),
            "get-many"
        );
        b.delete_many(&["a", "x"])
            .await
            .map_err(|e| e.to_string())?;
        ensure!(
            b.get_many(&["a", "b"]).await == Ok(vec![None, Some(b"2".to_vec())]),
            "after delete-many"
        );
        expect_err(
            b.set_many(&[("ok", b"1"), ("", b"2")]).await,
            Error::InvalidArgument,
            "a batch with an empty key",
        )?;
        ensure!(b.get("ok").await == Ok(None), "a refused batch wrote");
        Ok(())
    })
    .await;
    h.check_async("two gets awaited at once both answer", async {
        let b = fresh().await?;
        b.set_many(&[("a", b"1"), ("b", b"2")])
            .await
            .map_err(|e| e.to_string())?;
        let (x, y) = join(b.get("a"), b.get("b")).await;
        ensure!(
            x == Ok(Some(b"1".to_vec())) && y == Ok(Some(b"2".to_vec())),
            "{x:?} {y:?}"
        );
        Ok(())
    })
    .await;
    h.finish() == std::process::ExitCode::SUCCESS
}
