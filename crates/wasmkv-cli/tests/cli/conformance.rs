//! The conformance component against every built-in backend.

use crate::common::{component, run, workdir};
use wasmkv_test_servers::{RedisCluster, RedisServer, ServerTls, TestPki};

/// A conformance component, the grants it needs, and how many checks it
/// must at least run (so a suite that silently ran nothing fails).
struct Suite {
    component: &'static str,
    grants: &'static [&'static str],
    min_checks: usize,
}

const SEED: Suite = Suite {
    component: "conformance",
    grants: &[
        "--bucket",
        "conformance",
        "--bucket",
        "iso-a",
        "--bucket",
        "iso-a:b",
    ],
    min_checks: 24,
};

const DRAFT: Suite = Suite {
    component: "conformance-draft",
    grants: &["--bucket", "draft", "--bucket", ""],
    min_checks: 8,
};

const DRAFT2: Suite = Suite {
    component: "conformance-draft2",
    grants: &["--bucket", "draft2"],
    min_checks: 7,
};

/// The same checks built from Spin's WIT, whose `batch.get-many` has the
/// other `0.2.0-draft2` result type.
const DRAFT2_SPIN: Suite = Suite {
    component: "conformance-draft2-spin",
    grants: &["--bucket", "draft2"],
    min_checks: 7,
};

/// `wasmcloud:keyvalue@0.2.0`, a WASI 0.3 command of its own (the interface
/// is async: there is no 0.2 build).
const WASMCLOUD: Suite = Suite {
    component: "conformance_wasmcloud",
    grants: &["--bucket", "wasmcloud"],
    min_checks: 11,
};

fn conformance(store: &str) -> String {
    run_suite(&SEED, store)
}

/// A suite's checks built as a WASI 0.3 command (`NAME_p3`, the same source
/// exported as `wasi:cli/run@0.3`): every version links for 0.3 components.
fn p3(suite: &Suite) -> Suite {
    let component = format!("{}_p3", suite.component.replace('-', "_"));
    Suite {
        component: Box::leak(component.into_boxed_str()),
        grants: suite.grants,
        min_checks: suite.min_checks,
    }
}

/// Every suite as a 0.3 command on one store, one after the other, and
/// the interface only 0.3 components import.
fn p3_suites(store: &str) {
    for suite in [&SEED, &DRAFT, &DRAFT2, &DRAFT2_SPIN] {
        run_suite(&p3(suite), store);
    }
    run_suite(&WASMCLOUD, store);
}

#[test]
fn p3_commands_on_memory() {
    p3_suites("default=memory:");
}

#[test]
fn p3_commands_on_sqlite() {
    p3_suites("default=sqlite:kv.db");
}

#[test]
fn p3_commands_on_redis() {
    let server = RedisServer::start();
    p3_suites(&format!("default={}", server.url()));
}

#[test]
fn p3_commands_on_redis_cluster() {
    let cluster = RedisCluster::start();
    p3_suites(&format!("default={}", cluster.url()));
}

fn run_suite(suite: &Suite, store: &str) -> String {
    let dir = workdir();
    let comp = component(suite.component);
    let mut args = vec!["run", "--store", store];
    args.extend(suite.grants);
    args.push(comp.to_str().unwrap());
    let out = run(dir.path(), &args);
    let summary = out.stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        out.code, 0,
        "{} failed on {store}\n{}\n{}",
        suite.component, out.stdout, out.stderr
    );
    assert!(summary.ends_with(" passed, 0 failed"), "{}", out.stdout);
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(
        passed >= suite.min_checks,
        "only {passed} checks ran:\n{}",
        out.stdout
    );
    summary
}

/// Both drafts, and draft2 in both shapes, on one store, one after the other.
fn drafts(store: &str) {
    run_suite(&DRAFT, store);
    run_suite(&DRAFT2, store);
    run_suite(&DRAFT2_SPIN, store);
}

#[test]
fn drafts_on_memory() {
    drafts("default=memory:");
}

#[test]
fn drafts_on_sqlite() {
    drafts("default=sqlite:kv.db");
}

#[test]
fn drafts_on_redis() {
    let server = RedisServer::start();
    drafts(&format!("default={}", server.url()));
}

#[test]
fn drafts_on_redis_cluster() {
    let cluster = RedisCluster::start();
    drafts(&format!("default={}", cluster.url()));
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
fn conformance_on_redis_over_mutual_tls() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), true));
    let store = format!("default={}?{}", server.tls_url(), pki.mutual_tls_query());
    conformance(&store);
    run_suite(&DRAFT2, &store);
}

#[test]
fn conformance_on_redis_cluster_over_mutual_tls() {
    let pki = TestPki::generate();
    let cluster = RedisCluster::start_tls(&pki);
    let store = format!("default={}?{}", cluster.tls_url(), pki.mutual_tls_query());
    conformance(&store);
    run_suite(&DRAFT2, &store);
}

#[test]
fn conformance_on_sqlite_twice_in_a_row_starts_clean() {
    // The suite empties its buckets first, so a store it already used is fine.
    let dir = workdir();
    let comp = component("conformance");
    for _ in 0..2 {
        let mut args = vec!["run", "--store", "default=sqlite:kv.db"];
        args.extend(SEED.grants);
        args.push(comp.to_str().unwrap());
        run(dir.path(), &args).success();
    }
}
