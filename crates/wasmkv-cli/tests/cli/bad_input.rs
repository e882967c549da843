//! The bad-input table: each rule's violation is refused with a one-line
//! error that names it, and nothing stored before is lost.

use crate::common::{component, kvtool, run, workdir};

/// Asserts kvtool reported a keyvalue error whose trace holds every needle.
fn assert_kv_error(out: &crate::common::Run, needles: &[&str]) {
    let line = out.stdout.trim();
    assert!(
        line.starts_with("error: "),
        "expected an error, got {line:?} ({})",
        out.stderr
    );
    assert_eq!(line.lines().count(), 1, "trace is not one line: {line:?}");
    for n in needles {
        assert!(line.contains(n), "{line:?} does not mention {n:?}");
    }
    assert_ne!(out.code, 0, "a failed operation exited 0");
}

fn get(dir: &std::path::Path, key: &str) -> String {
    kvtool(dir, &[], &["get", "default", key])
        .success()
        .stdout
        .trim()
        .to_string()
}

#[test]
fn ungranted_bucket_is_denied_and_says_how_to_grant_it() {
    let dir = workdir();
    let out = kvtool(dir.path(), &[], &["set", "secret", "k", "v"]);
    assert_kv_error(
        &out,
        &[
            "open-bucket",
            "\"secret\"",
            "access denied",
            "--bucket secret",
        ],
    );
    let granted = kvtool(dir.path(), &["--bucket", "secret"], &["get", "secret", "k"]).success();
    assert_eq!(granted.stdout.trim(), "(none)", "the denied write landed");
}

#[test]
fn empty_key_is_refused_and_nothing_is_stored() {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set", "default", "keep", "1"]).success();
    assert_kv_error(
        &kvtool(dir.path(), &[], &["set", "default", "", "v"]),
        &["set", "invalid key", "empty"],
    );
    let keys = kvtool(dir.path(), &[], &["keys", "default"]).success();
    assert_eq!(keys.stdout.trim(), "keep");
}

#[test]
fn over_long_key_is_refused_and_the_old_value_kept() {
    let dir = workdir();
    let long = "k".repeat(4097);
    kvtool(dir.path(), &[], &["set", "default", "keep", "1"]).success();
    assert_kv_error(
        &kvtool(dir.path(), &[], &["set", "default", &long, "v"]),
        &["set", "4097 bytes", "max_key_bytes (4096)", "…"],
    );
    assert_eq!(get(dir.path(), "keep"), "1");
    let keys = kvtool(dir.path(), &[], &["keys", "default"]).success();
    assert_eq!(keys.stdout.trim(), "keep");
}

#[test]
fn non_numeric_increment_is_refused_and_the_value_unchanged() {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set", "default", "w", "abc"]).success();
    assert_kv_error(
        &kvtool(dir.path(), &[], &["incr", "default", "w", "1"]),
        &["increment", "\"w\"", "not a canonical decimal"],
    );
    assert_eq!(get(dir.path(), "w"), "abc");
}

#[test]
fn u64_overflow_is_refused_and_the_value_unchanged() {
    let dir = workdir();
    let max = u64::MAX.to_string();
    let out = kvtool(dir.path(), &[], &["incr", "default", "c", &max]).success();
    assert_eq!(out.stdout.trim(), max);
    assert_kv_error(
        &kvtool(dir.path(), &[], &["incr", "default", "c", "1"]),
        &["increment", "\"c\"", "overflows"],
    );
    assert_eq!(get(dir.path(), "c"), max);
}

#[test]
fn oversize_values_are_refused_while_streaming_and_the_old_value_kept() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("wasmkv.toml"),
        "[limits]\nmax_value_bytes = 1024\n",
    )
    .unwrap();
    kvtool(dir.path(), &[], &["set", "default", "k", "old"]).success();
    let streamed = kvtool(dir.path(), &[], &["write-big", "default", "k", "2048"]);
    assert!(
        streamed.stdout.contains("stream error after 0 bytes")
            && streamed.stdout.contains("max_value_bytes (1024)"),
        "{}",
        streamed.stdout
    );
    // 256 MiB offered: refused at the first write, so the host never
    // buffers more than the limit.
    let huge = kvtool(dir.path(), &[], &["write-big", "default", "k", "268435456"]);
    assert!(
        huge.stdout.contains("stream error after 0 bytes"),
        "{}",
        huge.stdout
    );
    let whole = kvtool(dir.path(), &[], &["set", "default", "k", &"x".repeat(1025)]);
    assert_kv_error(&whole, &["1025 bytes", "max_value_bytes (1024)"]);
    assert_eq!(get(dir.path(), "k"), "old");
    let at_limit = kvtool(dir.path(), &[], &["write-big", "default", "k", "1024"]).success();
    assert!(
        at_limit.stdout.starts_with("wrote 1024 "),
        "{}",
        at_limit.stdout
    );
}

#[test]
fn missing_component_file_is_a_one_line_setup_error() {
    let dir = workdir();
    let out = run(dir.path(), &["run", "no-such-app.wasm"]);
    assert_eq!(out.code, 125);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no-such-app.wasm not found"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let dir = workdir();
    std::fs::write(dir.path().join("junk.wasm"), b"not wasm").unwrap();
    let out = run(dir.path(), &["run", "junk.wasm"]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.contains("is not a WebAssembly component"),
        "{}",
        out.stderr
    );
}

#[test]
fn component_that_does_not_link_names_the_missing_import() {
    let dir = workdir();
    let comp = component("unlinkable");
    let out = run(dir.path(), &["run", comp.to_str().unwrap()]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot be linked"), "{}", out.stderr);
    assert!(
        out.stderr.contains("wasmkv-test:unlinkable/missing"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_store_flags_are_setup_errors() {
    let dir = workdir();
    let counter = component("counter");
    let c = counter.to_str().unwrap();
    for (flag, needle) in [
        ("nonsense", "expected NAME=URL"),
        ("default=ftp://x", "unknown scheme"),
        ("default=sqlite:", "needs a file path"),
    ] {
        let out = run(dir.path(), &["run", "--store", flag, c]);
        assert_eq!(out.code, 125, "{flag}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{flag}: {}", out.stderr);
    }
    let out = run(dir.path(), &["run", "--bucket", "x=nowhere", c]);
    assert_eq!(out.code, 125);
    assert!(out.stderr.contains("--store nowhere=URL"), "{}", out.stderr);
}

#[test]
fn config_typo_is_located_by_file_line_and_key() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("wasmkv.toml"),
        "[stores.default]\ntype = \"sqlite\"\npth = \"x.db\"\n",
    )
    .unwrap();
    let counter = component("counter");
    let out = run(dir.path(), &["run", counter.to_str().unwrap()]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(out.stderr.contains("wasmkv.toml:3:1:"), "{}", out.stderr);
    assert!(out.stderr.contains("pth"), "{}", out.stderr);
}

#[test]
fn guest_failure_exit_code_is_passed_through() {
    let dir = workdir();
    let out = kvtool(dir.path(), &[], &["no-such-op"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("usage: kvtool"), "{}", out.stderr);
}

#[test]
fn batches_and_listings_over_their_caps_are_refused_and_write_nothing() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("wasmkv.toml"),
        "[limits]\nmax_batch_items = 10\nmax_listed_keys = 12\n",
    )
    .unwrap();
    let over = kvtool(dir.path(), &[], &["set-many", "default", "a", "11"]);
    assert_kv_error(
        &over,
        &[
            "set-many bucket \"default\"",
            "11 items is over max_batch_items (10)",
        ],
    );
    assert_eq!(get(dir.path(), "a0"), "(none)");
    let read = kvtool(dir.path(), &[], &["get-many", "default", "a", "11"]);
    assert_kv_error(&read, &["get-many", "max_batch_items (10)"]);

    kvtool(dir.path(), &[], &["set-many", "default", "a", "10"]).success();
    kvtool(dir.path(), &[], &["set-many", "default", "b", "2"]).success();
    let listed = kvtool(dir.path(), &[], &["keys", "default"]).success();
    assert_eq!(listed.stdout.lines().count(), 12);
    kvtool(dir.path(), &[], &["set", "default", "one-more", "x"]).success();
    let too_many = kvtool(dir.path(), &[], &["keys", "default"]);
    assert_kv_error(
        &too_many,
        &["keys bucket \"default\"", "max_listed_keys (12)"],
    );
}

/// Where a command's output goes in the output-fault table.
#[derive(Clone, Copy, Debug)]
enum Sink {
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
    /// A pipe whose reader is already gone: every write fails with EPIPE.
    ClosedPipe,
}

/// Runs `wasmkv ARGS` with stdout (or, with `on_stderr`, stderr) sent to `sink`.
fn run_into(
    dir: &std::path::Path,
    args: &[&str],
    sink: Sink,
    on_stderr: bool,
) -> crate::common::Run {
    use std::process::Stdio;
    let target = || match sink {
        Sink::Full => Stdio::from(std::fs::File::create("/dev/full").unwrap()),
        Sink::ClosedPipe => Stdio::piped(),
    };
    let mut cmd = crate::common::wasmkv(dir);
    cmd.args(args);
    if on_stderr {
        cmd.stdout(Stdio::piped()).stderr(target());
    } else {
        cmd.stdout(target()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("cannot start wasmkv");
    // Close the reading end before wasmkv writes anything.
    if on_stderr {
        drop(child.stderr.take());
    } else {
        drop(child.stdout.take());
    }
    let out = child.wait_with_output().unwrap();
    crate::common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn output_faults_never_panic_and_never_misreport_a_change() {
    let dir = workdir();
    let d = dir.path();
    // (args, sink, fault on stderr, exit code, what the message must hold)
    let table: &[(&[&str], Sink, bool, i32, &str)] = &[
        (
            &["kv", "incr", "default", "n", "5"],
            Sink::Full,
            false,
            74,
            "the increment was applied (new value 5), but its output could not be written",
        ),
        (
            &["kv", "get", "default", "n"],
            Sink::Full,
            false,
            74,
            "could not be written",
        ),
        (
            &["kv", "export", "default"],
            Sink::Full,
            false,
            74,
            "could not be written",
        ),
        (&["kv", "list", "default"], Sink::ClosedPipe, false, 141, ""),
        (
            &["kv", "get", "default", "n"],
            Sink::ClosedPipe,
            false,
            141,
            "",
        ),
        // A change whose output nobody reads still succeeded.
        (
            &["kv", "incr", "default", "n", "1"],
            Sink::ClosedPipe,
            false,
            0,
            "",
        ),
        (&["run", "missing.wasm"], Sink::ClosedPipe, true, 125, ""),
        (&["run", "missing.wasm"], Sink::Full, true, 125, ""),
    ];
    for &(args, sink, on_stderr, code, message) in table {
        let out = run_into(d, args, sink, on_stderr);
        assert_eq!(
            out.code, code,
            "{args:?} into {sink:?}: {}{}",
            out.stdout, out.stderr
        );
        if !on_stderr {
            assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
            assert_eq!(
                out.stderr.lines().count(),
                message.len().min(1),
                "{args:?}: {}",
                out.stderr
            );
        }
    }
    // Both increments landed, whatever became of their output.
    let value = run(d, &["kv", "get", "default", "n"]).success();
    assert_eq!(value.stdout, "6");
}

#[test]
fn passwords_are_never_echoed_by_bad_store_urls() {
    let dir = workdir();
    let d = dir.path();
    let secret = "Pa/ss9wd";
    let bad_urls = [
        "redis://:Pa/ss9wd@127.0.0.1:16380",
        "redis://:Pa/ss9wd@127.0.0.1:notaport",
        "redis://user:Pa/ss9wd@127.0.0.1:1/x",
        "redis://:Pa/ss9wd@127.0.0.1:1?bogus=1",
        "redis-cluster://:Pa/ss9wd@a:1,,b:2",
    ];
    for url in bad_urls {
        let flag = run(
            d,
            &[
                "kv",
                "--store",
                &format!("default={url}"),
                "list",
                "default",
            ],
        );
        std::fs::write(
            d.join("wasmkv.toml"),
            format!("[stores.default]\ntype = \"redis\"\nurl = \"{url}\"\n"),
        )
        .unwrap();
        let file = run(d, &["kv", "list", "default"]);
        std::fs::remove_file(d.join("wasmkv.toml")).unwrap();
        for out in [flag, file] {
            assert_eq!(out.code, 125, "{url}: {}", out.stderr);
            assert!(out.stderr.contains("***"), "{url}: {}", out.stderr);
            assert!(!out.stderr.contains(secret), "{url} leaked: {}", out.stderr);
            assert!(!out.stdout.contains(secret), "{url} leaked: {}", out.stdout);
        }
    }
}

#[test]
fn sqlite_stores_that_would_lose_acknowledged_writes_are_refused() {
    let dir = workdir();
    let d = dir.path();
    for url in ["sqlite::memory:", "sqlite:file:x?mode=memory", "sqlite:."] {
        let out = run(
            d,
            &[
                "kv",
                "--store",
                &format!("default={url}"),
                "set",
                "default",
                "k",
                "v",
            ],
        );
        assert_eq!(out.code, 125, "{url}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("cannot be opened"), "{}", out.stderr);
    }
    let out = run(
        d,
        &[
            "kv",
            "--store",
            "default=sqlite::memory:",
            "list",
            "default",
        ],
    );
    assert!(
        out.stderr.contains("use the `memory:` store"),
        "{}",
        out.stderr
    );
    // The cause is said once, not once per error in the chain.
    assert_eq!(
        out.stderr.matches("acknowledged writes").count(),
        1,
        "{}",
        out.stderr
    );

    std::fs::write(
        d.join("wasmkv.toml"),
        "[stores.default]\ntype = \"sqlite\"\npath = \"\"\n",
    )
    .unwrap();
    let out = run(d, &["kv", "list", "default"]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(out.stderr.contains("needs a file path"), "{}", out.stderr);
}

#[test]
fn command_line_mistakes_are_one_error_line_and_exit_125() {
    let dir = workdir();
    let d = dir.path();
    let table: &[(&[&str], &str)] = &[
        (&["--bogus"], "unexpected argument '--bogus'"),
        (&["run"], "<COMPONENT>"),
        (
            &["run", "--timeout", "soon", "x.wasm"],
            "'--timeout <DURATION>'",
        ),
        (
            &["run", "--max-resources", "-1", "x.wasm"],
            "unexpected argument '-1'",
        ),
        (&["kv", "set"], "<BUCKET> <KEY> <VALUE>"),
        (&["kv", "incr", "default", "n", "one"], "'one'"),
        (
            &["serve", "--max-concurrency", "x", "h.wasm"],
            "--max-concurrency",
        ),
    ];
    for &(args, needle) in table {
        run(d, args).fails_with(125, needle);
    }
    // Not UTF-8: still one line, still 125.
    use std::os::unix::ffi::OsStrExt;
    let out = crate::common::wasmkv(d)
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);

    // Help is not an error.
    assert_eq!(run(d, &["--help"]).code, 0);
    // Values and deltas may start with `-`.
    run(d, &["kv", "set", "default", "k", "-5"]).success();
    assert_eq!(
        run(d, &["kv", "get", "default", "k"]).success().stdout,
        "-5"
    );
    assert_eq!(
        run(d, &["kv", "incr", "default", "n", "-3"])
            .success()
            .stdout,
        "-3\n"
    );
}

/// The access-denied hint is the CLI's (the engine only says what was
/// denied), and what it says to paste works.
#[test]
fn access_denied_hints_work_when_pasted() {
    let dir = workdir();
    let d = dir.path();
    let star = kvtool(d, &[], &["get", "*", "k"]);
    assert!(
        star.stdout.contains("cannot be granted on its own"),
        "{}",
        star.stdout
    );
    for name in ["a=b=c", "it's \"quoted\""] {
        let denied = kvtool(d, &[], &["get", name, "k"]);
        let line = denied.stdout.trim();
        let toml_line = line
            .split('`')
            .find(|part| part.ends_with("= \"default\""))
            .unwrap_or_else(|| panic!("no wasmkv.toml line in {line:?}"));
        assert_eq!(name.contains('='), !line.contains("--bucket '"), "{line}");
        std::fs::write(d.join("wasmkv.toml"), format!("[buckets]\n{toml_line}\n")).unwrap();
        let granted = kvtool(d, &[], &["get", name, "k"]).success();
        assert_eq!(granted.stdout.trim(), "(none)");
        std::fs::remove_file(d.join("wasmkv.toml")).unwrap();
    }
}

/// Inputs that are endless or not files: refused at once, never read forever.
#[test]
fn endless_or_non_file_inputs_are_refused_not_read_forever() {
    let dir = workdir();
    let d = dir.path();
    let fifo = d.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let table: &[(&[&str], &str)] = &[
        (&["run", "fifo"], "not a regular file"),
        (&["run", "."], "is a directory"),
        (
            &["run", "--config", "/dev/zero", "x.wasm"],
            "larger than 1048576 bytes",
        ),
        (
            &["kv", "import", "default", "--in", "/dev/zero"],
            "line 1: the line is longer",
        ),
        (&["kv", "import", "default", "--in", "."], "cannot"),
    ];
    for &(args, needle) in table {
        run(d, args).fails_with(125, needle);
    }
    // An empty export imports as nothing, successfully.
    std::fs::write(d.join("empty.jsonl"), "").unwrap();
    let out = run(d, &["kv", "import", "default", "--in", "empty.jsonl"]).success();
    assert!(out.stderr.contains("imported 0 keys"), "{}", out.stderr);
}

#[test]
fn nonsense_limits_and_huge_bucket_names_are_refused() {
    let dir = workdir();
    let d = dir.path();
    for (args, needle) in [
        (
            &["run", "--max-resources", "0", "x.wasm"][..],
            "must be at least 1",
        ),
        (
            &["run", "--timeout", "0s", "x.wasm"][..],
            "must be more than 0",
        ),
        (
            &["run", "--max-instance-bytes", "0", "x.wasm"][..],
            "max_instance_bytes is 0",
        ),
        (
            &[
                "kv",
                "--store",
                "default=redis://127.0.0.1:1?timeout_ms=18446744073709551615",
                "list",
                "x",
            ][..],
            "timeout_ms must be",
        ),
    ] {
        let out = run(d, args);
        assert_eq!(out.code, 125, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let huge = "b".repeat(100_000);
    let out = kvtool(d, &["--bucket", "*"], &["set", &huge, "k", "v"]);
    assert_kv_error(
        &out,
        &[
            "open-bucket",
            "bucket name is 100000 bytes, over max_key_bytes",
        ],
    );
    assert!(out.stdout.len() < 1000, "the trace quotes the whole name");
}

#[test]
fn a_function_of_the_wrong_type_is_named_with_both_types() {
    let dir = workdir();
    let comp = component("mistyped");
    let out = run(dir.path(), &["run", "--bucket", "", comp.to_str().unwrap()]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    for needle in [
        "cannot be linked",
        "imports `increment` from wasi:keyvalue/atomics@0.2.0-draft",
        "delta: s32",
        "wasmkv provides `increment: func(bucket: borrow<bucket>, key: string, delta: u64) -> result<u64, error>`",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

/// Command-line mistakes get a hint that fixes them: the subcommand's own
/// help, the form an address takes, no `-- --flag` advice for a misplaced
/// option, and a cap `kv` would ignore refused; store options may follow a
/// `kv` subcommand.
#[test]
fn command_line_hints_name_the_fix() {
    let dir = workdir();
    let d = dir.path();
    run(d, &["kv", "lst"]).fails_with(125, "see `wasmkv kv --help`");
    run(d, &["kv", "list", "b", "--bogus"]).fails_with(125, "see `wasmkv kv list --help`");
    run(d, &["serve", "--addr", "8080", "h.wasm"])
        .fails_with(125, "expected HOST:PORT, e.g. 127.0.0.1:8080");
    let misplaced =
        run(d, &["run", "--nope", "x.wasm"]).fails_with(125, "unexpected argument '--nope'");
    assert!(
        !misplaced.stderr.contains("-- --nope"),
        "{}",
        misplaced.stderr
    );
    run(d, &["kv", "--max-result-bytes", "1", "list", "b"])
        .fails_with(125, "`wasmkv kv` has no such caps");
    run(
        d,
        &[
            "kv",
            "set",
            "b",
            "k",
            "v",
            "--store",
            "default=sqlite:after.db",
        ],
    )
    .success();
    assert!(
        d.join("after.db").is_file(),
        "--store after the subcommand was not used"
    );
}

/// `WASMKV_LOG=debug` shows wasmkv's own lines, not wasmtime's and
/// Cranelift's; a memory cap under a component's initial memory is the
/// memory limit (123), not a start-up failure; a sentinel URL's usage text
/// is not mangled by password redaction.
#[test]
fn debug_logs_memory_caps_and_sentinel_usage_read_as_documented() {
    let dir = workdir();
    let d = dir.path();
    let counter = component("counter");
    let counter = counter.to_str().unwrap();
    let out = crate::common::wasmkv(d)
        .env("WASMKV_LOG", "debug")
        .args([
            "run",
            "--store",
            "default=memory:",
            "--bucket",
            "elsewhere",
            counter,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG wasmkv::guest_error"), "{stderr}");
    for noise in ["wasmtime", "cranelift"] {
        assert!(
            !stderr
                .lines()
                .any(|l| l.contains(" DEBUG ") && l.contains(noise)),
            "{noise} debug lines under WASMKV_LOG=debug:\n{stderr}"
        );
    }
    run(d, &["run", "--max-memory", "64KiB", counter]).fails_with(123, "over --max-memory");
    let usage = run(
        d,
        &["run", "--store", "default=redis-sentinel://h:1", counter],
    )
    .fails_with(125, "redis-sentinel://HOST:PORT");
    assert!(usage.stderr.contains("USER:PASSWORD@"), "{}", usage.stderr);
}
