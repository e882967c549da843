//! `wasmkv kv`: the admin commands on real stores, and export/import
//! between backends.

use std::io::Write;
use std::process::Stdio;

use crate::common::{kvtool, run, wasmkv, workdir};
use wasmkv_test_servers::RedisServer;

fn kv(dir: &std::path::Path, args: &[&str]) -> crate::common::Run {
    let mut all = vec!["kv"];
    all.extend_from_slice(args);
    run(dir, &all)
}

#[test]
fn set_get_list_delete_and_incr_on_the_default_store() {
    let dir = workdir();
    kv(dir.path(), &["set", "default", "greeting", "hello"]).success();
    std::fs::write(dir.path().join("blob.bin"), [0u8, 255, 10, 13, 7]).unwrap();
    kv(
        dir.path(),
        &["set", "default", "blob", "--file", "blob.bin"],
    )
    .success();

    let mut child = wasmkv(dir.path())
        .args(["kv", "set", "default", "piped", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    assert!(child.wait().unwrap().success());

    assert_eq!(
        kv(dir.path(), &["get", "default", "greeting"])
            .success()
            .stdout,
        "hello"
    );
    assert_eq!(
        kv(dir.path(), &["get", "default", "piped"])
            .success()
            .stdout,
        "from stdin"
    );
    let raw = wasmkv(dir.path())
        .args(["kv", "get", "default", "blob"])
        .output()
        .unwrap();
    assert_eq!(raw.stdout, [0u8, 255, 10, 13, 7]);

    let listed = kv(dir.path(), &["list", "default"]).success();
    assert_eq!(listed.stdout, "blob\ngreeting\npiped\n");
    let some = kv(dir.path(), &["list", "default", "--prefix", "g"]).success();
    assert_eq!(some.stdout, "greeting\n");

    assert_eq!(
        kv(dir.path(), &["incr", "default", "n"])
            .success()
            .stdout
            .trim(),
        "1"
    );
    assert_eq!(
        kv(dir.path(), &["incr", "default", "n", "41"])
            .success()
            .stdout
            .trim(),
        "42"
    );
    assert_eq!(
        kv(dir.path(), &["incr", "default", "n", "-50"])
            .success()
            .stdout
            .trim(),
        "-8"
    );

    kv(dir.path(), &["delete", "default", "greeting"]).success();
    let missing = kv(dir.path(), &["get", "default", "greeting"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("is not in bucket"),
        "{}",
        missing.stderr
    );
}

#[test]
fn admin_and_components_see_the_same_data() {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set", "default", "by-component", "c"]).success();
    assert_eq!(
        kv(dir.path(), &["get", "default", "by-component"])
            .success()
            .stdout,
        "c"
    );
    kv(dir.path(), &["set", "default", "by-admin", "a"]).success();
    let got = kvtool(dir.path(), &[], &["get", "default", "by-admin"]).success();
    assert_eq!(got.stdout.trim(), "a");
}

#[test]
fn errors_are_one_line_and_change_nothing() {
    let dir = workdir();
    kv(dir.path(), &["set", "default", "word", "abc"]).success();
    let bad = kv(dir.path(), &["incr", "default", "word"]);
    assert_eq!(bad.code, 125);
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("not a canonical decimal"),
        "{}",
        bad.stderr
    );
    assert_eq!(
        kv(dir.path(), &["get", "default", "word"]).success().stdout,
        "abc"
    );
    let bad_import = kv(dir.path(), &["import", "default", "--in", "nope.jsonl"]);
    assert_eq!(bad_import.code, 125);
    assert!(
        bad_import.stderr.contains("nope.jsonl"),
        "{}",
        bad_import.stderr
    );
}

#[test]
fn export_and_import_round_trip_between_sqlite_and_redis() {
    let server = RedisServer::start();
    let dir = workdir();
    let redis = format!("default={}", server.url());
    let other = "default=sqlite:other.db";
    // Binary, empty and multi-line values, and 1500 plain keys.
    std::fs::write(dir.path().join("bin"), (0..=255u8).collect::<Vec<_>>()).unwrap();
    kv(dir.path(), &["set", "default", "binary", "--file", "bin"]).success();
    std::fs::write(dir.path().join("empty"), b"").unwrap();
    kv(dir.path(), &["set", "default", "empty", "--file", "empty"]).success();
    kv(dir.path(), &["set", "default", "line\nbreak", "two\nlines"]).success();
    let many: String = (0..1500)
        .map(|i| format!("{{\"key\":\"k{i}\",\"value\":\"\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("many.jsonl"), many).unwrap();
    kv(dir.path(), &["import", "default", "--in", "many.jsonl"]).success();

    kv(
        dir.path(),
        &["export", "default", "--out", "from-sqlite.jsonl"],
    )
    .success();
    kv(
        dir.path(),
        &[
            "--store",
            &redis,
            "import",
            "default",
            "--in",
            "from-sqlite.jsonl",
        ],
    )
    .success();
    kv(
        dir.path(),
        &[
            "--store",
            &redis,
            "export",
            "default",
            "--out",
            "from-redis.jsonl",
        ],
    )
    .success();
    kv(
        dir.path(),
        &[
            "--store",
            other,
            "import",
            "default",
            "--in",
            "from-redis.jsonl",
        ],
    )
    .success();
    let back = kv(dir.path(), &["--store", other, "export", "default"]).success();

    let first = std::fs::read_to_string(dir.path().join("from-sqlite.jsonl")).unwrap();
    assert_eq!(first.lines().count(), 1503);
    assert_eq!(
        first,
        std::fs::read_to_string(dir.path().join("from-redis.jsonl")).unwrap()
    );
    assert_eq!(first, back.stdout);
    let raw = wasmkv(dir.path())
        .args(["kv", "--store", &redis, "get", "default", "binary"])
        .output()
        .unwrap();
    assert_eq!(raw.stdout, (0..=255u8).collect::<Vec<_>>());
}

/// Grants keep components apart; the operator reaches any bucket by name.
#[test]
fn the_operator_reaches_any_bucket_without_a_grant() {
    let dir = workdir();
    let d = dir.path();
    kv(d, &["set", "ops", "k", "v"]).success();
    assert_eq!(kv(d, &["get", "ops", "k"]).success().stdout, "v");
    assert_eq!(kv(d, &["list", "ops"]).success().stdout, "k\n");
    // A component still needs the grant, and then sees the operator's data.
    let denied = kvtool(d, &[], &["get", "ops", "k"]);
    assert!(denied.stdout.contains("access denied"), "{}", denied.stdout);
    let granted = kvtool(d, &["--bucket", "ops"], &["get", "ops", "k"]).success();
    assert_eq!(granted.stdout.trim(), "v");
    // A bucket granted to another store is reached there.
    kv(
        d,
        &[
            "--store",
            "side=sqlite:side.db",
            "--bucket",
            "x=side",
            "set",
            "x",
            "k",
            "side",
        ],
    )
    .success();
    assert!(d.join("side.db").exists());
    assert_eq!(
        kv(d, &["get", "x", "k"]).code,
        1,
        "x without the grant is the default store's"
    );
}
