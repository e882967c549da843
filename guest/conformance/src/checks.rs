use std::io::{Read, Write};

use wasmkv_guest::bindings::wasi::io::poll;
use wasmkv_guest::bindings::wasi::io::streams::StreamError;
use wasmkv_guest::{Bucket, Error, OutgoingValue};

use conformance_harness::{Harness, Outcome, Step, ensure};

const MAIN: &str = "conformance";
const U64_MAX: &[u8] = b"18446744073709551615";

fn open() -> Result<Bucket, String> {
    Bucket::open(MAIN).step("open-bucket")
}

/// A fresh bucket for one check: every key left by earlier checks removed.
fn fresh() -> Result<Bucket, String> {
    let b = open()?;
    let keys = b.keys().step("keys")?;
    b.delete_many(&keys).step("delete-many")?;
    Ok(b)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(seed as u32) as u8)
        .collect()
}

fn expect_error<T: std::fmt::Debug>(r: Result<T, Error>, what: &str, needles: &[&str]) -> Outcome {
    match r {
        Ok(v) => Err(format!("{what}: expected an error, got {v:?}")),
        Err(e) => {
            let t = e.trace();
            ensure!(!t.contains('\n'), "{what}: trace is not one line: {t:?}");
            for n in needles {
                ensure!(t.contains(n), "{what}: trace {t:?} does not mention {n:?}");
            }
            Ok(())
        }
    }
}

pub fn run_all(h: &mut Harness) {
    h.check("open-bucket opens a granted bucket", || open().map(drop));
    h.check(
        "open-bucket refuses an ungranted name with access denied",
        || {
            expect_error(
                Bucket::open("conformance-denied").map(|_| ()),
                "open-bucket",
                &[
                    "open-bucket",
                    "conformance-denied",
                    "access denied",
                    "--bucket",
                ],
            )
        },
    );
    h.check(
        "missing key: get none, exists false, delete ok, cas false",
        || {
            let b = fresh()?;
            ensure!(b.get("nope").step("get")?.is_none(), "get returned a value");
            ensure!(!b.exists("nope").step("exists")?, "exists returned true");
            b.delete("nope").step("delete")?;
            ensure!(
                !b.compare_and_swap("nope", 0, 1).step("cas")?,
                "cas swapped a missing key"
            );
            ensure!(!b.exists("nope").step("exists")?, "cas created the key");
            Ok(())
        },
    );
    h.check(
        "set then get returns the bytes; overwrite replaces them",
        || {
            let b = fresh()?;
            b.set("k", b"one").step("set")?;
            ensure!(
                b.get("k").step("get")?.as_deref() == Some(&b"one"[..]),
                "first value"
            );
            ensure!(b.exists("k").step("exists")?, "exists after set");
            b.set("k", b"two!").step("set")?;
            ensure!(
                b.get("k").step("get")?.as_deref() == Some(&b"two!"[..]),
                "overwritten value"
            );
            b.delete("k").step("delete")?;
            ensure!(b.get("k").step("get")?.is_none(), "value after delete");
            ensure!(!b.exists("k").step("exists")?, "exists after delete");
            Ok(())
        },
    );
    h.check("an empty value is present", || {
        let b = fresh()?;
        b.set("empty", b"").step("set")?;
        ensure!(b.exists("empty").step("exists")?, "exists is false");
        let v = b
            .get_value("empty")
            .step("get")?
            .ok_or("get returned none")?;
        ensure!(v.size() == 0, "size {}", v.size());
        ensure!(v.bytes().step("consume")?.is_empty(), "bytes not empty");
        Ok(())
    });
    h.check(
        "one value handle, rewritten between sets, stores each body",
        || {
            let b = fresh()?;
            let value = OutgoingValue::new();
            let raw = value.raw();
            raw.outgoing_value_write_body_sync(b"a longer body")
                .map_err(Error::from)
                .step("write")?;
            b.set_value("first", &value).step("set first")?;
            raw.outgoing_value_write_body_sync(b"s")
                .map_err(Error::from)
                .step("rewrite")?;
            b.set_value("second", &value).step("set second")?;
            b.set_value("third", &value).step("set third")?;
            for (key, want) in [
                ("first", &b"a longer body"[..]),
                ("second", b"s"),
                ("third", b"s"),
            ] {
                let got = b.get(key).step("get")?;
                ensure!(got.as_deref() == Some(want), "{key}: {got:?}");
            }
            // The SDK's own set reuses one handle for small values, and a big
            // value goes through a handle of its own in between.
            let big = pattern(100_000, 3);
            b.set("small", b"xyz").step("set small")?;
            b.set("big", &big).step("set big")?;
            b.set("tiny", b"t").step("set tiny")?;
            ensure!(
                b.get("small").step("get")?.as_deref() == Some(&b"xyz"[..]),
                "small"
            );
            ensure!(
                b.get("big").step("get")?.as_deref() == Some(&big[..]),
                "big"
            );
            ensure!(
                b.get("tiny").step("get")?.as_deref() == Some(&b"t"[..]),
                "tiny"
            );
            Ok(())
        },
    );
    h.check("binary values round-trip every byte", || {
        let b = fresh()?;
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        b.set("bin", &all).step("set")?;
        ensure!(
            b.get("bin").step("get")?.as_deref() == Some(&all[..]),
            "bytes differ"
        );
        Ok(())
    });
    h.check("reopening a bucket sees the same data", || {
        let b = fresh()?;
        b.set("shared", b"seen").step("set")?;
        let again = open()?;
        ensure!(
            again.get("shared").step("get")?.as_deref() == Some(&b"seen"[..]),
            "not seen"
        );
        drop(b);
        ensure!(
            again.exists("shared").step("exists")?,
            "gone after the first handle dropped"
        );
        Ok(())
    });
    h.check(
        "empty keys are refused by every operation, nothing stored",
        || {
            let b = fresh()?;
            let n = &["invalid key", "empty"];
            expect_error(b.get(""), "get", n)?;
            expect_error(b.set("", b"x"), "set", n)?;
            expect_error(b.delete(""), "delete", n)?;
            expect_error(b.exists(""), "exists", n)?;
            expect_error(b.increment("", 1), "increment", n)?;
            expect_error(b.compare_and_swap("", 0, 1), "compare-and-swap", n)?;
            expect_error(b.get_many(&[""]), "get-many", n)?;
            expect_error(b.delete_many(&[""]), "delete-many", n)?;
            ensure!(b.keys().step("keys")?.is_empty(), "something was stored");
            Ok(())
        },
    );
    h.check(
        "keys of max_key_bytes are fine, one byte more is refused",
        || {
            let b = fresh()?;
            let max = "k".repeat(4096);
            b.set(&max, b"v").step("set 4096-byte key")?;
            ensure!(
                b.get(&max).step("get")?.as_deref() == Some(&b"v"[..]),
                "4096-byte key lost"
            );
            let over = "k".repeat(4097);
            expect_error(
                b.set(&over, b"v"),
                "set 4097-byte key",
                &["set", "max_key_bytes", "4097"],
            )?;
            let keys = b.keys().step("keys")?;
            ensure!(keys == vec![max], "keys after refusal: {} keys", keys.len());
            Ok(())
        },
    );
    h.check("glob characters in keys are ordinary characters", || {
        let b = fresh()?;
        let keys = ["a*", "a?", "[a]", "a\\", "a"];
        for k in &keys[..4] {
            b.set(k, k.as_bytes()).step("set")?;
        }
        ensure!(b.get("a").step("get")?.is_none(), "plain 'a' exists");
        for k in &keys[..4] {
            ensure!(
                b.get(k).step("get")?.as_deref() == Some(k.as_bytes()),
                "{k:?} differs"
            );
        }
        let mut listed = b.keys().step("keys")?;
        listed.sort();
        let mut want: Vec<String> = keys[..4].iter().map(|s| s.to_string()).collect();
        want.sort();
        ensure!(listed == want, "keys {listed:?}");
        Ok(())
    });
    h.check(
        "unicode, separator and control characters in keys are kept exactly",
        || {
            let b = fresh()?;
            let keys = [
                "ключ",
                "日本",
                "a:b",
                "a/b",
                "line\nbreak",
                "nul\0byte",
                " space ",
            ];
            for (i, k) in keys.iter().enumerate() {
                b.set(k, &[i as u8]).step("set")?;
            }
            for (i, k) in keys.iter().enumerate() {
                ensure!(
                    b.get(k).step("get")?.as_deref() == Some(&[i as u8][..]),
                    "{k:?} differs"
                );
            }
            let mut listed = b.keys().step("keys")?;
            listed.sort();
            let mut want: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
            want.sort();
            ensure!(listed == want, "keys {listed:?}");
            Ok(())
        },
    );
    h.check("buckets are isolated: a + key b:c vs a:b + key c", || {
        let a = Bucket::open("iso-a").step("open iso-a")?;
        let ab = Bucket::open("iso-a:b").step("open iso-a:b")?;
        for b in [&a, &ab] {
            let keys = b.keys().step("keys")?;
            b.delete_many(&keys).step("delete-many")?;
        }
        a.set("b:c", b"in a").step("set")?;
        ab.set("c", b"in a:b").step("set")?;
        ensure!(
            a.get("b:c").step("get")?.as_deref() == Some(&b"in a"[..]),
            "a lost its key"
        );
        ensure!(
            ab.get("c").step("get")?.as_deref() == Some(&b"in a:b"[..]),
            "a:b lost its key"
        );
        ensure!(a.get("c").step("get")?.is_none(), "a sees a:b's key");
        ensure!(ab.get("b:c").step("get")?.is_none(), "a:b sees a's key");
        ensure!(
            a.keys().step("keys")? == vec!["b:c".to_string()],
            "a's keys"
        );
        ensure!(
            ab.keys().step("keys")? == vec!["c".to_string()],
            "a:b's keys"
        );
        ensure!(
            open()?.get("b:c").step("get")?.is_none(),
            "conformance sees a's key"
        );
        Ok(())
    });
    h.check(
        "increment: missing key stores delta, stored as canonical decimal",
        || {
            let b = fresh()?;
            ensure!(
                b.increment("c", 5).step("increment")? == 5,
                "first increment"
            );
            ensure!(
                b.increment("c", 10).step("increment")? == 15,
                "second increment"
            );
            ensure!(
                b.get("c").step("get")?.as_deref() == Some(&b"15"[..]),
                "stored form"
            );
            ensure!(
                b.increment("zero", 0).step("increment")? == 0,
                "increment by 0"
            );
            ensure!(
                b.get("zero").step("get")?.as_deref() == Some(&b"0"[..]),
                "stored zero"
            );
            b.set("set-by-hand", b"41").step("set")?;
            ensure!(
                b.increment("set-by-hand", 1).step("increment")? == 42,
                "on a set value"
            );
            Ok(())
        },
    );
    h.check(
        "increment covers the full u64 range and refuses overflow",
        || {
            let b = fresh()?;
            b.set("big", b"18446744073709551614").step("set")?;
            ensure!(
                b.increment("big", 1).step("increment")? == u64::MAX,
                "to u64::MAX"
            );
            ensure!(
                b.get("big").step("get")?.as_deref() == Some(U64_MAX),
                "stored max"
            );
            expect_error(
                b.increment("big", 1),
                "overflow",
                &["increment", "big", "overflow"],
            )?;
            ensure!(
                b.get("big").step("get")?.as_deref() == Some(U64_MAX),
                "value changed"
            );
            expect_error(
                b.increment("fresh", 0)
                    .and_then(|_| b.increment("fresh", u64::MAX))
                    .and_then(|_| b.increment("fresh", 1)),
                "overflow from zero",
                &["overflow"],
            )?;
            Ok(())
        },
    );
    h.check(
        "increment refuses non-canonical or out-of-range values, unchanged",
        || {
            let b = fresh()?;
            for bad in [
                &b"abc"[..],
                b"007",
                b"-5",
                b" 1",
                b"+1",
                b"1.5",
                b"-0",
                b"",
                b"18446744073709551616",
            ] {
                b.set("bad", bad).step("set")?;
                expect_error(
                    b.increment("bad", 1),
                    &format!("increment {bad:?}"),
                    &["increment", "bad"],
                )?;
                ensure!(
                    b.get("bad").step("get")?.as_deref() == Some(bad),
                    "value {bad:?} changed"
                );
            }
            Ok(())
        },
    );
    h.check(
        "compare-and-swap swaps only the canonical decimal of old",
        || {
            let b = fresh()?;
            b.increment("n", 7).step("increment")?;
            ensure!(
                b.compare_and_swap("n", 7, 8).step("cas")?,
                "cas 7->8 failed"
            );
            ensure!(
                b.get("n").step("get")?.as_deref() == Some(&b"8"[..]),
                "stored form after cas"
            );
            ensure!(
                !b.compare_and_swap("n", 7, 9).step("cas")?,
                "stale cas swapped"
            );
            ensure!(
                b.get("n").step("get")?.as_deref() == Some(&b"8"[..]),
                "stale cas changed value"
            );
            b.set("n", b"08").step("set")?;
            ensure!(
                !b.compare_and_swap("n", 8, 9).step("cas")?,
                "non-canonical swapped"
            );
            b.set("n", b"abc").step("set")?;
            ensure!(!b.compare_and_swap("n", 0, 9).step("cas")?, "text swapped");
            ensure!(
                b.get("n").step("get")?.as_deref() == Some(&b"abc"[..]),
                "text changed"
            );
            b.set("n", b"0").step("set")?;
            ensure!(
                b.compare_and_swap("n", 0, u64::MAX).step("cas")?,
                "cas to max"
            );
            ensure!(
                b.get("n").step("get")?.as_deref() == Some(U64_MAX),
                "max stored form"
            );
            ensure!(
                b.increment("n", 0).step("increment")? == u64::MAX,
                "increment reads cas result"
            );
            Ok(())
        },
    );
    h.check(
        "set-many, get-many in order with none for missing, delete-many",
        || {
            let b = fresh()?;
            b.set_many(&[("k1", &b"v1"[..]), ("k2", b""), ("k3", b"v3")])
                .step("set-many")?;
            let got = b
                .get_many(&["k1", "missing", "k3", "k2", "k1"])
                .step("get-many")?;
            let want = vec![
                Some(b"v1".to_vec()),
                None,
                Some(b"v3".to_vec()),
                Some(vec![]),
                Some(b"v1".to_vec()),
            ];
            ensure!(got == want, "get-many {got:?}");
            b.delete_many(&["k1", "missing", "k3"])
                .step("delete-many")?;
            ensure!(
                b.keys().step("keys")? == vec!["k2".to_string()],
                "after delete-many"
            );
            b.set_many::<&str, &[u8]>(&[]).step("empty set-many")?;
            ensure!(
                b.get_many::<&str>(&[]).step("empty get-many")?.is_empty(),
                "empty get-many"
            );
            b.delete_many::<&str>(&[]).step("empty delete-many")?;
            Ok(())
        },
    );
    h.check(
        "set-many again stores each batch's own values, big and small, past 128 items",
        || {
            let b = fresh()?;
            // The SDK reuses value handles between batches: a second batch
            // with shorter values must not keep bytes of the first.
            let first: Vec<(String, Vec<u8>)> = (0..150)
                .map(|i| (format!("k{i:03}"), pattern(200, i as u8)))
                .collect();
            b.set_many(&first).step("first set-many")?;
            let mut second: Vec<(String, Vec<u8>)> = (0..150)
                .map(|i| (format!("k{i:03}"), vec![i as u8; i % 3]))
                .collect();
            second[5].1 = pattern(100_000, 7);
            second[140].1 = pattern(70_000, 9);
            b.set_many(&second).step("second set-many")?;
            let keys: Vec<&str> = second.iter().map(|(k, _)| k.as_str()).collect();
            let got = b.get_many(&keys).step("get-many")?;
            for ((key, want), got) in second.iter().zip(got) {
                ensure!(
                    got.as_deref() == Some(&want[..]),
                    "{key}: {} bytes, want {}",
                    got.map_or(0, |g| g.len()),
                    want.len()
                );
            }
            Ok(())
        },
    );
    h.check("set-many with one invalid key writes nothing", || {
        let b = fresh()?;
        expect_error(
            b.set_many(&[("ok", &b"1"[..]), ("", b"2")]),
            "set-many",
            &["set-many", "invalid key"],
        )?;
        ensure!(b.keys().step("keys")?.is_empty(), "partial write");
        Ok(())
    });
    h.check("keys lists every key exactly once", || {
        let b = fresh()?;
        let items: Vec<(String, Vec<u8>)> = (0..250)
            .map(|i| (format!("key-{i:03}"), vec![i as u8]))
            .collect();
        b.set_many(&items).step("set-many")?;
        let mut keys = b.keys().step("keys")?;
        keys.sort();
        let want: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
        ensure!(keys == want, "{} keys listed", keys.len());
        Ok(())
    });
    h.check(
        "values stream in and out through wasi:io streams, size exact",
        || {
            let b = fresh()?;
            let data = pattern(3 * 1024 * 1024 + 7, 3);
            let value = OutgoingValue::new();
            let mut w = value.writer().step("write-body-async")?;
            for chunk in data.chunks(100_003) {
                w.write_all(chunk).map_err(|e| format!("write: {e}"))?;
            }
            w.flush().map_err(|e| format!("flush: {e}"))?;
            b.set_value("big", &value).step("set")?;
            let v = b.get_value("big").step("get")?.ok_or("missing")?;
            ensure!(
                v.size() == data.len() as u64,
                "size {} != {}",
                v.size(),
                data.len()
            );
            let mut back = Vec::new();
            v.reader()
                .step("consume-async")?
                .read_to_end(&mut back)
                .map_err(|e| format!("read: {e}"))?;
            ensure!(back == data, "streamed bytes differ ({} read)", back.len());
            ensure!(v.bytes().step("consume-sync")? == data, "sync bytes differ");
            Ok(())
        },
    );
    h.check(
        "input stream reports closed at end of value; skip and subscribe work",
        || {
            let b = fresh()?;
            b.set("s", b"0123456789").step("set")?;
            let v = b.get_value("s").step("get")?.ok_or("missing")?;
            let s = v
                .raw()
                .incoming_value_consume_async()
                .map_err(Error::from)
                .step("consume-async")?;
            let p = s.subscribe();
            ensure!(p.ready(), "input pollable not ready");
            ensure!(poll::poll(&[&p]) == vec![0], "poll did not report ready");
            drop(p);
            ensure!(s.skip(3).map_err(|e| format!("{e:?}"))? == 3, "skip");
            let rest = s.blocking_read(100).map_err(|e| format!("{e:?}"))?;
            ensure!(rest == b"3456789", "rest {rest:?}");
            ensure!(
                matches!(s.blocking_read(1), Err(StreamError::Closed)),
                "not closed at end"
            );
            b.set("e", b"").step("set")?;
            let e = b.get_value("e").step("get")?.ok_or("missing")?;
            let es = e
                .raw()
                .incoming_value_consume_async()
                .map_err(Error::from)
                .step("consume-async")?;
            ensure!(
                matches!(es.read(1), Err(StreamError::Closed)),
                "empty value not closed"
            );
            Ok(())
        },
    );
    h.check(
        "output stream: check-write, write-zeroes, splice, blocking flush",
        || {
            let b = fresh()?;
            b.set("src", b"spliced!").step("set")?;
            let src = b.get_value("src").step("get")?.ok_or("missing")?;
            let input = src
                .raw()
                .incoming_value_consume_async()
                .map_err(Error::from)
                .step("consume-async")?;
            let value = OutgoingValue::new();
            let out = value
                .raw()
                .outgoing_value_write_body_async()
                .map_err(Error::from)
                .step("write-body-async")?;
            let permit = out.check_write().map_err(|e| format!("{e:?}"))?;
            ensure!(permit > 0, "check-write permits nothing");
            ensure!(out.subscribe().ready(), "output pollable not ready");
            out.write(b"[").map_err(|e| format!("{e:?}"))?;
            out.write_zeroes(2).map_err(|e| format!("{e:?}"))?;
            out.blocking_write_zeroes_and_flush(1)
                .map_err(|e| format!("{e:?}"))?;
            let n = out
                .blocking_splice(&input, 100)
                .map_err(|e| format!("{e:?}"))?;
            ensure!(n == 8, "spliced {n}");
            out.blocking_write_and_flush(b"]")
                .map_err(|e| format!("{e:?}"))?;
            out.blocking_flush().map_err(|e| format!("{e:?}"))?;
            drop(out);
            b.set_value("dst", &value).step("set")?;
            let got = b.get("dst").step("get")?.ok_or("missing")?;
            ensure!(got == b"[\0\0\0spliced!]", "got {got:?}");
            Ok(())
        },
    );
    h.check("outgoing-value-write-body-sync stores its bytes", || {
        let b = fresh()?;
        let value = OutgoingValue::new();
        value
            .raw()
            .outgoing_value_write_body_sync(b"sync body")
            .map_err(Error::from)
            .step("write-body-sync")?;
        b.set_value("k", &value).step("set")?;
        ensure!(
            b.get("k").step("get")?.as_deref() == Some(&b"sync body"[..]),
            "value differs"
        );
        Ok(())
    });
    h.check(
        "error traces are one line naming operation, bucket and key",
        || {
            let b = fresh()?;
            b.set("word", b"hello").step("set")?;
            expect_error(
                b.increment("word", 1),
                "increment",
                &["increment", "conformance", "word", "canonical"],
            )
        },
    );
}
