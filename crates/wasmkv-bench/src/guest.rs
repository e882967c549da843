//! The guest loops (bench-seed, bench-draft) run in-process, one wasmtime
//! instance per concurrent "user", under wasmkv's host or under
//! wasmtime-wasi-keyvalue.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{Context, bail};
use wasmkv_engine::Engine as KvEngine;
use wasmkv_host::{LinkOptions, WasmKv, WasmKvCtx, WasmKvView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_keyvalue::{WasiKeyValue, WasiKeyValueCtx, WasiKeyValueCtxBuilder};

use crate::native::combine;
use crate::workload::{Sample, Workload};

/// Which guest component runs.
#[derive(Debug, Clone, Copy)]
pub enum Guest {
    /// bench-seed: the seed world through the SDK.
    Seed,
    /// bench-draft: `wasi:keyvalue@0.2.0-draft`.
    Draft,
}

/// Store data under wasmkv's host.
struct KvHost {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasmKvCtx,
}

impl WasiView for KvHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasmKvView for KvHost {
    fn keyvalue(&mut self) -> WasmKv<'_> {
        WasmKv::new(&self.kv, &mut self.table)
    }
}

/// Store data under wasmtime-wasi-keyvalue.
struct WasmtimeHost {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasiKeyValueCtx,
}

impl WasiView for WasmtimeHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Compiled components, pre-linked for both hosts.
pub struct Guests {
    dir: PathBuf,
    seed_on_wasmkv: CommandPre<KvHost>,
    draft_on_wasmkv: CommandPre<KvHost>,
    draft_on_wasmtime: CommandPre<WasmtimeHost>,
}

/// Builds `packages` of the guest workspace (release, wasm32-wasip2) and
/// returns the folder their `.wasm` files are in.
pub fn build_packages(repo: &Path, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let guest = repo.join("guest");
    let mut cargo = Process::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--release", "--target", "wasm32-wasip2"]);
    for package in packages {
        cargo.args(["-p", package]);
    }
    let status = cargo
        .current_dir(&guest)
        .env("CARGO_TARGET_DIR", guest.join("target"))
        .status()
        .context("cannot run cargo to build the bench guests")?;
    if !status.success() {
        bail!(
            "building {} failed (rustup target add wasm32-wasip2?)",
            packages.join(", ")
        );
    }
    Ok(guest.join("target/wasm32-wasip2/release"))
}

impl Guests {
    /// Builds the guest workspace (release, wasm32-wasip2) and compiles the
    /// two bench components. bench-draft runs only on `draft_engine`, and is
    /// linked for it as `wasmkv run` links a component for its engine.
    pub fn build(repo: &Path, draft_engine: &KvEngine) -> anyhow::Result<Self> {
        let dir = build_packages(repo, &["bench-seed", "bench-draft"])?;
        // As `wasmkv run` builds the engine for a 0.2 component: without
        // concurrency support, whose per-call task bookkeeping 0.2 guests
        // do not need.
        let mut config = wasmtime::Config::new();
        config.concurrency_support(false);
        let engine = Engine::new(&config)?;
        let load = |name: &str| {
            Component::from_file(&engine, dir.join(format!("{name}.wasm")))
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot load {name}.wasm"))
        };
        let (seed, draft) = (load("bench-seed")?, load("bench-draft")?);

        let mut kv_linker = Linker::<KvHost>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut kv_linker)?;
        wasmkv_host::add_to_linker(&mut kv_linker)?;
        let mut draft_linker = Linker::<KvHost>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut draft_linker)?;
        let options = LinkOptions::default().engine(draft_engine);
        wasmkv_host::add_to_linker_with(&mut draft_linker, options)?;
        let mut wt_linker = Linker::<WasmtimeHost>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut wt_linker)?;
        wasmtime_wasi_keyvalue::add_to_linker(&mut wt_linker, |h: &mut WasmtimeHost| {
            WasiKeyValue::new(&h.kv, &mut h.table)
        })?;
        Ok(Self {
            dir,
            seed_on_wasmkv: CommandPre::new(kv_linker.instantiate_pre(&seed)?)?,
            draft_on_wasmkv: CommandPre::new(draft_linker.instantiate_pre(&draft)?)?,
            draft_on_wasmtime: CommandPre::new(wt_linker.instantiate_pre(&draft)?)?,
        })
    }

    /// The bench-draft component file, for running it from outside.
    pub fn draft_file(&self) -> PathBuf {
        self.dir.join("bench-draft.wasm")
    }

    /// Runs `w.concurrency` instances of `guest` at once on `engine`'s
    /// bucket `bench`, `iters` operations each.
    pub async fn on_wasmkv(
        &self,
        guest: Guest,
        engine: &KvEngine,
        w: Workload,
        iters: u64,
    ) -> anyhow::Result<Sample> {
        let pre = match guest {
            Guest::Seed => self.seed_on_wasmkv.clone(),
            Guest::Draft => self.draft_on_wasmkv.clone(),
        };
        let tasks: Vec<_> = (0..w.concurrency)
            .map(|i| {
                let (pre, kv) = (pre.clone(), WasmKvCtx::new(engine.clone()));
                tokio::spawn(async move {
                    let stdout = MemoryOutputPipe::new(4096);
                    let wasi = wasi(&stdout, w, iters, i, "bench");
                    let data = KvHost {
                        table: ResourceTable::new(),
                        wasi,
                        kv,
                    };
                    let mut store = Store::new(pre.engine(), data);
                    let command = pre.instantiate_async(&mut store).await?;
                    let _ = command.wasi_cli_run().call_run(&mut store).await?;
                    parse(&stdout)
                })
            })
            .collect();
        gather(tasks, w, iters).await
    }

    /// Runs bench-draft under wasmtime-wasi-keyvalue (its in-memory store,
    /// the bucket `""`), `w.concurrency` instances at once.
    pub async fn on_wasmtime(&self, w: Workload, iters: u64) -> anyhow::Result<Sample> {
        let tasks: Vec<_> = (0..w.concurrency)
            .map(|i| {
                let pre = self.draft_on_wasmtime.clone();
                tokio::spawn(async move {
                    let stdout = MemoryOutputPipe::new(4096);
                    let data = WasmtimeHost {
                        table: ResourceTable::new(),
                        wasi: wasi(&stdout, w, iters, i, ""),
                        kv: WasiKeyValueCtxBuilder::new().build(),
                    };
                    let mut store = Store::new(pre.engine(), data);
                    let command = pre.instantiate_async(&mut store).await?;
                    let _ = command.wasi_cli_run().call_run(&mut store).await?;
                    parse(&stdout)
                })
            })
            .collect();
        gather(tasks, w, iters).await
    }
}

fn wasi(
    stdout: &MemoryOutputPipe,
    w: Workload,
    iters: u64,
    instance: usize,
    bucket: &str,
) -> WasiCtx {
    WasiCtx::builder()
        .stdout(stdout.clone())
        .args(&[
            "bench".to_string(),
            w.op.to_string(),
            bucket.to_string(),
            w.value_bytes.to_string(),
            iters.to_string(),
            format!("i{instance}"),
        ])
        .build()
}

type Loop = anyhow::Result<(u128, f64, f64)>;

async fn gather(
    tasks: Vec<tokio::task::JoinHandle<wasmtime::Result<Loop>>>,
    w: Workload,
    iters: u64,
) -> anyhow::Result<Sample> {
    let mut loops = Vec::new();
    for task in tasks {
        let result = task
            .await
            .context("guest task panicked")?
            .map_err(anyhow::Error::from)?;
        loops.push(result?);
    }
    Ok(combine(&loops, iters * w.concurrency as u64))
}

/// Reads the guest's `ns=TOTAL p50=NS p99=NS` line from its stdout.
fn parse(stdout: &MemoryOutputPipe) -> wasmtime::Result<Loop> {
    Ok(parse_loop(&String::from_utf8_lossy(&stdout.contents())))
}

/// Reads a bench guest's output: `ns=TOTAL p50=NS p99=NS`, or what it said
/// instead.
pub fn parse_loop(text: &str) -> anyhow::Result<(u128, f64, f64)> {
    let text = text.trim();
    let field = |name: &str| -> Option<f64> {
        text.split(' ')
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    match (field("ns"), field("p50"), field("p99")) {
        (Some(ns), Some(p50), Some(p99)) => Ok((ns as u128, p50, p99)),
        _ if text.starts_with("not offered") => {
            Err(anyhow::anyhow!("not offered by this guest's API"))
        }
        _ => Err(anyhow::anyhow!("guest said: {text:?}")),
    }
}
