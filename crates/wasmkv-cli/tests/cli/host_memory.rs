//! A guest cannot make the host hold more than its limits: each scenario
//! would have the host allocate gigabytes without them, and must instead
//! give the guest an error naming the limit while the process stays under a
//! fixed peak resident size.

use crate::common::{kvtool, kvtool_peak_mib, workdir};

/// The peak a refused scenario may reach: wasmtime, the compiled guest and
/// the limits' worth of bytes, far below what the attacks ask for (GBs).
const PEAK_MIB: u64 = 400;

const SIXTEEN_MIB: &str = "16777216";

fn with_big_value(store: &str) -> tempfile::TempDir {
    let dir = workdir();
    kvtool(
        dir.path(),
        &["--store", store],
        &["write-big", "default", "big", SIXTEEN_MIB],
    )
    .success();
    dir
}

fn get_many_of_one_value_200_times_is_refused_before_reading(store: &str) {
    let dir = with_big_value(store);
    let (run, peak) = kvtool_peak_mib(
        dir.path(),
        &["--store", store],
        &["get-many-repeat", "default", "big", "200"],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("get-many")
            && run.stdout.contains("3355443200 bytes")
            && run.stdout.contains("max_result_bytes"),
        "{}",
        run.stdout
    );
    assert!(peak < PEAK_MIB, "peak {peak} MiB");

    // Within the limit, the same call works.
    let run = kvtool(
        dir.path(),
        &["--store", store],
        &["get-many-repeat", "default", "big", "4"],
    )
    .success();
    assert_eq!(run.stdout.trim(), "got 4 values, 67108864 bytes");
}

#[test]
fn get_many_over_max_result_bytes_is_refused_before_reading_on_sqlite() {
    get_many_of_one_value_200_times_is_refused_before_reading("default=sqlite:kv.db");
}

#[test]
fn get_many_over_max_result_bytes_is_refused_before_reading_on_redis() {
    let server = wasmkv_test_servers::RedisServer::start();
    get_many_of_one_value_200_times_is_refused_before_reading(&format!("default={}", server.url()));
}

#[test]
fn held_incoming_values_stop_at_max_instance_bytes() {
    let store = "default=sqlite:kv.db";
    let dir = with_big_value(store);
    let (run, peak) = kvtool_peak_mib(
        dir.path(),
        &["--store", store, "--max-instance-bytes", "64MiB"],
        &["hold-values", "default", "big", "40"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("error after 4 values:")
            && run.stdout.contains("get")
            && run.stdout.contains("max_instance_bytes (67108864)"),
        "{}",
        run.stdout
    );
    assert!(peak < PEAK_MIB, "peak {peak} MiB");
}

#[test]
fn held_outgoing_values_stop_at_max_instance_bytes() {
    let dir = workdir();
    let (run, peak) = kvtool_peak_mib(
        dir.path(),
        &["--max-instance-bytes", "64MiB", "--max-memory", "64MiB"],
        &["hold-outgoing", "40", SIXTEEN_MIB],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("stream error in value 4:")
            && run.stdout.contains("max_instance_bytes (67108864)"),
        "{}",
        run.stdout
    );
    assert!(peak < PEAK_MIB, "peak {peak} MiB");
}

#[test]
fn zero_limits_are_refused_at_startup() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("wasmkv.toml"),
        "[limits]\nmax_key_bytes = 0\n",
    )
    .unwrap();
    let run = kvtool(dir.path(), &[], &["get", "default", "k"]);
    assert_eq!(run.code, 125, "{}", run.stderr);
    assert!(run.stderr.contains("max_key_bytes is 0"), "{}", run.stderr);
}

#[test]
fn a_key_listing_over_max_result_bytes_is_refused_by_name() {
    let dir = workdir();
    kvtool(dir.path(), &[], &["set-many", "default", "key-", "2500"]).success();
    let listed = kvtool(dir.path(), &[], &["keys", "default"]).success();
    assert_eq!(listed.stdout.lines().count(), 2500);
    let refused = kvtool(
        dir.path(),
        &["--max-result-bytes", "4KiB"],
        &["keys", "default"],
    );
    assert!(
        refused.stdout.starts_with("error: keys")
            && refused.stdout.contains("max_result_bytes (4096)"),
        "{}",
        refused.stdout
    );
}
