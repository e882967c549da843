//! The same `wasi:keyvalue@0.2.0-draft` component under wasmtime's own host
//! (`wasmtime-wasi-keyvalue`, what `wasmtime run -S keyvalue` uses) and under
//! `wasmkv run`: it links in both and lists the same keys. This checks that
//! wit/draft matches the WIT wasmtime was built from, name for name.

use crate::common::{component, kvtool, run, workdir};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_keyvalue::{WasiKeyValue, WasiKeyValueCtx, WasiKeyValueCtxBuilder};

struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    kv: WasiKeyValueCtx,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Runs conformance-draft's `list ""` under wasmtime-wasi-keyvalue, whose
/// in-memory store is the bucket `""`, holding `data`.
async fn list_under_wasmtime(data: &[(&str, &str)]) -> String {
    let engine = Engine::default();
    let component = Component::from_file(&engine, component("conformance-draft")).unwrap();
    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_keyvalue::add_to_linker(&mut linker, |h: &mut Host| {
        WasiKeyValue::new(&h.kv, &mut h.table)
    })
    .unwrap();
    let stdout = MemoryOutputPipe::new(1 << 20);
    let wasi = WasiCtx::builder()
        .stdout(stdout.clone())
        .args(&["conformance-draft", "list", ""])
        .build();
    let kv = WasiKeyValueCtxBuilder::new()
        .in_memory_data(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
        )
        .build();
    let mut store = Store::new(
        &engine,
        Host {
            table: ResourceTable::new(),
            wasi,
            kv,
        },
    );
    let command = Command::instantiate_async(&mut store, &component, &linker)
        .await
        .expect("wit/draft does not link against wasmtime-wasi-keyvalue");
    let result = command.wasi_cli_run().call_run(&mut store).await.unwrap();
    assert!(result.is_ok(), "the component failed under wasmtime");
    String::from_utf8(stdout.contents().to_vec()).unwrap()
}

#[tokio::test]
async fn a_draft_component_lists_the_same_keys_under_wasmtime_and_wasmkv() {
    let data = [("alpha", "1"), ("beta", "2"), ("gamma", "3")];
    let under_wasmtime = list_under_wasmtime(&data).await;
    assert_eq!(under_wasmtime, "alpha\nbeta\ngamma\n");

    let dir = workdir();
    let grant = ["--bucket", ""];
    for (key, value) in data {
        kvtool(dir.path(), &grant, &["set", "", key, value]).success();
    }
    let draft = component("conformance-draft");
    let under_wasmkv = run(
        dir.path(),
        &["run", "--bucket", "", draft.to_str().unwrap(), "list", ""],
    )
    .success();
    assert_eq!(under_wasmkv.stdout, under_wasmtime);
}
