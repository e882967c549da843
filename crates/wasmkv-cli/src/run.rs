//! `wasmkv run`: wires config → engine → wasmtime and runs one command
//! component, WASI 0.2 or 0.3, with the same options, limits and exit codes.

use std::sync::Arc;

use anyhow::bail;
use wasmtime::component::ResourceTableError;
use wasmtime::{Engine, Store};
use wasmtime_wasi::I32Exit;

use crate::cli::RunArgs;
use crate::component::{self, Generation, Kind};
use crate::config::Setup;
use crate::exit;
use crate::guest_limits::MemoryLimitExceeded;
use crate::host::{self, Host};
use crate::linking;
use crate::outbound::OutboundPolicy;
use crate::traces::{InstanceRequests, RequestTrace, Traces};

/// Runs the component and returns the process exit code.
pub fn main(args: RunArgs) -> i32 {
    crate::runtime::block_on(crate::runtime::Workers::AtLeastTwo, async {
        let mut prepared = match prepare(&args).await {
            Ok(p) => p,
            // The initial memory is over the cap: the same limit as memory
            // grown later, with its exit code.
            Err(e) if e.downcast_ref::<MemoryLimitExceeded>().is_some() => {
                exit::report(&e.context("the component cannot start"));
                return exit::MEMORY_LIMIT;
            }
            Err(e) => {
                exit::report(&e);
                return exit::SETUP_FAILED;
            }
        };
        let traced = prepared.traced.take();
        let code = execute(prepared, &args).await;
        if let Some((traces, run)) = traced {
            run.finish_run(code);
            traces.shutdown(std::time::Duration::from_secs(5)).await;
        }
        code
    })
}

/// The instantiated command of either generation.
enum Command {
    P2(wasmtime_wasi::p2::bindings::Command),
    P3(wasmtime_wasi::p3::bindings::Command),
}

struct Prepared {
    store: Store<Host>,
    command: Command,
    /// The tracer and this run's span, when OTLP traces are on.
    traced: Option<(Arc<Traces>, Arc<RequestTrace>)>,
}

async fn prepare(args: &RunArgs) -> anyhow::Result<Prepared> {
    let outbound = OutboundPolicy::parse(&args.instance.allow_outbound)?;
    let setup = Setup::load(&args.store)?;
    let traces = crate::traces::from_env()?;
    let kv_engine = setup
        .build_observed_engine(crate::observer::of(None, traces.clone()))
        .await?;

    let interruptible = args.timeout.is_some();
    let loaded = component::load(&args.component, |generation| {
        Ok(Engine::new(&component::base_config(
            interruptible,
            generation,
        ))?)
    })?;
    match component::kind(&loaded.engine, &loaded.component) {
        Kind::HttpHandler => bail!(
            "{} is an HTTP handler (it exports wasi:http/incoming-handler or wasi:http/handler, not wasi:cli/run); serve it with `wasmkv serve {}`",
            args.component.display(),
            args.component.display()
        ),
        Kind::Command | Kind::Other => {}
    }

    let linker = linking::linker(&loaded, &kv_engine)?;
    let pre = linking::instantiate_pre(&args.component, &loaded, &linker)?;
    let wasi = wasi_ctx(args)?;
    let mut store = Store::new(
        &loaded.engine,
        Host::new(kv_engine, &args.instance, wasi, outbound),
    );
    store.limiter(|host| &mut host.memory);
    let traced = traces.map(|traces| {
        let run = Arc::new(traces.run(&args.component.display().to_string()));
        let requests = InstanceRequests::scope();
        requests.begin(&run);
        store.data_mut().set_kv_scope(requests.as_call_scope());
        (traces, run)
    });
    if interruptible {
        // Every tick ends the guest's slice: it yields to the runtime, which
        // can then see that --timeout has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        component::start_epoch_ticker(&loaded.engine)?;
    }
    let link_error = |e: wasmtime::Error| match e.downcast::<MemoryLimitExceeded>() {
        Ok(hit) => anyhow::Error::new(hit),
        Err(e) => linking::link_error(&args.component, &loaded, e.into()),
    };
    let command = match loaded.generation {
        Generation::P2 => Command::P2(
            wasmtime_wasi::p2::bindings::CommandPre::new(pre)
                .map_err(link_error)?
                .instantiate_async(&mut store)
                .await
                .map_err(link_error)?,
        ),
        Generation::P3 => Command::P3(
            wasmtime_wasi::p3::bindings::CommandPre::new(pre)
                .map_err(link_error)?
                .instantiate_async(&mut store)
                .await
                .map_err(link_error)?,
        ),
    };
    Ok(Prepared {
        store,
        command,
        traced,
    })
}

/// Calls the command's `run` to its end: a 0.3 command inside the store's
/// event loop, so its own tasks, streams and futures make progress.
async fn call_run(prepared: &mut Prepared) -> wasmtime::Result<Result<(), ()>> {
    match &prepared.command {
        Command::P2(command) => command.wasi_cli_run().call_run(&mut prepared.store).await,
        Command::P3(command) => {
            prepared
                .store
                .run_concurrent(async |accessor| command.wasi_cli_run().call_run(accessor).await)
                .await?
        }
    }
}

async fn execute(mut prepared: Prepared, args: &RunArgs) -> i32 {
    let run = call_run(&mut prepared);
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
                    args.instance.max_resources
                ));
                return exit::RESOURCE_LIMIT;
            }
            exit::report(&anyhow::Error::from(e).context("the component trapped"));
            exit::TRAPPED
        }
    }
}

fn wasi_ctx(args: &RunArgs) -> anyhow::Result<wasmtime_wasi::WasiCtx> {
    let mut builder = host::wasi_builder(&args.instance)?;
    builder.inherit_stdio();
    let program = args
        .component
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    builder.arg(program);
    builder.args(&args.args);
    Ok(builder.build())
}
