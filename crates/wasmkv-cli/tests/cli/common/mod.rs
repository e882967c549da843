//! Shared by the integration tests: builds the guest components (once per
//! test binary) and runs the real `wasmkv` binary on them.

#![allow(dead_code)]

pub mod http;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the guest workspace for wasm32-wasip2 and returns its output dir.
/// Fails the test loudly if the build fails; never skips.
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let guest = repo_root().join("guest");
        let target = guest.join("target");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(&guest)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cannot start cargo to build the guest components");
        assert!(
            status.success(),
            "building the guest components failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
        );
        target.join("wasm32-wasip2/release")
    })
}

/// The wasm-component-ld that links `guest/wasmcloud-labels`: its
/// labelled import (`import cache: wasmcloud:keyvalue/store@0.2.0`, the
/// component model's `implements`) is newer than the linker Rust 1.95
/// ships can read. Installed once into `guest/target/tools` with cargo.
const LABELS_LINKER_VERSION: &str = "0.5.31";

/// `guest/wasmcloud-labels`, linked with a linker that reads labelled
/// imports (see [`LABELS_LINKER_VERSION`]).
pub fn labelled_component() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let guest = repo_root().join("guest");
            let tools = guest.join("target/tools");
            let linker = tools.join("bin/wasm-component-ld");
            let stamp = tools.join(format!("wasm-component-ld-{LABELS_LINKER_VERSION}"));
            if !stamp.is_file() {
                let status = Command::new(env!("CARGO"))
                    .args(["install", "--locked", "--force", "wasm-component-ld"])
                    .args(["--version", LABELS_LINKER_VERSION, "--root"])
                    .arg(&tools)
                    .status()
                    .expect("cannot start cargo to install wasm-component-ld");
                assert!(
                    status.success(),
                    "installing wasm-component-ld {LABELS_LINKER_VERSION} failed"
                );
                std::fs::write(&stamp, "").unwrap();
            }
            let status = Command::new(env!("CARGO"))
                .args(["rustc", "--release", "--target", "wasm32-wasip2"])
                .args(["-p", "wasmcloud-labels", "--crate-type", "cdylib", "--"])
                .arg("-C")
                .arg(format!("linker={}", linker.display()))
                .current_dir(&guest)
                .env("CARGO_TARGET_DIR", guest.join("target"))
                .status()
                .expect("cannot start cargo to build wasmcloud-labels");
            assert!(status.success(), "building wasmcloud-labels failed");
            guests().join("wasmcloud_labels.wasm")
        })
        .clone()
}

/// The path of guest component `name`.
pub fn component(name: &str) -> PathBuf {
    let path = guests().join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// What one `wasmkv` process did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics unless the run exited `code` with wasmkv's one error line on
    /// stderr, holding `needle`: the shape of every wasmkv failure.
    pub fn fails_with(self, code: i32, needle: &str) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("wasmkv: error: ") && !line.contains('\n'),
            "not one `wasmkv: error:` line:\n{}",
            self.stderr
        );
        assert!(line.contains(needle), "{needle:?} not in:\n{}", self.stderr);
        self
    }

    /// Panics with both streams unless the run exited 0.
    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "wasmkv failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A `wasmkv` command running in `dir`.
pub fn wasmkv(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmkv"));
    cmd.current_dir(dir);
    cmd
}

/// Runs `wasmkv ARGS...` in `dir` and waits for it.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    Run::from(
        wasmkv(dir)
            .args(args)
            .output()
            .expect("cannot start wasmkv"),
    )
}

/// Runs the kvtool component with `flags` before it and `tool_args` after.
pub fn kvtool(dir: &Path, flags: &[&str], tool_args: &[&str]) -> Run {
    let tool = component("kvtool");
    let mut args: Vec<&str> = vec!["run"];
    args.extend_from_slice(flags);
    args.push(tool.to_str().unwrap());
    args.extend_from_slice(tool_args);
    run(dir, &args)
}

/// A fresh working directory for one test.
pub fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("cannot create a temp dir")
}

/// Starts `count` kvtool processes at once, each `wasmkv run FLAGS kvtool
/// TOOL_ARGS`, and waits for all of them to succeed.
pub fn run_concurrently(dir: &Path, flags: &[&str], count: usize, tool_args: &[&str]) {
    run_concurrently_with("kvtool", dir, flags, count, tool_args);
}

/// As [`run_concurrently`], for any guest component `name`.
pub fn run_concurrently_with(
    name: &str,
    dir: &Path,
    flags: &[&str],
    count: usize,
    tool_args: &[&str],
) {
    let tool = component(name);
    let children: Vec<_> = (0..count)
        .map(|_| {
            wasmkv(dir)
                .arg("run")
                .args(flags)
                .arg(&tool)
                .args(tool_args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cannot start wasmkv")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs the kvtool component as [`kvtool`] does and also returns the
/// process's peak resident memory, in MiB, from the kernel's own count.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives the peak
pub fn kvtool_peak_mib(dir: &Path, flags: &[&str], tool_args: &[&str]) -> (Run, u64) {
    let tool = component("kvtool");
    let (stdout, stderr) = (dir.join(".kvtool-stdout"), dir.join(".kvtool-stderr"));
    let child = wasmkv(dir)
        .arg("run")
        .args(flags)
        .arg(&tool)
        .args(tool_args)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("cannot start wasmkv");
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; the pid is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let run = Run {
        code,
        stdout: std::fs::read_to_string(stdout).unwrap(),
        stderr: std::fs::read_to_string(stderr).unwrap(),
    };
    (run, usage.ru_maxrss as u64 / 1024)
}

/// What [`WriteLoop::last_acked`] says before the first acknowledgement.
pub const NOTHING_ACKED: u64 = u64::MAX;

/// `kvtool set-loop` in a `wasmkv run` process of its own: sets
/// `PREFIX0`, `PREFIX1`, ... (each value its number) in bucket `default`
/// one after another, and the last write it saw acknowledged.
pub struct WriteLoop {
    child: Child,
    /// The keys' prefix.
    pub prefix: String,
    last_acked: Arc<AtomicU64>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl WriteLoop {
    /// Starts `wasmkv run FLAGS kvtool set-loop default PREFIX ...` in `dir`.
    pub fn start(dir: &Path, flags: &[&str], prefix: &str) -> Self {
        let tool = component("kvtool");
        let mut child = wasmkv(dir)
            .arg("run")
            .args(flags)
            .arg(&tool)
            .args(["set-loop", "default", prefix, "100000000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start wasmkv");
        let last_acked = Arc::new(AtomicU64::new(NOTHING_ACKED));
        let seen = last_acked.clone();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("acked ").and_then(|n| n.parse().ok()) {
                    seen.store(n, Ordering::SeqCst);
                }
            }
        });
        WriteLoop {
            child,
            prefix: prefix.to_string(),
            last_acked,
            reader: Some(reader),
        }
    }

    /// The number of the last acknowledged write so far, or [`NOTHING_ACKED`].
    pub fn last_acked(&self) -> u64 {
        self.last_acked.load(Ordering::SeqCst)
    }

    /// SIGKILL, at once, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Kills the process if it still runs, waits for it and for its output,
    /// and returns the last acknowledged write.
    pub fn finish(mut self) -> u64 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.last_acked()
    }
}

impl Drop for WriteLoop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
