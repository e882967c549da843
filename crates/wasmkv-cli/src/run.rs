//! `wasmkv run`: wires config → engine → wasmtime and runs one component.

use anyhow::bail;
use wasmkv_host::LinkOptions;
use wasmtime::component::{Linker, ResourceTableError};
use wasmtime::{Engine, Store};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::Command;

use crate::cli::RunArgs;
use crate::component::{self, Kind};
use crate::config::Setup;
use crate::exit;
use crate::guest_limits::MemoryLimitExceeded;
use crate::host::{self, Host};
use crate::outbound::OutboundPolicy;

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
}

async fn prepare(args: &RunArgs) -> anyhow::Result<Prepared> {
    let setup = Setup::load(&args.store)?;
    let kv_engine = setup.build_engine().await?;

    let engine = Engine::new(&component::base_config(args.timeout.is_some()))?;
    let component = component::load(&engine, &args.component)?;
    if component::kind(&engine, &component) == Kind::HttpHandler {
        bail!(
            "{} is an HTTP handler (it exports wasi:http/incoming-handler, not wasi:cli/run); serve it with `wasmkv serve {}`",
            args.component.display(),
            args.component.display()
        );
    }

    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let options = LinkOptions::default()
        .component(&engine, &component)
        .engine(&kv_engine);
    wasmkv_host::add_to_linker_with(&mut linker, options)?;

    let wasi = wasi_ctx(args)?;
    let mut store = Store::new(
        &engine,
        Host::new(kv_engine, &args.instance, wasi, OutboundPolicy::deny_all()),
    );
    store.limiter(|host| &mut host.memory);
    if args.timeout.is_some() {
        // Every tick ends the guest's slice: it yields to the runtime, which
        // can then see that --timeout has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        component::start_epoch_ticker(&engine)?;
    }
    let command = Command::instantiate_async(&mut store, &component, &linker)
        .await
        .map_err(|e| component::link_error(&args.component, &engine, &component, e.into()))?;
    Ok(Prepared { store, command })
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
