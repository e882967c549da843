//! The bench-draft component run from outside, as a user runs it: by
//! `wasmkv run` on a memory store and by the wasmtime CLI's
//! `wasmtime run -S keyvalue`. This is how issue 13 measured the draft
//! against wasmtime's host. Unlike the in-process rows, these include the
//! per-call costs of the wasmtime build each CLI ships.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::guest::parse_loop;
use crate::native::combine;
use crate::workload::{Sample, Workload};

/// Which CLI runs the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    /// `wasmkv run --store default=memory: --bucket ''`.
    Wasmkv,
    /// `wasmtime run -S keyvalue` (its in-memory store, bucket `""`).
    Wasmtime,
}

/// The two programs and the component they run.
pub struct CliRuns {
    wasmkv: PathBuf,
    wasmtime: PathBuf,
    component: PathBuf,
}

impl CliRuns {
    /// Builds `wasmkv` (release) to run `component`. Returns `None` without
    /// a wasmtime CLI, given as `wasmtime` (a path or a name on `PATH`);
    /// `Some` also carries the CLI's own `--version` line.
    pub fn prepare(
        repo: &Path,
        wasmtime: &Path,
        component: PathBuf,
    ) -> anyhow::Result<Option<(Self, String)>> {
        let Some(wasmtime) = crate::which(wasmtime) else {
            return Ok(None);
        };
        let version = Command::new(&wasmtime)
            .arg("--version")
            .output()
            .with_context(|| format!("cannot run {}", wasmtime.display()))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        let runs = Self {
            wasmkv: build_wasmkv(repo)?,
            wasmtime,
            component,
        };
        Ok(Some((runs, version)))
    }

    /// Runs `iters` operations of `w` in one process of `cli`.
    pub fn run(&self, cli: Cli, w: Workload, iters: u64) -> anyhow::Result<Sample> {
        if w.concurrency != 1 {
            bail!("one process runs one instance");
        }
        let mut command = match cli {
            Cli::Wasmkv => {
                let mut c = Command::new(&self.wasmkv);
                c.args(["run", "--store", "default=memory:", "--bucket", ""]);
                c
            }
            Cli::Wasmtime => {
                let mut c = Command::new(&self.wasmtime);
                c.args(["run", "-S", "keyvalue"]);
                c
            }
        };
        let out = command
            .arg(&self.component)
            .args([w.op, "", &w.value_bytes.to_string(), &iters.to_string()])
            .arg("i0")
            .output()
            .with_context(|| format!("cannot start {command:?}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match parse_loop(&text) {
            Ok(looped) => Ok(combine(&[looped], iters)),
            Err(said) if out.status.success() || text.starts_with("not offered") => Err(said),
            Err(_) => bail!(
                "{cli:?} CLI exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }
}

/// Builds the `wasmkv` binary (release) and returns its path.
pub fn build_wasmkv(repo: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "wasmkv-cli"])
        .current_dir(repo)
        .status()
        .context("cannot run cargo to build wasmkv")?;
    if !status.success() {
        bail!("building wasmkv failed");
    }
    Ok(repo.join("target/release/wasmkv"))
}
