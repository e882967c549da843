//! `wasmkv run`: wires config → engine → wasmtime and runs one component.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use wasmkv_host::{WasmKv, WasmKvCtx, WasmKvView};
use wasmtime::component::{Component, Linker, ResourceTable, ResourceTableError};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::cli::RunArgs;
use crate::config::Setup;
use crate::exit;
use crate::guest_limits::{MemoryCap, MemoryLimitExceeded};

/// The store data of one running component.
struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasmKvCtx,
    memory: MemoryCap,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasmKvView for Host {
    fn keyvalue(&mut self) -> WasmKv<'_> {
        WasmKv::new(&self.kv, &mut self.table)
    }
}

/// Runs the component and returns the process exit code.
pub fn main(args: RunArgs) -> i32 {
    crate::runtime::block_on(async {
        let prepared = match prepare(&args).await {
            Ok(p) => p,
            Err(e) => {
                exit::report(&e);
                return exit::SETUP_FAILED;
            }
        };
        execute(prepared, &args).await
    })
}

struct Prepared {
    store: Store<Host>,
    command: Command,
    /// Advances the epoch while `--timeout` is set, so a busy guest yields.
    ticker: Option<tokio::task::JoinHandle<()>>,
}

/// How often a guest under `--timeout` yields to let the clock be checked.
const EPOCH_TICK: Duration = Duration::from_millis(10);

async fn prepare(args: &RunArgs) -> anyhow::Result<Prepared> {
    let setup = Setup::load(&args.store)?;
    let kv_engine = setup.build_engine().await?;

    let engine = wasm_engine(args.timeout.is_some())?;
    let component = load_component(&engine, &args.component)?;

    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmkv_host::add_to_linker(&mut linker)?;

    let wasi = wasi_ctx(args)?;
    let mut table = ResourceTable::new();
    table.set_max_capacity(args.max_resources);
    let max_memory = args
        .max_memory
        .map(|size| usize::try_from(size.as_u64()).unwrap_or(usize::MAX));
    let mut store = Store::new(
        &engine,
        Host {
            table,
            wasi,
            kv: WasmKvCtx::new(kv_engine),
            memory: MemoryCap::new(max_memory),
        },
    );
    store.limiter(|host| &mut host.memory);
    let ticker = args.timeout.map(|_| {
        // Every tick ends the guest's slice: it yields to the runtime, which
        // can then see that --timeout has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(EPOCH_TICK).await;
                engine.increment_epoch();
            }
        })
    });
    let command = Command::instantiate_async(&mut store, &component, &linker)
        .await
        .map_err(|e| link_error(&args.component, e.into()))?;
    Ok(Prepared {
        store,
        command,
        ticker,
    })
}

async fn execute(mut prepared: Prepared, args: &RunArgs) -> i32 {
    let run = prepared
        .command
        .wasi_cli_run()
        .call_run(&mut prepared.store);
    let result = match args.timeout {
        Some(limit) => match tokio::time::timeout(*limit, run).await {
            Ok(result) => result,
            Err(_) => {
                exit::report(&anyhow::anyhow!(
                    "the component ran past --timeout {limit} and was stopped"
                ));
                return exit::TIMED_OUT;
            }
        },
        None => run.await,
    };
    if let Some(ticker) = prepared.ticker {
        ticker.abort();
    }
    match result {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => {
            if let Some(I32Exit(code)) = e.downcast_ref::<I32Exit>() {
                return *code;
            }
            if let Some(hit) = e.downcast_ref::<MemoryLimitExceeded>() {
                exit::report(&anyhow::anyhow!("{hit}; the component was stopped"));
                return exit::MEMORY_LIMIT;
            }
            if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
                exit::report(&anyhow::anyhow!(
                    "the component held more than --max-resources ({}) live resources and was stopped",
                    args.max_resources
                ));
                return exit::RESOURCE_LIMIT;
            }
            exit::report(&anyhow::Error::from(e).context("the component trapped"));
            exit::TRAPPED
        }
    }
}

fn wasm_engine(interruptible: bool) -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(interruptible);
    // Compiled code is cached on disk, so running the same component again
    // starts in milliseconds instead of recompiling it.
    if let Ok(cache) = wasmtime::Cache::from_file(None) {
        config.cache(Some(cache));
    }
    Ok(Engine::new(&config)?)
}

fn load_component(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    if !path.exists() {
        bail!(
            "component file {} not found; build it first or check the path",
            path.display()
        );
    }
    Component::from_file(engine, path)
        .map_err(anyhow::Error::from)
        .with_context(|| {
        format!(
            "{} is not a WebAssembly component (a core module needs `wasm-tools component new`, or build for wasm32-wasip2)",
            path.display()
        )
    })
}

/// Rewords wasmtime's link failure so it names the missing import and the fix.
fn link_error(path: &Path, error: anyhow::Error) -> anyhow::Error {
    let message = format!("{error:#}");
    if let Some(rest) = message.split("component imports ").nth(1) {
        let what = rest
            .split(", but a matching implementation was not found")
            .next()
            .unwrap_or(rest);
        return anyhow::anyhow!(
            "{} cannot be linked: it imports {what}, which wasmkv does not provide (wasmkv provides wasi:keyvalue as the seed world on wasi:io@0.2.0-rc-2023-11-10, @0.2.0-draft and @0.2.0-draft2, and wasi:cli, wasi:io, wasi:filesystem, wasi:clocks, wasi:random, wasi:sockets 0.2.x)",
            path.display()
        );
    }
    error.context(format!("{} cannot be instantiated", path.display()))
}

fn wasi_ctx(args: &RunArgs) -> anyhow::Result<WasiCtx> {
    let mut builder = WasiCtx::builder();
    builder.inherit_stdio();
    let program = args
        .component
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    builder.arg(program);
    builder.args(&args.args);
    for env in &args.envs {
        match env.split_once('=') {
            Some((name, value)) => builder.env(name, value),
            None => {
                let value = std::env::var(env)
                    .with_context(|| format!("--env {env}: not set in wasmkv's environment"))?;
                builder.env(env, value)
            }
        };
    }
    for dir in &args.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        builder
            .preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("--dir {dir}: cannot open host directory {host}"))?;
    }
    Ok(builder.build())
}
