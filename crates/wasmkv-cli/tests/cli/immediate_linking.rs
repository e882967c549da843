//! A linker made for an engine whose stores never wait (memory) serves the
//! draft from synchronous host functions: the draft's conformance component
//! passes through it, and an instance whose engine does I/O is stopped at
//! its first `open`, before anything reaches that store.

use crate::common::{component, workdir};
use wasmkv_host::{KvEngine, LinkOptions, StoreUrl, WasmKv, WasmKvCtx, WasmKvView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasmKvCtx,
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

async fn engine(url: StoreUrl) -> KvEngine {
    KvEngine::builder()
        .store_url("default", url)
        .grant("draft", "default")
        .grant("", "default")
        .build()
        .await
        .unwrap()
}

/// Runs conformance-draft on `kv`, through a linker made for `linked_for`.
async fn conformance(linked_for: &KvEngine, kv: KvEngine) -> wasmtime::Result<()> {
    let engine = Engine::default();
    let component = Component::from_file(&engine, component("conformance-draft")).unwrap();
    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    let options = LinkOptions::default()
        .component(&engine, &component)
        .engine(linked_for);
    wasmkv_host::add_to_linker_with(&mut linker, options).unwrap();
    let host = Host {
        table: ResourceTable::new(),
        wasi: WasiCtx::builder().inherit_stderr().build(),
        kv: WasmKvCtx::new(kv),
    };
    let mut store = Store::new(&engine, host);
    let command = Command::instantiate_async(&mut store, &component, &linker).await?;
    match command.wasi_cli_run().call_run(&mut store).await? {
        Ok(()) => Ok(()),
        Err(()) => Err(wasmtime::format_err!("conformance-draft failed")),
    }
}

#[tokio::test]
async fn the_draft_passes_its_conformance_through_synchronous_functions_on_memory() {
    let memory = engine(StoreUrl::memory()).await;
    assert!(memory.never_waits());
    conformance(&memory, memory.clone()).await.unwrap();
}

#[tokio::test]
async fn a_linker_for_memory_refuses_an_engine_that_does_io_at_open() {
    let dir = workdir();
    let memory = engine(StoreUrl::memory()).await;
    let sqlite = engine(StoreUrl::sqlite(dir.path().join("kv.db"))).await;
    assert!(!sqlite.never_waits());
    let trap = conformance(&memory, sqlite.clone()).await.unwrap_err();
    let text = format!("{trap:?}");
    assert!(
        text.contains("store.open (bucket ")
            && text.contains("was linked for stores that never wait")
            && text.contains("add_to_linker"),
        "{text}"
    );
    let bucket = sqlite.open_bucket("draft").unwrap();
    assert_eq!(bucket.keys().await.unwrap(), Vec::<String>::new());

    // Linked for the SQLite engine itself, the same component passes.
    conformance(&sqlite, sqlite.clone()).await.unwrap();
}
