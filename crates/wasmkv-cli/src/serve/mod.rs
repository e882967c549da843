//! `wasmkv serve`: compile once, pre-instantiate, then serve every request
//! on the same keyvalue engine: a fresh instance per request for 0.2
//! handlers, instances reused for 0.3 handlers.

mod access_log;
mod admission;
mod connections;
mod fresh;
mod handler;
mod instance_setup;
mod pool;
mod reuse;
mod server;
mod slot_reset;

use std::sync::Arc;

use anyhow::{Context, bail};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::cli::ServeArgs;
use crate::component::{self, Generation, Kind};
use crate::config::Setup;
use crate::exit;
use crate::linking;
use crate::metrics::{self, Metrics};
use crate::outbound::OutboundPolicy;
use crate::runtime::Workers;
use crate::serve::fresh::FreshInstances;
use crate::serve::handler::{Handler, Instances};
use crate::serve::instance_setup::InstanceSetup;
use crate::serve::reuse::{ReusePolicy, ReusedInstances};

/// Serves until SIGINT or SIGTERM; returns the process exit code.
pub fn main(args: ServeArgs) -> i32 {
    // The component is compiled before the runtime starts: how many
    // workers serve it depends on its generation.
    let checked = match check(&args) {
        Ok(checked) => checked,
        Err(e) => {
            exit::report(&e);
            return exit::SETUP_FAILED;
        }
    };
    let workers = match checked.loaded.generation {
        Generation::P2 => Workers::AtLeastTwo,
        Generation::P3 => Workers::PerCore,
    };
    crate::runtime::block_on(workers, async move {
        let (handler, listener) = match prepare(&args, checked).await {
            Ok(prepared) => prepared,
            Err(e) => {
                exit::report(&e);
                return exit::SETUP_FAILED;
            }
        };
        let limits = connections::ConnectionLimits {
            max_connections: args.max_concurrent_connections,
            header_read_timeout: *args.header_read_timeout,
            idle_timeout: *args.idle_timeout,
        };
        let traces = handler.traces().cloned();
        let code = server::serve(listener, handler, limits, *args.shutdown_timeout).await;
        if let Some(traces) = traces {
            traces.shutdown(std::time::Duration::from_secs(5)).await;
        }
        code
    })
}

/// What is read and checked before the runtime starts.
struct Checked {
    loaded: component::Loaded,
    setup: Setup,
    outbound: OutboundPolicy,
    reuse: ReusePolicy,
}

/// Parses the flags and the config, and compiles the handler.
fn check(args: &ServeArgs) -> anyhow::Result<Checked> {
    let outbound = OutboundPolicy::parse(&args.instance.allow_outbound)?;
    let setup = Setup::load(&args.store)?;
    let reuse = ReusePolicy {
        max_requests: args.max_instance_reuse_count.unwrap_or(128),
        max_concurrent: args.max_instance_concurrent_reuse_count.unwrap_or(16),
        idle_timeout: *args.idle_instance_timeout,
    };
    let loaded = pool::compile(
        &args.component,
        args.max_concurrency,
        args.instance.max_memory_bytes(),
    )?;
    match component::kind(&loaded.engine, &loaded.component) {
        Kind::HttpHandler => {}
        Kind::Command => bail!(
            "{} is a command (it exports wasi:cli/run, not an HTTP handler); run it with `wasmkv run {}`",
            args.component.display(),
            args.component.display()
        ),
        Kind::Other => bail!(
            "{} exports neither wasi:http/incoming-handler@0.2.x nor wasi:http/handler@0.3.x, so there is nothing to serve; build it as an HTTP handler (the wasi:http/proxy or wasi:http/service world), or run a command with `wasmkv run`",
            args.component.display()
        ),
    }
    if loaded.generation == Generation::P2
        && (args.max_instance_reuse_count.is_some_and(|n| n > 1)
            || args
                .max_instance_concurrent_reuse_count
                .is_some_and(|n| n > 1))
    {
        tracing::warn!(
            target: "wasmkv::serve",
            "{} is a WASI 0.2 handler: each request gets a fresh instance, and the --max-instance-* reuse flags apply to WASI 0.3 handlers only",
            args.component.display()
        );
    }
    Ok(Checked {
        loaded,
        setup,
        outbound,
        reuse,
    })
}

async fn prepare(
    args: &ServeArgs,
    Checked {
        loaded,
        setup,
        outbound,
        reuse,
    }: Checked,
) -> anyhow::Result<(Arc<Handler>, tokio::net::TcpListener)> {
    let metrics_listen = args
        .metrics
        .clone()
        .or_else(|| setup.metrics_listen().map(str::to_string));
    let metrics = match &metrics_listen {
        Some(_) => Some(Arc::new(
            Metrics::new().context("cannot set up the metrics")?,
        )),
        None => None,
    };
    let traces = crate::traces::from_env()?;
    let observer = crate::observer::of(metrics.as_ref().map(|m| m.kv.clone()), traces.clone());
    let files = setup.store_files();
    let kv = setup.build_observed_engine(observer).await?;
    if let Some(metrics) = &metrics {
        metrics.watch_engine(&kv);
        // Only the stores the engine opened: a store nothing uses has no WAL
        // worth a series.
        let opened = files
            .into_iter()
            .filter(|(name, _)| kv.store(name).is_some());
        metrics.kv.stores().watch_files(opened.collect());
    }
    let linker = linking::linker(&loaded, &kv)?;
    let pre = linking::instantiate_pre(&args.component, &loaded, &linker)?;
    let instance_setup = Arc::new(InstanceSetup::new(
        loaded.engine.clone(),
        kv,
        args.instance.clone(),
        outbound,
        metrics.clone(),
        traces.is_some(),
    ));
    let timeout = args.timeout.map(|t| *t);
    let link_error = |e: wasmtime::Error| linking::link_error(&args.component, &loaded, e.into());
    // A component that cannot be instantiated is a startup error, not a 500
    // on every request.
    pre.instantiate_async(&mut instance_setup.new_store()?)
        .await
        .map_err(link_error)?;
    let instances = match loaded.generation {
        Generation::P2 => Instances::Fresh(FreshInstances::new(
            ProxyPre::new(pre).map_err(link_error)?,
            instance_setup,
        )),
        Generation::P3 => Instances::Reused(ReusedInstances::new(
            ServicePre::new(pre).map_err(link_error)?,
            instance_setup,
            reuse,
            timeout,
        )),
    };
    tracing::info!(
        target: "wasmkv::serve",
        "{} is a {} handler: {}",
        args.component.display(),
        loaded.generation.wasi(),
        match loaded.generation {
            Generation::P2 => "a fresh instance per request".to_string(),
            Generation::P3 => format!(
                "instances reused for up to {} requests, {} at once, kept {} when idle",
                reuse.max_requests,
                reuse.max_concurrent,
                humantime::format_duration(reuse.idle_timeout)
            ),
        }
    );
    let handler = Arc::new(Handler::new(
        instances,
        timeout,
        admission::Admission::new(args.max_concurrency, args.max_queued),
        metrics.clone(),
        traces.clone(),
        loaded.generation,
    ));

    // One ticker for the engine, however many requests run.
    component::start_epoch_ticker(&loaded.engine)?;

    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("--addr {}: cannot listen there", args.addr))?;
    if let (Some(addr), Some(metrics)) = (metrics_listen, metrics) {
        let metrics_listener = metrics::exporter::bind(&addr).await?;
        let bound = metrics_listener
            .local_addr()
            .context("cannot read the metrics address")?;
        server::announce(&format!("wasmkv: metrics on http://{bound}/metrics"));
        metrics::exporter::spawn(metrics_listener, metrics);
    }
    Ok((handler, listener))
}
