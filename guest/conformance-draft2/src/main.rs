//! Conformance checks for `wasi:keyvalue@0.2.0-draft2`, one line each, then
//! `N passed, M failed`. The host must grant bucket `draft2` and must not
//! grant `draft2-denied`.
//!
//! Built twice: as `conformance-draft2` from `wit/draft2-spec`, and with the
//! `spin-shape` feature as `conformance-draft2-spin` from `wit/draft2-spin`,
//! whose `batch.get-many` returns one `(key, option<value>)` per key.
//!
//! `conformance-draft2 get BUCKET KEY`, `... incr BUCKET KEY DELTA`,
//! `... cas-incr BUCKET KEY TIMES` and `... page BUCKET [CURSOR]` are the
//! cross-version, concurrency and cursor tests' readers and writers.

#[cfg(not(feature = "spin-shape"))]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft2-spec",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
        generate_all,
    });
}

#[cfg(feature = "spin-shape")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft2-spin",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
        generate_all,
    });
}

use std::collections::BTreeSet;
use std::process::ExitCode;

use bindings::wasi::keyvalue::atomics::{Cas, CasError};
use bindings::wasi::keyvalue::store::{Bucket, Error};
use bindings::wasi::keyvalue::{atomics, batch, store};
use conformance_harness::{Harness, Outcome, ensure};

const MAIN: &str = "draft2";

fn fresh() -> Result<Bucket, String> {
    let b = store::open(MAIN).map_err(|e| format!("open: {e:?}"))?;
    let keys = all_keys(&b)?;
    batch::delete_many(&b, &keys).map_err(|e| format!("delete-many: {e:?}"))?;
    Ok(b)
}

/// Every key, paging through `list-keys`; fails on a repeated key.
fn all_keys(b: &Bucket) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = b
            .list_keys(cursor.as_deref())
            .map_err(|e| format!("list-keys: {e:?}"))?;
        ensure!(page.keys.len() <= 1000, "page of {} keys", page.keys.len());
        for key in page.keys {
            ensure!(seen.insert(key.clone()), "key {key:?} listed twice");
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(seen.into_iter().collect()),
        }
    }
}

fn other(r: Result<impl std::fmt::Debug, Error>, needle: &str) -> Outcome {
    match r {
        Err(Error::Other(trace)) => {
            ensure!(
                trace.contains(needle),
                "{trace:?} does not mention {needle:?}"
            );
            ensure!(!trace.contains('\n'), "trace is not one line");
            Ok(())
        }
        other => Err(format!("expected error other(..{needle}..), got {other:?}")),
    }
}

fn value(b: &Bucket, key: &str) -> Option<Vec<u8>> {
    b.get(key).ok().flatten()
}

fn run_all(h: &mut Harness) {
    h.check(
        "open refuses an ungranted bucket with access-denied",
        || match store::open("draft2-denied") {
            Err(Error::AccessDenied) => Ok(()),
            other => Err(format!("got {:?}", other.map(|_| ()))),
        },
    );
    h.check("get, set, exists and delete", || {
        let b = fresh()?;
        ensure!(b.get("k").ok() == Some(None), "missing key is not none");
        ensure!(b.exists("k").ok() == Some(false), "missing key exists");
        b.set("k", b"v").map_err(|e| format!("{e:?}"))?;
        ensure!(
            value(&b, "k").as_deref() == Some(&b"v"[..]),
            "set not read back"
        );
        b.set("empty", b"").map_err(|e| format!("{e:?}"))?;
        ensure!(
            b.exists("empty").ok() == Some(true),
            "an empty value is absent"
        );
        b.delete("k").map_err(|e| format!("{e:?}"))?;
        ensure!(b.get("k").ok() == Some(None), "delete left the value");
        other(b.get(""), "key is empty")
    });
    h.check("increment: signed 64-bit counters, same encoding", || {
        let b = fresh()?;
        ensure!(
            atomics::increment(&b, "n", -5).ok() == Some(-5),
            "missing key did not start at delta"
        );
        ensure!(
            atomics::increment(&b, "n", 47).ok() == Some(42),
            "increment did not add"
        );
        ensure!(
            value(&b, "n").as_deref() == Some(&b"42"[..]),
            "counter not stored as \"42\""
        );
        ensure!(
            atomics::increment(&b, "n", -42).ok() == Some(0),
            "decrement to 0"
        );
        ensure!(
            value(&b, "n").as_deref() == Some(&b"0"[..]),
            "zero not stored as \"0\""
        );
        atomics::increment(&b, "max", i64::MAX).map_err(|e| format!("{e:?}"))?;
        other(atomics::increment(&b, "max", 1), "overflows")?;
        atomics::increment(&b, "min", i64::MIN).map_err(|e| format!("{e:?}"))?;
        other(atomics::increment(&b, "min", -1), "overflows")?;
        ensure!(
            value(&b, "min") == Some(i64::MIN.to_string().into_bytes()),
            "overflow changed the value"
        );
        b.set("big", u64::MAX.to_string().as_bytes())
            .map_err(|e| format!("{e:?}"))?;
        other(
            atomics::increment(&b, "big", 1),
            "outside the counter range",
        )?;
        b.set("plus", b"+1").map_err(|e| format!("{e:?}"))?;
        other(atomics::increment(&b, "plus", 1), "not a canonical decimal")
    });
    h.check(
        "cas: swap succeeds on an unchanged value, fails with a fresh handle after a change",
        || {
            let b = fresh()?;
            let cas = Cas::new(&b, "c").map_err(|e| format!("cas.new: {e:?}"))?;
            ensure!(
                cas.current().ok() == Some(None),
                "current of a missing key is not none"
            );
            atomics::swap(cas, b"first").map_err(|e| format!("swap on missing: {e:?}"))?;
            ensure!(
                value(&b, "c").as_deref() == Some(&b"first"[..]),
                "swap not stored"
            );

            let stale = Cas::new(&b, "c").map_err(|e| format!("{e:?}"))?;
            b.set("c", b"changed").map_err(|e| format!("{e:?}"))?;
            let fresh_handle = match atomics::swap(stale, b"lost") {
                Err(CasError::CasFailed(handle)) => handle,
                other => return Err(format!("stale swap gave {other:?}")),
            };
            ensure!(
                value(&b, "c").as_deref() == Some(&b"changed"[..]),
                "a failed swap wrote"
            );
            ensure!(
                fresh_handle.current().ok() == Some(Some(b"changed".to_vec())),
                "fresh handle is not fresh"
            );
            atomics::swap(fresh_handle, b"retried").map_err(|e| format!("retry: {e:?}"))?;
            ensure!(
                value(&b, "c").as_deref() == Some(&b"retried"[..]),
                "retry not stored"
            );
            Ok(())
        },
    );
    h.check(
        "batch: get-many keeps order, set-many and delete-many",
        || {
            let b = fresh()?;
            let pairs: Vec<(String, Vec<u8>)> = (0..10)
                .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
                .collect();
            batch::set_many(&b, &pairs).map_err(|e| format!("{e:?}"))?;
            let keys = vec!["k9".to_string(), "nope".to_string(), "k0".to_string()];
            let got = batch::get_many(&b, &keys).map_err(|e| format!("{e:?}"))?;
            #[cfg(not(feature = "spin-shape"))]
            let want = vec![
                Some(("k9".into(), b"v9".to_vec())),
                None,
                Some(("k0".into(), b"v0".to_vec())),
            ];
            #[cfg(feature = "spin-shape")]
            let want = vec![
                ("k9".to_string(), Some(b"v9".to_vec())),
                ("nope".to_string(), None),
                ("k0".to_string(), Some(b"v0".to_vec())),
            ];
            ensure!(got == want, "get-many returned {got:?}");
            batch::delete_many(&b, &["k0".to_string(), "nope".to_string()])
                .map_err(|e| format!("{e:?}"))?;
            ensure!(
                all_keys(&b)?.len() == 9,
                "delete-many removed the wrong keys"
            );
            Ok(())
        },
    );
    h.check("list-keys pages cover every key exactly once", || {
        let b = fresh()?;
        let pairs: Vec<(String, Vec<u8>)> = (0..2500)
            .map(|i| (format!("key-{i}"), Vec::new()))
            .collect();
        for chunk in pairs.chunks(1000) {
            batch::set_many(&b, chunk).map_err(|e| format!("{e:?}"))?;
        }
        let first = b.list_keys(None).map_err(|e| format!("{e:?}"))?;
        ensure!(first.cursor.is_some(), "2500 keys fit in one page");
        let all = all_keys(&b)?;
        ensure!(all.len() == 2500, "listed {} of 2500 keys", all.len());
        Ok(())
    });
    h.check("list-keys refuses a cursor the host did not issue", || {
        let b = fresh()?;
        for forged in ["0", "", "not a cursor", "ffffffffffffffffkey-1"] {
            let got = b.list_keys(Some(forged));
            ensure!(
                matches!(&got, Err(Error::Other(trace)) if trace.contains("not issued")),
                "cursor {forged:?} gave {got:?}"
            );
        }
        Ok(())
    });
}

fn cross(args: &[String]) -> Option<Result<String, String>> {
    let open = |name: &str| store::open(name).map_err(|e| format!("open: {e:?}"));
    Some(match args {
        [mode, bucket, key] if mode == "get" => open(bucket).and_then(|b| {
            b.get(key)
                .map(|v| {
                    v.map_or("(none)".into(), |v| {
                        String::from_utf8_lossy(&v).into_owned()
                    })
                })
                .map_err(|e| format!("{e:?}"))
        }),
        [mode, bucket, key, delta] if mode == "incr" => {
            let delta: i64 = delta.parse().ok()?;
            open(bucket).and_then(|b| {
                atomics::increment(&b, key, delta)
                    .map(|n| n.to_string())
                    .map_err(|e| format!("{e:?}"))
            })
        }
        [mode, bucket] if mode == "page" => open(bucket).and_then(|b| page(&b, None)),
        [mode, bucket, cursor] if mode == "page" => {
            open(bucket).and_then(|b| page(&b, Some(cursor)))
        }
        [mode, bucket, key, times] if mode == "cas-incr" => {
            let times: u64 = times.parse().ok()?;
            open(bucket).and_then(|b| cas_increments(&b, key, times))
        }
        _ => return None,
    })
}

/// One `list-keys` page: `KEYS CURSOR` (the cursor, or `-` after the
/// last page), so another process can go on from it.
fn page(b: &Bucket, cursor: Option<&str>) -> Result<String, String> {
    let page = b.list_keys(cursor).map_err(|e| format!("{e:?}"))?;
    Ok(format!(
        "{} {}",
        page.keys.len(),
        page.cursor.as_deref().unwrap_or("-")
    ))
}

/// Adds 1 to the decimal under `key` `times` times through cas loops,
/// retrying with the handle a failed swap returns.
fn cas_increments(b: &Bucket, key: &str, times: u64) -> Result<String, String> {
    let mut retries = 0u64;
    for _ in 0..times {
        let mut cas = Cas::new(b, key).map_err(|e| format!("cas.new: {e:?}"))?;
        loop {
            let current = cas.current().map_err(|e| format!("current: {e:?}"))?;
            let n: u64 = current.map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap_or(0));
            match atomics::swap(cas, (n + 1).to_string().as_bytes()) {
                Ok(()) => break,
                Err(CasError::CasFailed(fresh)) => {
                    retries += 1;
                    cas = fresh;
                }
                Err(CasError::StoreError(e)) => return Err(format!("swap: {e:?}")),
            }
        }
    }
    Ok(format!("done retries={retries}"))
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(result) = cross(&args) {
        return match result {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut h = Harness::default();
    run_all(&mut h);
    h.finish()
}
