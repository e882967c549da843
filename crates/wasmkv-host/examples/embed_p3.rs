//! A WASI 0.3 command on a wasmkv SQLite store, as an embedder wires it:
//! an engine with concurrency support, WASI in both generations (a Rust
//! 0.3 component imports 0.2 interfaces too), every `wasi:keyvalue`
//! version and `wasmcloud:keyvalue@0.2.0`, whose async functions run as
//! concurrent host calls inside `Store::run_concurrent`.
//!
//! `cargo run -p wasmkv-host --example embed_p3 -- DB COMPONENT [ARGS...]`
//! (e.g. `guest/conformance-wasmcloud`'s `conformance_wasmcloud.wasm incr
//! default n 1`): grants bucket `default`, in the SQLite file DB; a labelled
//! store import (`import cache: wasmcloud:keyvalue/store@0.2.0`) keeps its
//! buckets in a second, in-memory store.

use wasmkv_host::{KvEngine, LinkOptions, StoreUrl, WasmKv, WasmKvCtx, WasmKvView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The store data: WASI and keyvalue share one resource table.
struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasmKvCtx,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasmKvView for State {
    fn keyvalue(&mut self) -> WasmKv<'_> {
        WasmKv::new(&self.kv, &mut self.table)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(path)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: embed_p3 DB COMPONENT [ARGS...]");
    };

    let kv = KvEngine::builder()
        .store_url("default", StoreUrl::sqlite(&db))
        .store_url("scratch", "memory:".parse()?)
        .grant("default", "default")
        .label("cache", "scratch")
        .build()
        .await?;

    let mut config = Config::new();
    // WASI 0.3: component-model async, and the `implements` names of
    // labelled imports.
    config.wasm_component_model_async(true);
    config.wasm_component_model_implements(true);
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &path).map_err(|e| e.context(path.clone()))?;
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    // Reads which draft2 `get-many` shape and which store labels the
    // component imports; on this engine it links wasmcloud:keyvalue too.
    wasmkv_host::add_to_linker_with(
        &mut linker,
        LinkOptions::default().component(&engine, &component),
    )?;

    let wasi = WasiCtx::builder()
        .inherit_stdio()
        .args(
            &std::iter::once(path.clone())
                .chain(args)
                .collect::<Vec<_>>(),
        )
        .build();
    let mut store = Store::new(
        &engine,
        State {
            table: ResourceTable::new(),
            wasi,
            kv: WasmKvCtx::new(kv),
        },
    );
    let command =
        wasmtime_wasi::p3::bindings::Command::instantiate_async(&mut store, &component, &linker)
            .await?;
    store
        .run_concurrent(async |accessor| command.wasi_cli_run().call_run(accessor).await)
        .await??
        .map_err(|()| anyhow::anyhow!("the component's run returned an error"))
}
