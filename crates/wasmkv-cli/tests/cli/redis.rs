//! `wasmkv run` on Redis and Redis Cluster, with real servers started by the
//! test: several processes on one counter, keys as other Redis tools see
//! them, and an outage in the middle of a run.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{component, kvtool, run, run_concurrently, wasmkv, workdir};
use wasmkv_test_servers::{RedisCluster, RedisSentinels, RedisServer, ServerTls, TestPki};

fn store(url: &str) -> String {
    format!("default={url}")
}

fn concurrent_counters(url: &str, get: impl Fn(&str) -> String) {
    let dir = workdir();
    let store = store(url);
    let flags = ["--store", store.as_str()];
    run_concurrently(
        dir.path(),
        &flags,
        2,
        &["incr", "default", "hits", "1", "500"],
    );
    let total = kvtool(dir.path(), &flags, &["get", "default", "hits"]).success();
    assert_eq!(total.stdout.trim(), "1000");
    // Plain decimal under the documented key, for redis-cli and friends.
    assert_eq!(get("wasmkv:7:default:hits"), "1000");

    kvtool(dir.path(), &flags, &["incr", "default", "cas", "0"]).success();
    run_concurrently(
        dir.path(),
        &flags,
        2,
        &["cas-incr", "default", "cas", "200"],
    );
    assert_eq!(get("wasmkv:7:default:cas"), "400");
}

#[test]
fn two_processes_on_a_redis_server_lose_no_update() {
    let server = RedisServer::start();
    concurrent_counters(&server.url(), |key| server.cli(&["GET", key]));
}

#[test]
fn two_processes_on_a_redis_cluster_lose_no_update() {
    let cluster = RedisCluster::start();
    concurrent_counters(&cluster.url(), |key| cluster.cli(&["GET", key]));
}

#[test]
fn a_value_set_with_redis_cli_is_read_by_a_component() {
    let server = RedisServer::start();
    server.cli(&["SET", "wasmkv:7:default:from-cli", "hello"]);
    let dir = workdir();
    let store = store(&server.url());
    let got = kvtool(
        dir.path(),
        &["--store", &store],
        &["get", "default", "from-cli"],
    )
    .success();
    assert_eq!(got.stdout.trim(), "hello");
}

#[test]
fn a_server_outage_mid_run_gives_errors_then_the_run_recovers() {
    let mut server = RedisServer::start();
    let url = format!("{}?timeout_ms=500", server.url());
    let store = store(&url);
    let dir = workdir();
    let tool = component("kvtool");
    let mut child = wasmkv(dir.path())
        .args(["run", "--store", &store])
        .arg(&tool)
        .args(["incr-until-recovered", "default", "n"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start wasmkv");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || {
        lines
            .next()
            .expect("kvtool ended early")
            .expect("unreadable output")
    };

    for expected in 1..=3 {
        assert_eq!(next(), format!("ok {expected}"));
    }
    server.stop();
    let mut errors = Vec::new();
    while errors.len() < 3 {
        let line = next();
        if let Some(trace) = line.strip_prefix("error ") {
            errors.push(trace.to_string());
        }
    }
    for trace in &errors {
        assert!(
            trace.starts_with(
                "increment bucket \"default\" key \"n\": store unavailable: redis://127.0.0.1:"
            ),
            "{trace}"
        );
    }

    server.restart();
    let mut last = String::new();
    loop {
        let line = next();
        if line == "recovered" {
            break;
        }
        last = line;
    }
    // The restarted server kept nothing, so the count starts again.
    assert_eq!(last, "ok 1");
    let status = child.wait().unwrap();
    assert!(status.success(), "kvtool failed: {status}");
}

#[test]
fn an_unreachable_store_is_a_clear_startup_error() {
    let server = RedisServer::start();
    let url = format!(
        "redis://:hunter2@127.0.0.1:{}?timeout_ms=300",
        server.port()
    );
    drop(server);
    let dir = workdir();
    let out = kvtool(
        dir.path(),
        &["--store", &store(&url)],
        &["get", "default", "k"],
    );
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot connect") && out.stderr.contains(":***@127.0.0.1"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}

#[test]
fn a_redis_store_from_wasmkv_toml_uses_its_prefix() {
    let server = RedisServer::start();
    let dir = workdir();
    let config = format!(
        "[stores.cache]\ntype = \"redis\"\nurl = \"{}?prefix=cfg:\"\n\n[buckets]\nsessions = \"cache\"\n",
        server.url()
    );
    std::fs::write(dir.path().join("wasmkv.toml"), config).unwrap();
    kvtool(dir.path(), &[], &["set", "sessions", "k", "v"]).success();
    assert_eq!(server.cli(&["GET", "cfg:8:sessions:k"]), "v");

    let mismatched = format!(
        "[stores.cache]\ntype = \"redis-cluster\"\nurl = \"{}\"\n",
        server.url()
    );
    std::fs::write(dir.path().join("wasmkv.toml"), mismatched).unwrap();
    let out = kvtool(dir.path(), &[], &["get", "sessions", "k"]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains("[stores.cache]") && out.stderr.contains("redis-cluster://"),
        "{}",
        out.stderr
    );
}

/// TLS files named in `wasmkv.toml`, relative to the file's folder, reach
/// the store; a TLS key on a SQLite store is refused naming the table.
#[test]
fn tls_files_from_wasmkv_toml_are_relative_to_it() {
    let pki = TestPki::generate();
    // Its certificate names redis.internal, which tls_server_name gives.
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.named_server(), true));
    let dir = workdir();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let client = pki.client();
    for (from, to) in [
        (pki.ca(), "ca.crt"),
        (client.cert, "me.crt"),
        (client.key, "me.key"),
    ] {
        std::fs::copy(from, certs.join(to)).unwrap();
    }
    let config = format!(
        "[stores.cache]\ntype = \"redis\"\nurl = \"{}\"\ntls_ca_file = \"certs/ca.crt\"\ntls_cert_file = \"certs/me.crt\"\ntls_key_file = \"certs/me.key\"\ntls_server_name = \"redis.internal\"\n\n[buckets]\nsessions = \"cache\"\n",
        server.tls_url()
    );
    std::fs::write(dir.path().join("wasmkv.toml"), config).unwrap();
    kvtool(dir.path(), &[], &["set", "sessions", "k", "over-tls"]).success();
    assert_eq!(server.cli(&["GET", "wasmkv:8:sessions:k"]), "over-tls");

    let wrong =
        "[stores.cache]\ntype = \"sqlite\"\npath = \"kv.db\"\ntls_ca_file = \"certs/ca.crt\"\n";
    std::fs::write(dir.path().join("wasmkv.toml"), wrong).unwrap();
    let out = kvtool(dir.path(), &[], &["get", "sessions", "k"]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains("[stores.cache]")
            && out
                .stderr
                .contains("unknown key \"tls_ca_file\" for type \"sqlite\""),
        "{}",
        out.stderr
    );
}

/// Every URL parameter is also a key of a Redis store's table (one list
/// for both), and a file it names, as a key or inside the url, is read
/// relative to the config file's folder, not the current one.
#[test]
fn url_parameters_are_table_keys_and_files_are_relative_to_the_config() {
    let server = RedisServer::start();
    server.cli(&["CONFIG", "SET", "requirepass", "s3cret"]);
    let dir = workdir();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("pw"), "s3cret\n").unwrap();
    let port = server.port();
    for table in [
        format!(
            "url = \"redis://127.0.0.1:{port}\"\npassword_file = \"pw\"\nprefix = \"k:\"\ntimeout_ms = 2000\n"
        ),
        format!("url = \"redis://127.0.0.1:{port}?password_file=pw&prefix=k:\"\n"),
    ] {
        let config =
            format!("[stores.cache]\ntype = \"redis\"\n{table}\n[buckets]\nsessions = \"cache\"\n");
        std::fs::write(conf.join("wasmkv.toml"), config).unwrap();
        kvtool(
            dir.path(),
            &["--config", "conf/wasmkv.toml"],
            &["set", "sessions", "k", "v"],
        )
        .success();
        assert_eq!(
            server.cli(&["-a", "s3cret", "--no-auth-warning", "GET", "k:8:sessions:k"]),
            "v"
        );
    }
    let refused = [
        (
            format!("url = \"redis://127.0.0.1:{port}?prefix=a:\"\nprefix = \"b:\"\n"),
            "prefix is given twice, as a key and in the url",
        ),
        (
            format!("url = \"redis://127.0.0.1:{port}\"\ntimeout = 5\n"),
            "unknown key \"timeout\" for type \"redis\"; known: type, path, url, prefix, timeout_ms",
        ),
    ];
    for (table, needle) in refused {
        let config = format!("[stores.cache]\ntype = \"redis\"\n{table}");
        std::fs::write(conf.join("wasmkv.toml"), config).unwrap();
        kvtool(
            dir.path(),
            &["--config", "conf/wasmkv.toml"],
            &["get", "sessions", "k"],
        )
        .fails_with(125, needle);
    }
}

/// A password kept out of the command line (`ps` shows every argument):
/// from a file named in the URL, or from an environment variable.
#[test]
fn redis_password_comes_from_a_file_or_the_environment() {
    let server = RedisServer::start();
    let dir = workdir();
    let secret = "s3cr/t@pw";
    std::fs::write(dir.path().join("redis.pass"), format!("{secret}\n")).unwrap();
    server.cli(&["CONFIG", "SET", "requirepass", secret]);

    let without = run(
        dir.path(),
        &[
            "kv",
            "--store",
            &format!("default={}", server.url()),
            "set",
            "default",
            "k",
            "v",
        ],
    );
    assert_eq!(
        without.code, 125,
        "no password must fail at startup: {}",
        without.stderr
    );
    assert!(
        without.stderr.contains("cannot be opened"),
        "{}",
        without.stderr
    );
    assert!(!without.stderr.contains(secret));

    let from_file = format!("default={}?password_file=redis.pass", server.url());
    run(
        dir.path(),
        &["kv", "--store", &from_file, "set", "default", "k", "v"],
    )
    .success();
    let from_env = format!(
        "default={}?password_env=WASMKV_TEST_REDIS_PASSWORD",
        server.url()
    );
    let got = wasmkv(dir.path())
        .env("WASMKV_TEST_REDIS_PASSWORD", secret)
        .args(["kv", "--store", &from_env, "get", "default", "k"])
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(got.stdout, b"v");
}

/// One cluster node, as `CLUSTER NODES` lists it.
struct ClusterNode {
    id: String,
    port: u16,
    slots: Vec<(u16, u16)>,
}

fn cluster_nodes(cluster: &RedisCluster) -> Vec<ClusterNode> {
    let listing = cluster.nodes()[0].cli(&["CLUSTER", "NODES"]);
    listing
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields[1]
                .split('@')
                .next()
                .and_then(|addr| addr.rsplit_once(':'))
                .and_then(|(_, port)| port.parse().ok())
                .expect("CLUSTER NODES address");
            let slots = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .map(|range| match range.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (range.parse().unwrap(), range.parse().unwrap()),
                })
                .collect();
            ClusterNode {
                id: fields[0].to_string(),
                port,
                slots,
            }
        })
        .collect()
}

/// Moves `slot` and its keys from node `from` to node `to` the way a
/// reshard does: IMPORTING/MIGRATING, MIGRATE key by key, then SETSLOT NODE
/// on every node: the destination first, as `redis-cli --cluster reshard`
/// does, or the source first (`source_first`), as an operator or a
/// failover can, when for a moment each node sends the command to the
/// other.
fn move_slot(
    cluster: &RedisCluster,
    slot: u16,
    from: &ClusterNode,
    to: &ClusterNode,
    source_first: bool,
) {
    let node = |port: u16| {
        cluster
            .nodes()
            .iter()
            .find(|n| n.port() == port)
            .expect("node by port")
    };
    let slot_text = slot.to_string();
    let (src, dst) = (node(from.port), node(to.port));
    dst.cli(&["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &from.id]);
    src.cli(&["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &to.id]);
    // Give the increments time to meet the slot half-moved (ASK).
    std::thread::sleep(std::time::Duration::from_millis(20));
    loop {
        let keys = src.cli(&["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"]);
        if keys.trim().is_empty() {
            break;
        }
        for key in keys.lines() {
            src.cli(&[
                "MIGRATE",
                "127.0.0.1",
                &to.port.to_string(),
                key,
                "0",
                "5000",
            ]);
        }
    }
    let order = if source_first { [src, dst] } else { [dst, src] };
    for (i, n) in order.into_iter().enumerate() {
        if i == 1 && source_first {
            // Long enough for increments to meet the two owners disagreeing.
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        n.cli(&["CLUSTER", "SETSLOT", &slot_text, "NODE", &to.id]);
    }
    for n in cluster.nodes() {
        if n.port() != from.port && n.port() != to.port {
            n.cli(&["CLUSTER", "SETSLOT", &slot_text, "NODE", &to.id]);
        }
    }
}

/// A reshard moves a counter's slot back and forth while two processes
/// increment it, setting the new owner on the destination first and on the
/// source first in turn: a MOVED or ASK reply means the command did not
/// run, so following it (with pauses while the owners disagree) is safe,
/// and no increment may fail or count twice. An increment writes the
/// counter and its version key together, which Redis refuses (TRYAGAIN,
/// not run) while their slot is half moved; it is sent again until the
/// slot settles. Each move is followed by a pause, as a reshard moves a
/// slot once and goes on to the next.
/// How long the slot stays put between two moves.
const SETTLED: std::time::Duration = std::time::Duration::from_millis(150);

#[test]
fn increments_follow_a_slot_moving_between_cluster_primaries() {
    let cluster = RedisCluster::start();
    let dir = workdir();
    let key = "wasmkv:7:default:moving";
    let slot: u16 = cluster
        .cli(&["CLUSTER", "KEYSLOT", key])
        .trim()
        .parse()
        .unwrap();
    let nodes = cluster_nodes(&cluster);
    let owner = nodes
        .iter()
        .position(|n| n.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)))
        .expect("the slot has an owner");
    let other = (owner + 1) % nodes.len();

    let done = std::sync::atomic::AtomicBool::new(false);
    let moves = std::thread::scope(|scope| {
        let mover = scope.spawn(|| {
            let mut moves = 0;
            let (mut from, mut to) = (&nodes[owner], &nodes[other]);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                move_slot(&cluster, slot, from, to, moves % 2 == 1);
                std::mem::swap(&mut from, &mut to);
                moves += 1;
                std::thread::sleep(SETTLED);
            }
            moves
        });
        // Stops the mover however the increments end, a failure included.
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let stop = StopOnDrop(&done);
        let flags = ["--store", &store(&cluster.url())].map(str::to_string);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        run_concurrently(
            dir.path(),
            &flags,
            2,
            &["incr", "default", "moving", "1", "3000"],
        );
        drop(stop);
        mover.join().unwrap()
    });
    assert!(
        moves >= 2,
        "the slot moved only {moves} times during the run: not in both orders"
    );
    assert_eq!(cluster.cli(&["GET", key]), "6000");
}

/// Two processes increment one counter on a primary found through three
/// sentinels while the primary fails over to its replica: every increment
/// lands exactly once, on the new primary, and none fails.
#[test]
fn increments_through_sentinel_follow_a_failover() {
    let set = RedisSentinels::start();
    let url = format!("{}?timeout_ms=30000", set.url());
    increments_follow_a_sentinel_failover(&set, &url);
}

#[test]
fn increments_through_sentinel_over_mutual_tls_follow_a_failover() {
    let pki = TestPki::generate();
    let set = RedisSentinels::start_tls(&pki);
    // Writes wait for the replica here too, through the same failover, and
    // the servers' certificates name only NAMED_SERVER.
    let url = format!(
        "{}?timeout_ms=30000&wait_replicas=1&tls_server_name={}&{}",
        set.url(),
        wasmkv_test_servers::NAMED_SERVER,
        pki.mutual_tls_query()
    );
    assert!(url.starts_with("rediss-sentinel://"), "{url}");
    increments_follow_a_sentinel_failover(&set, &url);
}

#[test]
fn increments_survive_a_sentinel_primary_killed_when_writes_wait_for_a_replica() {
    let mut set = RedisSentinels::start();
    let url = format!("{}?timeout_ms=30000&wait_replicas=1", set.url());
    let key = "wasmkv:7:default:counter";
    let first = set.primary_port();
    // By port: the closure cannot borrow the set the disruption changes.
    let count = || {
        wasmkv_test_servers::redis_cli(first, &["GET", key])
            .parse()
            .unwrap_or(0)
    };
    let (new_primary, during) = increments_during(&url, count, || set.kill_primary());
    assert!(during, "the increments ended before the primary was killed");
    assert_ne!(new_primary, first, "no failover happened");
    assert_eq!(set.server(new_primary).cli(&["GET", key]), "20000");
}

/// Two processes add 10 000 each through `url` while `set` fails over
/// once the count passes 500; the total must be exactly 20 000 on the new
/// primary.
fn increments_follow_a_sentinel_failover(set: &RedisSentinels, url: &str) {
    let key = "wasmkv:7:default:counter";
    let first = set.primary_port();
    let count = || set.server(first).cli(&["GET", key]).parse().unwrap_or(0);
    let (new_primary, during) = increments_during(url, count, || set.failover());
    assert!(during, "the increments ended before the failover did");
    assert_ne!(new_primary, first, "no failover happened");
    assert_eq!(set.primary_port(), new_primary);
    assert_eq!(set.server(new_primary).cli(&["GET", key]), "20000");
}

/// Two processes add 10 000 each to `default/counter` through `url`; once
/// `count` passes 500, `disrupt` runs beside them. Returns what `disrupt`
/// returned and whether the increments were still running when it ended.
fn increments_during<T: Send>(
    url: &str,
    count: impl Fn() -> u64 + Send,
    disrupt: impl FnOnce() -> T + Send,
) -> (T, bool) {
    let dir = workdir();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let done = &done;
        let disruption = scope.spawn(move || {
            let start = std::time::Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed)
                && count() < 500
                && start.elapsed() < std::time::Duration::from_secs(60)
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let outcome = disrupt();
            (outcome, !done.load(std::sync::atomic::Ordering::Relaxed))
        });
        let flags = ["--store", &store(url)].map(str::to_string);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        run_concurrently(
            dir.path(),
            &flags,
            2,
            &["incr", "default", "counter", "1", "10000"],
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        disruption.join().unwrap()
    })
}

#[test]
fn increments_survive_a_cluster_primary_killed_when_writes_wait_for_a_replica() {
    let mut cluster = RedisCluster::start_with_replicas();
    let key = "wasmkv:7:default:counter";
    let url = format!("{}?timeout_ms=30000&wait_replicas=1", cluster.url());
    let first_node = cluster.nodes()[0].port();
    // Read through a node by port: the closure cannot borrow the cluster
    // that the disruption stops and starts.
    let count = || {
        wasmkv_test_servers::redis_cli(first_node, &["-c", "GET", key])
            .parse()
            .unwrap_or(0)
    };
    let (old_primary, during) = increments_during(&url, count, || {
        let owner = cluster.primary_of(key);
        let port = cluster.nodes()[owner].port();
        // SIGKILL: whatever the primary had not replicated dies with it.
        cluster.stop_node(owner);
        // Its replica takes over; the old primary then comes back empty and
        // becomes the new primary's replica, which lets writes that wait
        // for a replica finish.
        std::thread::sleep(std::time::Duration::from_secs(3));
        cluster.restart_node(owner);
        port
    });
    assert!(during, "the increments ended before the primary was killed");
    let now = cluster.primary_of(key);
    assert_ne!(
        cluster.nodes()[now].port(),
        old_primary,
        "the replica was never promoted"
    );
    assert_eq!(cluster.cli(&["GET", key]), "20000");
}

/// `wait_replicas` on a primary without enough replicas is said at startup,
/// and its writes fail within the timeout saying they may have been
/// applied; with the replica there, no warning and the write succeeds. No
/// step depends on how fast a busy machine answers: the startup check has
/// seconds whatever `timeout_ms` says, and the write with the replica has
/// thirty.
#[test]
fn wait_replicas_without_the_replicas_is_a_startup_warning_and_a_clear_error() {
    let primary = RedisServer::start();
    let dir = workdir();
    let tight = store(&format!("{}?wait_replicas=1&timeout_ms=500", primary.url()));
    let alone = run(
        dir.path(),
        &["kv", "--store", &tight, "set", "default", "k", "v"],
    );
    assert_ne!(alone.code, 0);
    assert!(
        alone
            .stderr
            .contains("has 0 replica(s) online and wait_replicas=1"),
        "{}",
        alone.stderr
    );
    assert!(
        alone.stderr.contains("may or may not have been applied"),
        "{}",
        alone.stderr
    );

    // With the replica, room for its acknowledgement on a busy machine:
    // the write must succeed however slowly the machine answers.
    let _replica = primary.start_online_replica();
    let roomy = store(&format!(
        "{}?wait_replicas=1&timeout_ms=30000",
        primary.url()
    ));
    let paired = run(
        dir.path(),
        &["kv", "--store", &roomy, "set", "default", "k", "v"],
    );
    assert_eq!(paired.code, 0, "{}", paired.stderr);
    assert!(
        !paired.stderr.contains("replica(s) online"),
        "{}",
        paired.stderr
    );
    assert_eq!(primary.cli(&["GET", "wasmkv:7:default:k"]), "v");
}
