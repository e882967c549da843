//! A WASI 0.2 command on a wasmkv SQLite store, as an embedder wires it:
//! the engine, a linker with WASI and every `wasi:keyvalue` version, one
//! instance, its `run`.
//!
//! `cargo run -p wasmkv-host --example embed_p2 -- DB COMPONENT [ARGS...]`
//! (e.g. `guest/examples/counter`'s `counter.wasm`): grants bucket
//! `default`, in the SQLite file DB.

use wasmkv_host::{KvEngine, StoreUrl, WasmKv, WasmKvCtx, WasmKvView};
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
        anyhow::bail!("usage: embed_p2 DB COMPONENT [ARGS...]");
    };

    // Opens (creates) the SQLite file now: a bad path fails here.
    let kv = KvEngine::builder()
        .store_url("default", StoreUrl::sqlite(&db))
        .grant("default", "default")
        .build()
        .await?;

    let engine = Engine::new(&Config::new())?;
    let component = Component::from_file(&engine, &path).map_err(|e| e.context(path.clone()))?;
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmkv_host::add_to_linker_for(&mut linker, &component)?;

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
        wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, &component, &linker)
            .await?;
    command
        .wasi_cli_run()
        .call_run(&mut store)
        .await?
        .map_err(|()| anyhow::anyhow!("the component's run returned an error"))
}
