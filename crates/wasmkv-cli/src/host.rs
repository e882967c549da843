//! The store data of one instance, the same for `run` and for every request
//! of `serve`: WASI, keyvalue, HTTP and the guest's limits side by side.

use anyhow::Context;
use wasmkv_engine::Engine;
use wasmkv_host::{WasmKv, WasmKvCtx, WasmKvView};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::cli::InstanceArgs;
use crate::guest_limits::MemoryCap;
use crate::outbound::OutboundPolicy;

/// One instance's state. `run` links no `wasi:http`, so there the HTTP
/// fields are never used; keeping one type keeps the wiring in one place.
pub struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasmKvCtx,
    http: WasiHttpCtx,
    outbound: OutboundPolicy,
    /// The `--max-memory` limiter, installed with `Store::limiter`.
    pub memory: MemoryCap,
}

impl Host {
    /// State for one instance on `engine`, limited as `instance` says.
    pub fn new(
        engine: Engine,
        instance: &InstanceArgs,
        wasi: WasiCtx,
        outbound: OutboundPolicy,
    ) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(instance.max_resources);
        Self {
            table,
            wasi,
            kv: WasmKvCtx::new(engine),
            http: WasiHttpCtx::new(),
            outbound,
            memory: MemoryCap::new(instance.max_memory_bytes()),
        }
    }
}

impl Host {
    /// Hands `scope` to the key-value observer with every call of this
    /// instance (the requests it serves, for traces).
    pub fn set_kv_scope(&mut self, scope: wasmkv_engine::CallScope) {
        self.kv.set_scope(scope);
    }

    /// What [`Host::set_kv_scope`] attached.
    pub fn kv_scope(&self) -> Option<&wasmkv_engine::CallScope> {
        self.kv.scope()
    }
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

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// A WASI context builder with `--env` and `--dir` applied; the caller adds
/// stdio and arguments, which differ between commands and handlers.
pub fn wasi_builder(instance: &InstanceArgs) -> anyhow::Result<WasiCtxBuilder> {
    let mut builder = WasiCtx::builder();
    for env in &instance.envs {
        match env.split_once('=') {
            Some((name, value)) => builder.env(name, value),
            None => {
                let value = std::env::var(env)
                    .with_context(|| format!("--env {env}: not set in wasmkv's environment"))?;
                builder.env(env, value)
            }
        };
    }
    for dir in &instance.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        builder
            .preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("--dir {dir}: cannot open host directory {host}"))?;
    }
    Ok(builder)
}
