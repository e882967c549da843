//! `wasmkv run` on WASI 0.3 commands (`wasi:cli/run@0.3`, built by the
//! guest workspace with the `wasip3` crate): every store, the same data as
//! 0.2 commands, every limit and exit code `run` has for 0.2, and outbound
//! HTTP for commands of both generations.

use crate::common::http::Server;
use crate::common::{component, kvtool, run, workdir};
use wasmkv_test_servers::{RedisCluster, RedisServer};

/// The 0.2 and 0.3 counter examples increment the same key: run in turns
/// on one store, they count 1, 2, 3, 4.
fn generations_share_one_counter(store_flags: &[&str]) {
    let dir = workdir();
    let expected = [
        ("counter_p3", "counter-p3 has run 1 time"),
        ("counter", "counter has run 2 times"),
        ("counter_p3", "counter-p3 has run 3 times"),
        ("counter", "counter has run 4 times"),
    ];
    for (name, line) in expected {
        let wasm = component(name);
        let mut args = vec!["run"];
        args.extend_from_slice(store_flags);
        args.push(wasm.to_str().unwrap());
        let out = run(dir.path(), &args).success();
        assert_eq!(out.stdout.trim(), line, "{name}: {}", out.stderr);
    }
}

#[test]
fn a_p3_command_and_a_p2_command_share_the_default_sqlite_store() {
    generations_share_one_counter(&[]);
}

#[test]
fn a_p3_command_runs_on_the_memory_store() {
    // Each `run` is a process of its own: memory starts empty every time.
    let dir = workdir();
    let wasm = component("counter_p3");
    for _ in 0..2 {
        let out = run(
            dir.path(),
            &["run", "--store", "default=memory:", wasm.to_str().unwrap()],
        )
        .success();
        assert_eq!(out.stdout.trim(), "counter-p3 has run 1 time");
    }
}

#[test]
fn a_p3_command_and_a_p2_command_share_redis() {
    let redis = RedisServer::start();
    let store = format!("default={}", redis.url());
    generations_share_one_counter(&["--store", &store]);
}

#[test]
fn a_p3_command_and_a_p2_command_share_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let store = format!("default={}", cluster.url());
    generations_share_one_counter(&["--store", &store]);
}

/// Runs `runaway_p3 ARGS` with `flags`; the store is untouched afterwards.
fn runaway(flags: &[&str], args: &[&str]) -> crate::common::Run {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set", "default", "before", "kept"]).success();
    let wasm = component("runaway_p3");
    let mut all = vec!["run"];
    all.extend_from_slice(flags);
    all.push(wasm.to_str().unwrap());
    all.extend_from_slice(args);
    let out = run(dir.path(), &all);
    let after = kvtool(dir.path(), &[], &["get", "default", "before"]).success();
    assert_eq!(after.stdout.trim(), "kept");
    out
}

#[test]
fn timeout_stops_a_p3_command_awaiting_a_future() {
    runaway(&["--timeout", "500ms"], &["wait"]).fails_with(124, "ran past --timeout 500ms");
}

#[test]
fn timeout_stops_a_p3_command_awaiting_a_stream() {
    // stdin is the test's open pipe, never written to nor closed.
    let dir = workdir();
    let wasm = component("runaway_p3");
    let mut child = crate::common::wasmkv(dir.path())
        .args([
            "run",
            "--timeout",
            "500ms",
            wasm.to_str().unwrap(),
            "stream",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot start wasmkv");
    // Held open (not written to) until the process has exited.
    let _stdin = child.stdin.take();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(124), "{stderr}");
    assert!(stderr.contains("ran past --timeout 500ms"), "{stderr}");
}

#[test]
fn timeout_stops_a_spinning_p3_command() {
    runaway(&["--timeout", "500ms"], &["spin"]).fails_with(124, "ran past --timeout 500ms");
}

#[test]
fn max_memory_stops_a_p3_command() {
    runaway(&["--max-memory", "32MiB"], &["memory"])
        .fails_with(123, "over --max-memory (33554432 bytes)");
}

#[test]
fn max_resources_stops_a_p3_command() {
    runaway(&["--max-resources", "3000"], &["buckets"])
        .fails_with(122, "more than --max-resources (3000) live resources");
}

#[test]
fn a_trapping_p3_command_exits_134() {
    let out = runaway(&[], &["trap"]);
    assert_eq!(out.code, 134, "{}", out.stderr);
    assert!(
        out.stderr.contains("the component trapped"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_p3_command_exit_code_is_wasmkv_exit_code() {
    assert_eq!(runaway(&[], &["exit", "7"]).code, 7);
    assert_eq!(runaway(&[], &["exit", "0"]).code, 0);
}

#[test]
fn a_p3_handler_given_to_run_names_serve() {
    let dir = workdir();
    let wasm = component("http_counter_p3");
    run(dir.path(), &["run", wasm.to_str().unwrap()])
        .fails_with(125, "serve it with `wasmkv serve");
}

#[test]
fn a_p3_command_given_to_serve_names_run() {
    let dir = workdir();
    let wasm = component("counter_p3");
    run(
        dir.path(),
        &["serve", "--addr", "127.0.0.1:0", wasm.to_str().unwrap()],
    )
    .fails_with(125, "run it with `wasmkv run");
}

#[test]
fn a_file_that_is_not_a_component_keeps_its_message() {
    let dir = workdir();
    let module = dir.path().join("module.wasm");
    // A valid core module: the wasm magic, version 1, no sections.
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    run(dir.path(), &["run", module.to_str().unwrap()]).fails_with(
        125,
        "is not a WebAssembly component (a core module needs `wasm-tools component new`",
    );
}

/// `fetch` (0.2, `wasi:http/outgoing-handler`, as componentize-js builds
/// commands) and `fetch_p3` (0.3, `wasi:http/client`): denied without
/// `--allow-outbound`, with the fix logged; allowed with it.
#[test]
fn commands_of_both_generations_send_http_only_where_allowed() {
    let dir = workdir();
    let upstream = Server::start(dir.path(), "http_probe", &["--store", "default=memory:"]);
    let url = format!("http://{}/ok", upstream.addr());
    let allow = format!("127.0.0.1:{}", upstream.port());
    for name in ["fetch", "fetch_p3"] {
        let wasm = component(name);
        let denied = run(dir.path(), &["run", wasm.to_str().unwrap(), &url]);
        assert_eq!(denied.code, 1, "{name}: {}", denied.stderr);
        assert!(
            denied.stdout.contains("HttpRequestDenied"),
            "{name}: {}",
            denied.stdout
        );
        assert!(
            denied
                .stderr
                .contains(&format!("allow it with --allow-outbound {allow}")),
            "{name}: {}",
            denied.stderr
        );
        let allowed = run(
            dir.path(),
            &[
                "run",
                "--allow-outbound",
                &allow,
                wasm.to_str().unwrap(),
                &url,
            ],
        )
        .success();
        assert_eq!(allowed.stdout.trim(), "200 ok", "{name}");
    }
}
