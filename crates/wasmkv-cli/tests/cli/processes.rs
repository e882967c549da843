//! Several `wasmkv run` processes on one store: persistence, the zero-config
//! default store, and atomic counters across processes.

use std::process::Stdio;

use crate::common::{component, kvtool, run, run_concurrently, wasmkv, workdir};

#[test]
fn counter_example_counts_across_runs_on_the_zero_config_store() {
    let dir = workdir();
    let counter = component("counter");
    let first = run(dir.path(), &["run", counter.to_str().unwrap()]).success();
    assert_eq!(first.stdout.trim(), "counter has run 1 time");
    let second = run(dir.path(), &["run", counter.to_str().unwrap()]).success();
    assert_eq!(second.stdout.trim(), "counter has run 2 times");
    assert!(
        dir.path().join(".wasmkv/default.db").is_file(),
        "default store not created"
    );
}

#[test]
fn data_persists_across_processes() {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set", "default", "greeting", "hello"]).success();
    let got = kvtool(dir.path(), &[], &["get", "default", "greeting"]).success();
    assert_eq!(got.stdout.trim(), "hello");
    let keys = kvtool(dir.path(), &[], &["keys", "default"]).success();
    assert_eq!(keys.stdout.trim(), "greeting");
}

#[test]
fn memory_store_is_not_persisted() {
    let dir = workdir();
    let mem = ["--store", "default=memory:"];
    kvtool(dir.path(), &mem, &["set", "default", "k", "v"]).success();
    let got = kvtool(dir.path(), &mem, &["get", "default", "k"]).success();
    assert_eq!(got.stdout.trim(), "(none)");
    assert!(
        !dir.path().join(".wasmkv").exists(),
        "memory run created the sqlite store"
    );
}

#[test]
fn two_concurrent_processes_increment_to_exactly_1000() {
    let dir = workdir();
    run_concurrently(dir.path(), &[], 2, &["incr", "default", "hits", "1", "500"]);
    let total = kvtool(dir.path(), &[], &["get", "default", "hits"]).success();
    assert_eq!(total.stdout.trim(), "1000");
}

#[test]
fn two_concurrent_processes_lose_no_compare_and_swap_update() {
    let dir = workdir();
    kvtool(dir.path(), &[], &["incr", "default", "cas", "0"]).success();
    run_concurrently(dir.path(), &[], 2, &["cas-incr", "default", "cas", "200"]);
    let total = kvtool(dir.path(), &[], &["get", "default", "cas"]).success();
    assert_eq!(total.stdout.trim(), "400");
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};

    let dir = workdir();
    let tool = component("kvtool");
    let mut child = wasmkv(dir.path())
        .args([
            "run",
            tool.to_str().unwrap(),
            "set-loop",
            "default",
            "k",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start wasmkv");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_acked = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let n: u64 = line.strip_prefix("acked ").unwrap().parse().unwrap();
        last_acked = Some(n);
        if n >= 200 {
            break;
        }
    }
    child.kill().expect("kill -9 failed");
    child.wait().unwrap();
    let last = last_acked.expect("no write was acknowledged");
    for i in [0, last / 2, last] {
        let got = kvtool(dir.path(), &[], &["get", "default", &format!("k{i}")]).success();
        assert_eq!(
            got.stdout.trim(),
            i.to_string(),
            "acknowledged write k{i} lost"
        );
    }
}

/// README's `wasmkv.toml` example, as written, from a folder with no Redis
/// listening: its `cache` store (Redis) is used by no grant, so it is not
/// opened, and the counter example runs on the default store.
#[test]
fn the_readme_config_example_works_as_written_without_redis() {
    let readme = std::fs::read_to_string(crate::common::repo_root().join("README.md")).unwrap();
    let section = readme
        .split("### wasmkv.toml")
        .nth(1)
        .expect("README has a wasmkv.toml section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section starts with a toml block");
    assert!(example.contains("[stores.cache]"), "{example}");
    let dir = workdir();
    std::fs::write(dir.path().join("wasmkv.toml"), example).unwrap();
    let counter = component("counter");
    let first = run(dir.path(), &["run", counter.to_str().unwrap()]).success();
    assert_eq!(first.stdout.trim(), "counter has run 1 time");
}

/// A store that cannot be opened is named once, with its cause, not its
/// URL twice.
#[test]
fn a_store_that_cannot_be_opened_is_named_once() {
    let dir = workdir();
    let port = wasmkv_test_servers::free_port(false);
    let url = format!("redis://127.0.0.1:{port}");
    let counter = component("counter");
    let failed = run(
        dir.path(),
        &[
            "run",
            "--store",
            &format!("default={url}"),
            counter.to_str().unwrap(),
        ],
    )
    .fails_with(125, "cannot connect");
    assert_eq!(failed.stderr.matches(&url).count(), 1, "{}", failed.stderr);
}
