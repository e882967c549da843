//! `wasmkv run`'s guest limits: a runaway component is stopped with a clear
//! message and its own exit code, and the store is left intact.

use crate::common::{component, kvtool, run, workdir};

/// Runs `runaway WHAT` under `limit`, checks the exit code and message,
/// then checks the default store still answers with the value set before.
fn stopped(limit: &[&str], what: &str, code: i32, message: &str) {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set", "default", "before", "kept"]).success();
    let runaway = component("runaway");
    let mut args = vec!["run"];
    args.extend_from_slice(limit);
    args.extend([runaway.to_str().unwrap(), what]);
    let out = run(dir.path(), &args);
    assert_eq!(
        out.code, code,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(message), "{}", out.stderr);
    let after = kvtool(dir.path(), &[], &["get", "default", "before"]).success();
    assert_eq!(after.stdout.trim(), "kept");
}

#[test]
fn a_busy_loop_is_stopped_by_timeout() {
    stopped(&["--timeout", "1s"], "spin", 124, "ran past --timeout 1s");
}

#[test]
fn a_guest_blocked_in_a_host_call_is_stopped_by_timeout() {
    stopped(
        &["--timeout", "500ms"],
        "sleep",
        124,
        "ran past --timeout 500ms",
    );
}

#[test]
fn memory_growth_past_max_memory_is_stopped() {
    stopped(
        &["--max-memory", "32MiB"],
        "memory",
        123,
        "over --max-memory (33554432 bytes)",
    );
}

#[test]
fn hoarding_resources_past_max_resources_is_stopped() {
    stopped(
        &["--max-resources", "3000"],
        "buckets",
        122,
        "more than --max-resources (3000) live resources",
    );
}

#[test]
fn bad_limit_values_are_setup_errors() {
    let dir = workdir();
    let runaway = component("runaway");
    for bad in [["--timeout", "soon"], ["--max-memory", "lots"]] {
        let mut args = vec!["run"];
        args.extend(bad);
        args.extend([runaway.to_str().unwrap(), "spin"]);
        let out = run(dir.path(), &args);
        assert_ne!(out.code, 0, "{bad:?} accepted");
        assert!(out.stderr.contains(bad[0]), "{}", out.stderr);
    }
}
