//! The comparison host: a component served the way `wasmtime serve -S
//! keyvalue` serves it — `wasmtime-wasi-http` with `wasmtime-wasi-keyvalue`'s
//! in-memory store, whose data is copied into every request's context (so
//! writes never outlive their request) — in a process of its own, like
//! `wasmkv serve`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_keyvalue::{WasiKeyValue, WasiKeyValueCtxBuilder};

struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    kv: wasmtime_wasi_keyvalue::WasiKeyValueCtx,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

struct Server {
    pre: ProxyPre<RequestState>,
    data: Vec<(String, Vec<u8>)>,
}

/// Serves `component` on `addr` until killed, printing `listening on ADDR`
/// first; `data` is the in-memory keyvalue data each request starts from.
pub async fn serve(
    component: &Path,
    addr: &str,
    data: Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // A 0.2 handler needs no concurrency support; off, as wasmkv serve
    // has it for 0.2, so the two hosts differ only in what they link.
    config.concurrency_support(false);
    // wasmtime serve uses the pooling allocator where it can.
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
        PoolingAllocationConfig::default(),
    ));
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load {}", component.display()))?;
    let mut linker = Linker::<RequestState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_keyvalue::add_to_linker(&mut linker, |s: &mut RequestState| {
        WasiKeyValue::new(&s.kv, &mut s.table)
    })?;
    let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
    let server = Arc::new(Server { pre, data });
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { server.handle(req).await }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Server {
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        let mut store = Store::new(
            self.pre.engine(),
            RequestState {
                table: ResourceTable::new(),
                wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
                http: WasiHttpCtx::new(),
                kv: WasiKeyValueCtxBuilder::new()
                    .in_memory_data(self.data.clone())
                    .build(),
            },
        );
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow::anyhow!("handler error {code:?}")),
            Err(_) => match task.await {
                Ok(Ok(())) => Err(anyhow::anyhow!("no response set")),
                Ok(Err(e)) => Err(anyhow::anyhow!("trap: {e}")),
                Err(e) => Err(e.into()),
            },
        }
    }
}
