//! The embedding examples README shows (`examples/embed_p2.rs`,
//! `examples/embed_p3.rs`), run as users run them: real components on one
//! SQLite file, a WASI 0.2 command and a WASI 0.3 command counting the same
//! key through different interfaces. `cargo test` builds the examples
//! beside this test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The guest components, built once (release, wasm32-wasip2).
fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let guest = repo().join("guest");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(["-p", "counter", "-p", "conformance-wasmcloud"])
            .current_dir(&guest)
            .env("CARGO_TARGET_DIR", guest.join("target"))
            .status()
            .expect("cannot start cargo to build the guest components");
        assert!(status.success(), "building the guest components failed");
        guest.join("target/wasm32-wasip2/release")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// An example binary `cargo test` built beside this test.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test -p wasmkv-host` builds it (`cargo test --test` alone does not)",
        path.display()
    );
    path
}

fn run(example_name: &str, db: &Path, component: &Path, args: &[&str]) -> String {
    let out = Command::new(example(example_name))
        .arg(db)
        .arg(component)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{example_name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_embedding_examples_run_commands_of_both_generations_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kv.db");
    let counter = guest("counter");
    let async_kv = guest("conformance_wasmcloud");
    assert_eq!(
        run("embed_p2", &db, &counter, &[]),
        "counter has run 1 time"
    );
    assert_eq!(
        run(
            "embed_p3",
            &db,
            &async_kv,
            &["incr", "default", "counter-runs", "5"]
        ),
        "6"
    );
    assert_eq!(
        run("embed_p2", &db, &counter, &[]),
        "counter has run 7 times"
    );
    // The 0.3 example links the rest of the async interface too.
    let p3 = |args: &[&str]| run("embed_p3", &db, &async_kv, args);
    assert_eq!(p3(&["create", "default", "k", "v", "60000"]), "created");
    assert_eq!(p3(&["create", "default", "k", "w"]), "exists");
    let current = p3(&["current", "default", "k"]);
    let (version, value) = current.split_once(' ').unwrap();
    assert_eq!(value, "v");
    assert_eq!(p3(&["swap", "default", "k", version, "w"]), "swapped");
    assert_eq!(p3(&["swap", "default", "k", version, "x"]), "stale");
    assert_eq!(p3(&["get", "default", "k"]), "w");
}
