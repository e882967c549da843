//! `wasmcloud:keyvalue@0.2.0` across processes and interfaces: one bucket
//! name is one namespace whatever opens it, versions change with writes of
//! every interface, expiry holds in every process and across restarts,
//! creators and swappers racing in separate processes get exact winners.

use std::process::Stdio;

use wasmkv_test_servers::{RedisCluster, RedisServer};

use crate::common::http::{Server, get, runtime};
use crate::common::{component, kvtool, labelled_component, run, wasmkv, workdir};

/// Grants for the bucket every test here shares between interfaces.
const SHARED: [&str; 2] = ["--bucket", "shared"];

/// Runs `wasmkv run FLAGS --bucket shared COMPONENT MODE...` and returns
/// its one line of output.
fn run_mode(name: &str, dir: &std::path::Path, flags: &[&str], mode: &[&str]) -> String {
    let comp = component(name);
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&SHARED);
    args.push(comp.to_str().unwrap());
    args.extend_from_slice(mode);
    run(dir, &args).success().stdout.trim().to_string()
}

/// A `conformance_wasmcloud` mode (`wasmcloud:keyvalue`).
fn wasmcloud(dir: &std::path::Path, flags: &[&str], mode: &[&str]) -> String {
    run_mode("conformance_wasmcloud", dir, flags, mode)
}

/// A `conformance-draft2` mode (`wasi:keyvalue@0.2.0-draft2`).
fn draft2(dir: &std::path::Path, flags: &[&str], mode: &[&str]) -> String {
    run_mode("conformance-draft2", dir, flags, mode)
}

fn seed(dir: &std::path::Path, flags: &[&str], mode: &[&str]) -> String {
    let mut flags = flags.to_vec();
    flags.extend_from_slice(&SHARED);
    kvtool(dir, &flags, mode)
        .success()
        .stdout
        .trim()
        .to_string()
}

fn admin(dir: &std::path::Path, flags: &[&str], command: &[&str]) -> crate::common::Run {
    let mut args = vec!["kv"];
    args.extend_from_slice(flags);
    args.extend_from_slice(command);
    run(dir, &args)
}

/// A counter and a version, through every interface, on one store.
fn one_namespace_for_every_interface(store: &str) {
    let dir = workdir();
    let d = dir.path();
    let flags = ["--store", store];
    assert_eq!(wasmcloud(d, &flags, &["incr", "shared", "n", "5"]), "5");
    assert_eq!(draft2(d, &flags, &["get", "shared", "n"]), "5");
    assert_eq!(seed(d, &flags, &["get", "shared", "n"]), "5");
    assert_eq!(seed(d, &flags, &["incr", "shared", "n", "2"]), "7");
    assert_eq!(draft2(d, &flags, &["incr", "shared", "n", "-10"]), "-3");
    assert_eq!(wasmcloud(d, &flags, &["incr", "shared", "n", "1"]), "-2");
    let admin_get = admin(d, &flags, &["get", "shared", "n"]).success();
    assert_eq!(admin_get.stdout, "-2");

    // A write of the same bytes through another interface is a write:
    // the version read before it no longer swaps.
    seed(d, &flags, &["set", "shared", "k", "A"]);
    let current = wasmcloud(d, &flags, &["current", "shared", "k"]);
    let (version, value) = current.split_once(' ').unwrap();
    assert_eq!(value, "A");
    seed(d, &flags, &["set", "shared", "k", "A"]);
    assert_eq!(
        wasmcloud(d, &flags, &["swap", "shared", "k", version, "B"]),
        "stale"
    );
    admin(d, &flags, &["set", "shared", "k", "A"]).success();
    let again = wasmcloud(d, &flags, &["current", "shared", "k"]);
    let (newer, _) = again.split_once(' ').unwrap();
    assert_ne!(newer, version);
    assert_eq!(
        wasmcloud(d, &flags, &["swap", "shared", "k", newer, "B"]),
        "swapped"
    );
    assert_eq!(draft2(d, &flags, &["get", "shared", "k"]), "B");
}

#[test]
fn one_namespace_for_every_interface_on_sqlite_and_redis() {
    one_namespace_for_every_interface("default=sqlite:kv.db");
    let server = RedisServer::start();
    one_namespace_for_every_interface(&format!("default={}", server.url()));
}

#[test]
fn one_namespace_for_every_interface_on_redis_cluster() {
    let cluster = RedisCluster::start();
    one_namespace_for_every_interface(&format!("default={}", cluster.url()));
}

/// An entry with a TTL, written by one process, read by others until it
/// expires and by none after; on SQLite the deadline is in the file, so
/// every later process (a restart) sees it too.
fn expiry_holds_in_every_process(store: &str) {
    let dir = workdir();
    let d = dir.path();
    let flags = ["--store", store];
    // Long enough for the reads below, each a process of its own, to come
    // before it on a busy machine.
    const TTL_MS: u64 = 30_000;
    let written = std::time::Instant::now();
    wasmcloud(
        d,
        &flags,
        &["set", "shared", "t", "soon", &TTL_MS.to_string()],
    );
    wasmcloud(d, &flags, &["set", "shared", "kept", "here"]);
    assert_eq!(seed(d, &flags, &["get", "shared", "t"]), "soon");
    assert_eq!(draft2(d, &flags, &["get", "shared", "t"]), "soon");
    let left = admin(d, &flags, &["ttl", "shared", "t"]).success();
    let secs: u64 = left.stdout.split(' ').next().unwrap().parse().unwrap();
    assert!(secs < TTL_MS / 1000, "{}", left.stdout);
    assert_eq!(
        admin(d, &flags, &["ttl", "shared", "kept"])
            .success()
            .stdout,
        "none\n"
    );
    let past = std::time::Duration::from_millis(TTL_MS + 300);
    std::thread::sleep(past.saturating_sub(written.elapsed()));
    assert_eq!(seed(d, &flags, &["get", "shared", "t"]), "(none)");
    assert_eq!(draft2(d, &flags, &["get", "shared", "t"]), "(none)");
    assert_eq!(wasmcloud(d, &flags, &["get", "shared", "t"]), "(none)");
    assert_eq!(wasmcloud(d, &flags, &["current", "shared", "t"]), "(none)");
    assert_eq!(admin(d, &flags, &["get", "shared", "t"]).code, 1);
    assert_eq!(admin(d, &flags, &["ttl", "shared", "t"]).code, 1);
    let listed = admin(d, &flags, &["list", "shared"]).success();
    assert_eq!(listed.stdout, "kept\n");
    let exported = admin(d, &flags, &["export", "shared"]).success();
    assert!(!exported.stdout.contains("\"t\""), "{}", exported.stdout);
}

#[test]
fn expiry_holds_in_every_process_on_sqlite_and_redis() {
    expiry_holds_in_every_process("default=sqlite:kv.db");
    let server = RedisServer::start();
    expiry_holds_in_every_process(&format!("default={}", server.url()));
}

/// Expired rows leave the SQLite file as it is written to: a file full of
/// expired entries does not keep them.
#[test]
fn expired_rows_leave_a_sqlite_file_as_it_is_written_to() {
    let dir = workdir();
    let d = dir.path();
    let file = d.join("kv.db");
    let flags = ["--store", "default=sqlite:kv.db", "--bucket", "many"];
    let expiring: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "{{\"key\":\"e{i}\",\"value\":\"eA==\",\"expires_at_ms\":{}}}",
                now_ms() + 1000
            )
        })
        .collect();
    let input = d.join("expiring.jsonl");
    std::fs::write(&input, expiring.join("\n")).unwrap();
    admin(
        d,
        &flags,
        &["import", "many", "--in", input.to_str().unwrap()],
    )
    .success();
    let rows = || -> i64 {
        rusqlite::Connection::open(&file)
            .unwrap()
            .query_row("SELECT count(*) FROM kv WHERE bucket = 'many'", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(rows(), 300);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    // Each commit removes a bounded number of expired rows beside its own
    // writes; a few dozen writes remove all 300.
    for i in 0..10 {
        admin(d, &flags, &["set", "many", &format!("w{i}"), "x"]).success();
    }
    assert_eq!(rows(), 10, "expired rows were left in the file");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Processes started at once, each running a `conformance_wasmcloud`
/// mode; their outputs.
fn at_once(dir: &std::path::Path, store: &str, modes: Vec<Vec<String>>) -> Vec<String> {
    let comp = component("conformance_wasmcloud");
    let children: Vec<_> = modes
        .iter()
        .map(|mode| {
            wasmkv(dir)
                .args(["run", "--store", store])
                .args(SHARED)
                .arg(&comp)
                .args(mode)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cannot start wasmkv")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                out.status.success(),
                "{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        })
        .collect()
}

/// Creators and versioned swappers racing from separate processes.
fn races_have_exact_winners(store: &str) {
    let dir = workdir();
    let d = dir.path();
    let creators = (0..6)
        .map(|i| {
            ["create", "shared", "race", &format!("p{i}")]
                .map(String::from)
                .to_vec()
        })
        .collect();
    let created = at_once(d, store, creators);
    let winners: Vec<usize> = (0..created.len())
        .filter(|&i| created[i] == "created")
        .collect();
    assert_eq!(winners.len(), 1, "{created:?}");
    assert!(
        created.iter().all(|c| c == "created" || c == "exists"),
        "{created:?}"
    );
    let stored = wasmcloud(d, &["--store", store], &["get", "shared", "race"]);
    assert_eq!(stored, format!("p{}", winners[0]));

    const PROCESSES: usize = 4;
    const EACH: usize = 40;
    let swappers = (0..PROCESSES)
        .map(|_| {
            ["swap-incr", "shared", "total", &EACH.to_string()]
                .map(String::from)
                .to_vec()
        })
        .collect();
    let outs = at_once(d, store, swappers);
    let total = wasmcloud(d, &["--store", store], &["get", "shared", "total"]);
    assert_eq!(
        total,
        (PROCESSES * EACH).to_string(),
        "swappers said {outs:?}"
    );
}

#[test]
fn races_have_exact_winners_on_sqlite() {
    races_have_exact_winners("default=sqlite:kv.db");
}

#[test]
fn races_have_exact_winners_on_redis() {
    let server = RedisServer::start();
    races_have_exact_winners(&format!("default={}", server.url()));
}

#[test]
fn races_have_exact_winners_on_redis_cluster() {
    let cluster = RedisCluster::start();
    races_have_exact_winners(&format!("default={}", cluster.url()));
}

/// Values and counters stay readable by Redis's own tools, TTLs are
/// Redis's own.
#[test]
fn redis_cli_reads_what_the_interface_writes() {
    let server = RedisServer::start();
    let dir = workdir();
    let store = format!("default={}", server.url());
    let flags = ["--store", store.as_str()];
    wasmcloud(dir.path(), &flags, &["incr", "shared", "n", "41"]);
    wasmcloud(
        dir.path(),
        &flags,
        &["set", "shared", "s", "hello", "60000"],
    );
    assert_eq!(server.cli(&["GET", "wasmkv:6:shared:n"]), "41");
    assert_eq!(server.cli(&["GET", "wasmkv:6:shared:s"]), "hello");
    let pttl: i64 = server.cli(&["PTTL", "wasmkv:6:shared:s"]).parse().unwrap();
    assert!(pttl > 50_000 && pttl <= 60_000, "PTTL {pttl}");
}

/// `wasmcloud-labels IMPORT BUCKET KEY [VALUE]` with `flags`.
fn labelled(dir: &std::path::Path, flags: &[&str], args: &[&str]) -> crate::common::Run {
    let comp = labelled_component();
    let mut all = vec!["run"];
    all.extend_from_slice(flags);
    all.push(comp.to_str().unwrap());
    all.extend_from_slice(args);
    run(dir, &all)
}

/// A store imported under a label opens its buckets in the store the label
/// is given; grants still decide which names; an unmapped label opens
/// where the grant says, as the unlabelled import does.
#[test]
fn a_labelled_import_opens_buckets_in_its_own_store() {
    let server = RedisServer::start();
    let dir = workdir();
    let d = dir.path();
    let redis = format!("cache={}", server.url());
    let mapped = [
        "--store",
        "default=sqlite:kv.db",
        "--store",
        &redis,
        "--label",
        "cache=cache",
        "--bucket",
        "shared",
    ];
    let out = |r: crate::common::Run| r.success().stdout.trim().to_string();
    assert_eq!(
        out(labelled(d, &mapped, &["plain", "shared", "k", "a"])),
        "set a, count 1, current a, many a"
    );
    assert_eq!(
        out(labelled(d, &mapped, &["cache", "shared", "k", "b"])),
        "set b, count 1, current b, many b",
        "the label's bucket is another store's"
    );
    assert_eq!(out(labelled(d, &mapped, &["plain", "shared", "k"])), "a");
    assert_eq!(out(labelled(d, &mapped, &["cache", "shared", "k"])), "b");
    assert_eq!(server.cli(&["GET", "wasmkv:6:shared:k"]), "b");
    let denied = labelled(d, &mapped, &["cache", "ungranted", "k", "v"]);
    assert_ne!(denied.code, 0);
    assert!(denied.stdout.contains("AccessDenied"), "{}", denied.stdout);

    let unmapped = ["--store", "default=sqlite:kv.db", "--bucket", "shared"];
    assert_eq!(
        out(labelled(d, &unmapped, &["cache", "shared", "k"])),
        "a",
        "an unmapped label opens where the grant says"
    );

    let missing = labelled(
        d,
        &[
            "--store",
            "default=sqlite:kv.db",
            "--label",
            "cache=nowhere",
        ],
        &["cache", "shared", "k"],
    );
    let missing = missing.fails_with(125, "import label \"cache\" is given store \"nowhere\"");
    assert!(
        missing.stderr.contains("--store nowhere=URL"),
        "{}",
        missing.stderr
    );
}

/// The named error cases a guest sees for a store that goes down and for a
/// value over the limit (the others are the conformance component's).
#[test]
fn a_store_that_goes_down_and_a_value_over_the_limit_are_named_cases() {
    let mut server = RedisServer::start();
    let dir = workdir();
    let d = dir.path();
    let store = format!("default={}?timeout_ms=500", server.url());
    let serving = Server::start(d, "bench_http_async", &["--store", &store, "--bucket", ""]);
    runtime().block_on(async {
        assert_eq!(get(serving.addr(), "/seed").await.0, 200);
        server.stop();
        let (status, body) = get(serving.addr(), "/get").await;
        assert_eq!((status, body.trim()), (500, "store unavailable"));
    });

    std::fs::write(d.join("small.toml"), "[limits]\nmax_value_bytes = 8\n").unwrap();
    let comp = component("conformance_wasmcloud");
    let big = run(
        d,
        &[
            "run",
            "--config",
            "small.toml",
            "--store",
            "default=memory:",
            "--bucket",
            "shared",
            comp.to_str().unwrap(),
            "set",
            "shared",
            "k",
            "more than eight bytes",
        ],
    );
    assert_ne!(big.code, 0);
    assert_eq!(big.stdout.trim(), "error: quota exceeded");
}

/// `[labels]` in wasmkv.toml does what `--label` does.
#[test]
fn labels_come_from_wasmkv_toml_too() {
    let dir = workdir();
    let d = dir.path();
    std::fs::write(
        d.join("wasmkv.toml"),
        "[stores.default]\ntype = \"sqlite\"\npath = \"kv.db\"\n\n\
         [stores.scratch]\ntype = \"memory\"\n\n\
         [buckets]\nshared = \"default\"\n\n\
         [labels]\ncache = \"scratch\"\n",
    )
    .unwrap();
    let out = |r: crate::common::Run| r.success().stdout.trim().to_string();
    out(labelled(d, &[], &["plain", "shared", "k", "kept"]));
    // `scratch` is memory: a label's writes there are gone with the process,
    // and the plain import still reads the file.
    assert_eq!(out(labelled(d, &[], &["cache", "shared", "k"])), "(none)");
    assert_eq!(out(labelled(d, &[], &["plain", "shared", "k"])), "kept");
}
