//! The conformance component against every built-in backend.

mod common;

use common::{component, run, workdir};
use wasmkv_test_servers::{RedisCluster, RedisServer};

const GRANTS: [&str; 6] = [
    "--bucket",
    "conformance",
    "--bucket",
    "iso-a",
    "--bucket",
    "iso-a:b",
];

fn conformance(store: &str) -> String {
    let dir = workdir();
    let comp = component("conformance");
    let mut args = vec!["run", "--store", store];
    args.extend(GRANTS);
    args.push(comp.to_str().unwrap());
    let out = run(dir.path(), &args);
    let summary = out.stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        out.code, 0,
        "conformance failed on {store}\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(summary.ends_with(" passed, 0 failed"), "{}", out.stdout);
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 24, "only {passed} checks ran:\n{}", out.stdout);
    summary
}

#[test]
fn conformance_on_memory() {
    conformance("default=memory:");
}

#[test]
fn conformance_on_sqlite() {
    conformance("default=sqlite:kv.db");
}

#[test]
fn conformance_on_redis() {
    let server = RedisServer::start();
    conformance(&format!("default={}", server.url()));
}

#[test]
fn conformance_on_redis_cluster() {
    let cluster = RedisCluster::start();
    conformance(&format!("default={}", cluster.url()));
}

#[test]
fn conformance_on_sqlite_twice_in_a_row_starts_clean() {
    // The suite empties its buckets first, so a store it already used is fine.
    let dir = workdir();
    let comp = component("conformance");
    for _ in 0..2 {
        let mut args = vec!["run", "--store", "default=sqlite:kv.db"];
        args.extend(GRANTS);
        args.push(comp.to_str().unwrap());
        run(dir.path(), &args).success();
    }
}
