//! Conformance checks for `wasi:keyvalue@0.2.0-draft`, one line each, then
//! `N passed, M failed`. The host must grant buckets `draft` and `""` (the
//! empty name wasmtime components use) and must not grant `draft-denied`.
//!
//! `conformance-draft list BUCKET` instead prints the bucket's keys, sorted,
//! paging through `list-keys`: the cross-version test's reader.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        generate_all,
    });
}

use std::collections::BTreeSet;
use std::process::ExitCode;

use bindings::wasi::keyvalue::store::{Bucket, Error};
use bindings::wasi::keyvalue::{atomics, batch, store};
use conformance_harness::{Harness, Outcome, ensure};

const MAIN: &str = "draft";

fn fresh() -> Result<Bucket, String> {
    let b = store::open(MAIN).map_err(|e| format!("open: {e:?}"))?;
    let keys = all_keys(&b)?;
    batch::delete_many(&b, &keys).map_err(|e| format!("delete-many: {e:?}"))?;
    Ok(b)
}

/// Every key, paging through `list-keys`; fails on a repeated key.
fn all_keys(b: &Bucket) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = b
            .list_keys(cursor)
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

fn run_all(h: &mut Harness) {
    h.check(
        "open refuses an ungranted bucket with access-denied",
        || match store::open("draft-denied") {
            Err(Error::AccessDenied) => Ok(()),
            other => Err(format!("got {:?}", other.map(|_| ()))),
        },
    );
    h.check("the empty identifier is a bucket like any other", || {
        let empty = store::open("").map_err(|e| format!("open \"\": {e:?}"))?;
        let main = fresh()?;
        empty.set("k", b"in-empty").map_err(|e| format!("{e:?}"))?;
        main.set("k", b"in-draft").map_err(|e| format!("{e:?}"))?;
        ensure!(
            empty.get("k").ok().flatten().as_deref() == Some(&b"in-empty"[..]),
            "empty bucket lost its value"
        );
        empty.delete("k").map_err(|e| format!("{e:?}"))?;
        ensure!(
            main.exists("k").ok() == Some(true),
            "deleting in \"\" touched draft"
        );
        Ok(())
    });
    h.check("get, set, exists and delete", || {
        let b = fresh()?;
        ensure!(b.get("k").ok() == Some(None), "missing key is not none");
        ensure!(b.exists("k").ok() == Some(false), "missing key exists");
        b.delete("k")
            .map_err(|e| format!("delete missing: {e:?}"))?;
        b.set("k", b"v1").map_err(|e| format!("{e:?}"))?;
        b.set("k", b"v2").map_err(|e| format!("{e:?}"))?;
        ensure!(
            b.get("k").ok() == Some(Some(b"v2".to_vec())),
            "set did not replace"
        );
        b.set("empty", b"").map_err(|e| format!("{e:?}"))?;
        ensure!(
            b.exists("empty").ok() == Some(true),
            "an empty value is absent"
        );
        ensure!(
            b.get("empty").ok() == Some(Some(Vec::new())),
            "empty value not read back"
        );
        b.delete("k").map_err(|e| format!("{e:?}"))?;
        ensure!(b.get("k").ok() == Some(None), "delete left the value");
        Ok(())
    });
    h.check("an empty key is refused with a trace", || {
        other(fresh()?.set("", b"x"), "key is empty")
    });
    h.check("increment: u64 counters as canonical decimals", || {
        let b = fresh()?;
        ensure!(
            atomics::increment(&b, "n", 5).ok() == Some(5),
            "missing key did not start at delta"
        );
        ensure!(
            atomics::increment(&b, "n", 37).ok() == Some(42),
            "increment did not add"
        );
        ensure!(
            b.get("n").ok() == Some(Some(b"42".to_vec())),
            "counter not stored as \"42\""
        );
        atomics::increment(&b, "max", u64::MAX).map_err(|e| format!("{e:?}"))?;
        other(atomics::increment(&b, "max", 1), "overflows")?;
        ensure!(
            b.get("max").ok() == Some(Some(u64::MAX.to_string().into_bytes())),
            "overflow changed the value"
        );
        b.set("word", b"abc").map_err(|e| format!("{e:?}"))?;
        other(atomics::increment(&b, "word", 1), "not a canonical decimal")?;
        b.set("neg", b"-1").map_err(|e| format!("{e:?}"))?;
        other(
            atomics::increment(&b, "neg", 1),
            "outside the counter range",
        )
    });
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
            ensure!(
                got == vec![
                    Some(("k9".into(), b"v9".to_vec())),
                    None,
                    Some(("k0".into(), b"v0".to_vec()))
                ],
                "get-many returned {got:?}"
            );
            batch::delete_many(
                &b,
                &["k0".to_string(), "k1".to_string(), "nope".to_string()],
            )
            .map_err(|e| format!("{e:?}"))?;
            ensure!(
                all_keys(&b)?.len() == 8,
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
    h.check("an unknown cursor is an error, not a trap", || {
        other(
            fresh()?.list_keys(Some(987_654_321)),
            "unknown or expired cursor",
        )
    });
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, bucket] = &args[..]
        && mode == "list"
    {
        let b = match store::open(bucket) {
            Ok(b) => b,
            Err(e) => {
                println!("error: {e:?}");
                return ExitCode::FAILURE;
            }
        };
        return match all_keys(&b) {
            Ok(keys) => {
                for key in keys {
                    println!("{key}");
                }
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
