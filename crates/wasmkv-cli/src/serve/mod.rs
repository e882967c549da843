//! `wasmkv serve`: compile once, pre-instantiate, then a fresh instance per
//! HTTP request, every instance on the same keyvalue engine.

mod access_log;
mod admission;
mod handler;
mod pool;
mod server;

use std::sync::Arc;

use anyhow::{Context, bail};
use wasmkv_host::LinkOptions;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::cli::ServeArgs;
use crate::component::{self, Kind};
use crate::config::Setup;
use crate::exit;
use crate::host::Host;
use crate::outbound::OutboundPolicy;

/// Serves until SIGINT or SIGTERM; returns the process exit code.
pub fn main(args: ServeArgs) -> i32 {
    crate::runtime::block_on(async move {
        let (handler, listener) = match prepare(&args).await {
            Ok(prepared) => prepared,
            Err(e) => {
                exit::report(&e);
                return exit::SETUP_FAILED;
            }
        };
        server::serve(listener, handler, *args.shutdown_timeout).await
    })
}

async fn prepare(
    args: &ServeArgs,
) -> anyhow::Result<(Arc<handler::Handler>, tokio::net::TcpListener)> {
    let outbound = OutboundPolicy::parse(&args.allow_outbound)?;
    let setup = Setup::load(&args.store)?;
    let (engine, component) = pool::compile(
        &args.component,
        args.max_concurrency,
        args.instance.max_memory_bytes(),
    )?;
    match component::kind(&engine, &component) {
        Kind::HttpHandler => {}
        Kind::Command => bail!(
            "{} is a command (it exports wasi:cli/run, not wasi:http/incoming-handler); run it with `wasmkv run {}`",
            args.component.display(),
            args.component.display()
        ),
        Kind::Other => bail!(
            "{} exports no wasi:http/incoming-handler@0.2.x, so there is nothing to serve; build it as an HTTP handler (the wasi:http/proxy world), or run a command with `wasmkv run`",
            args.component.display()
        ),
    }

    let kv = setup.build_engine().await?;
    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let options = LinkOptions::default()
        .component(&engine, &component)
        .engine(&kv);
    wasmkv_host::add_to_linker_with(&mut linker, options)?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| component::link_error(&args.component, &engine, &component, e.into()))?;
    let pre = ProxyPre::new(pre)
        .map_err(|e| component::link_error(&args.component, &engine, &component, e.into()))?;

    let handler = Arc::new(handler::Handler::new(
        pre,
        kv,
        args.instance.clone(),
        outbound,
        args.timeout.map(|t| *t),
        admission::Admission::new(args.max_concurrency, args.max_queued),
    ));
    handler
        .check_instantiates()
        .await
        .map_err(|e| component::link_error(&args.component, &engine, &component, e))?;

    // One ticker for the engine, however many requests run.
    component::start_epoch_ticker(&engine)?;

    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("--addr {}: cannot listen there", args.addr))?;
    Ok((handler, listener))
}
