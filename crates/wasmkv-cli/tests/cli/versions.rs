//! One store, three `wasi:keyvalue` versions: what a component of one
//! version writes, components of the others read, count and list.

use crate::common::{component, kvtool, run, run_concurrently_with, workdir};
use wasmkv_test_servers::RedisServer;

fn draft2(dir: &std::path::Path, store: &str, args: &[&str]) -> crate::common::Run {
    let comp = component("conformance-draft2");
    let mut all = vec![
        "run", "--store", store, "--bucket", "shared", "--bucket", "other",
    ];
    all.push(comp.to_str().unwrap());
    all.extend_from_slice(args);
    run(dir, &all)
}

fn seed_writes_draft2_counts_draft_lists(store: &str) {
    let dir = workdir();
    let grant = ["--store", store, "--bucket", "shared"];
    kvtool(dir.path(), &grant, &["set", "shared", "greeting", "hello"]).success();
    kvtool(dir.path(), &grant, &["incr", "shared", "hits", "40"]).success();

    let got = draft2(dir.path(), store, &["get", "shared", "greeting"]).success();
    assert_eq!(got.stdout.trim(), "hello");
    // The seed's u64 counter, incremented through draft2's signed API.
    let n = draft2(dir.path(), store, &["incr", "shared", "hits", "2"]).success();
    assert_eq!(n.stdout.trim(), "42");
    let seed_view = kvtool(dir.path(), &grant, &["get", "shared", "hits"]).success();
    assert_eq!(seed_view.stdout.trim(), "42");
    // A negative counter is fine for draft2 and refused by the seed's u64 API.
    draft2(dir.path(), store, &["incr", "shared", "debt", "-5"]).success();
    let refused = kvtool(dir.path(), &grant, &["incr", "shared", "debt", "1"]);
    assert!(
        refused.stdout.contains("outside the counter range"),
        "{}",
        refused.stdout
    );

    let draft = component("conformance-draft");
    let listed = run(
        dir.path(),
        &[
            "run",
            "--store",
            store,
            "--bucket",
            "shared",
            draft.to_str().unwrap(),
            "list",
            "shared",
        ],
    )
    .success();
    assert_eq!(listed.stdout, "debt\ngreeting\nhits\n");
}

#[test]
fn versions_share_one_sqlite_store() {
    seed_writes_draft2_counts_draft_lists("default=sqlite:kv.db");
}

#[test]
fn versions_share_one_redis_store() {
    let server = RedisServer::start();
    seed_writes_draft2_counts_draft_lists(&format!("default={}", server.url()));
}

fn draft2_cas_loses_no_update(store: &str) {
    let dir = workdir();
    let flags = ["--store", store, "--bucket", "shared"];
    let args = ["cas-incr", "shared", "n", "150"];
    run_concurrently_with("conformance-draft2", dir.path(), &flags, 2, &args);
    let total = draft2(dir.path(), store, &["get", "shared", "n"]).success();
    assert_eq!(total.stdout.trim(), "300");
}

#[test]
fn draft2_cas_under_concurrent_processes_loses_no_update_on_sqlite() {
    draft2_cas_loses_no_update("default=sqlite:kv.db");
}

#[test]
fn draft2_cas_under_concurrent_processes_loses_no_update_on_redis() {
    let server = RedisServer::start();
    draft2_cas_loses_no_update(&format!("default={}", server.url()));
}

/// A draft2 cursor is the backend's own position, sealed to its bucket: a
/// later process (or the same store after a restart) goes on from it, and
/// another bucket refuses it.
fn draft2_cursors_work_across_processes(store: &str) {
    let dir = workdir();
    let grant = ["--store", store, "--bucket", "shared"];
    kvtool(dir.path(), &grant, &["set-many", "shared", "k", "1500"]).success();
    // Each page in a process of its own, going on from the last one's cursor
    // (a Redis SCAN page may hold fewer keys than asked for).
    let mut first_cursor = None;
    let (mut total, mut cursor) = (0, None::<String>);
    for _ in 0..100 {
        let mut args = vec!["page", "shared"];
        args.extend(cursor.as_deref());
        let page = draft2(dir.path(), store, &args).success();
        let (count, next) = page.stdout.trim().split_once(' ').unwrap();
        total += count.parse::<usize>().unwrap();
        if next == "-" {
            cursor = None;
            break;
        }
        first_cursor.get_or_insert_with(|| next.to_string());
        cursor = Some(next.to_string());
    }
    assert!(cursor.is_none(), "the listing never ended");
    assert_eq!(total, 1500);
    let cursor = first_cursor.expect("1500 keys take more than one page");
    let elsewhere = draft2(dir.path(), store, &["page", "other", &cursor]);
    assert!(
        elsewhere
            .stdout
            .contains("not issued by this host for this bucket"),
        "{}",
        elsewhere.stdout
    );
}

#[test]
fn draft2_cursors_work_across_processes_on_sqlite() {
    draft2_cursors_work_across_processes("default=sqlite:kv.db");
}

#[test]
fn draft2_cursors_work_across_processes_on_redis() {
    let server = RedisServer::start();
    draft2_cursors_work_across_processes(&format!("default={}", server.url()));
}
