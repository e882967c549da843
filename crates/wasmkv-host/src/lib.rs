//! wasmtime host bindings for `wasi:keyvalue`, backed by the wasmkv engine.
//!
//! Add the interfaces to a [`Linker`](wasmtime::component::Linker) with
//! [`add_to_linker`], give your store data a [`WasmKvCtx`] and implement
//! [`WasmKvView`] for it, the way `wasmtime-wasi` does with `WasiView`:
//!
//! ```no_run
//! use wasmkv_host::{KvEngine, StoreUrl, WasmKv, WasmKvCtx, WasmKvView};
//! use wasmtime::component::{Component, Linker, ResourceTable};
//! use wasmtime::Store;
//! use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
//!
//! struct State {
//!     table: ResourceTable,
//!     wasi: WasiCtx,
//!     kv: WasmKvCtx,
//! }
//!
//! impl WasiView for State {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//!
//! impl WasmKvView for State {
//!     fn keyvalue(&mut self) -> WasmKv<'_> {
//!         WasmKv::new(&self.kv, &mut self.table)
//!     }
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let engine = KvEngine::builder()
//!     .store_url("default", StoreUrl::sqlite("app.db"))
//!     .grant("default", "default")
//!     .build()
//!     .await?;
//!
//! let wasmtime = wasmtime::Engine::default();
//! let mut linker = Linker::<State>::new(&wasmtime);
//! let component = Component::from_file(&wasmtime, "app.wasm")?;
//! wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
//! wasmkv_host::add_to_linker_for(&mut linker, &component)?;
//!
//! let mut store = Store::new(&wasmtime, State {
//!     table: ResourceTable::new(),
//!     wasi: WasiCtx::builder().inherit_stdio().build(),
//!     kv: WasmKvCtx::new(engine),
//! });
//! let command =
//!     wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, &component, &linker)
//!         .await?;
//! let _ = command.wasi_cli_run().call_run(&mut store).await?;
//! # Ok(())
//! # }
//! ```
//!
//! One [`KvEngine`] can back any number of stores and instances: every
//! instance that opens the same bucket name sees the same data.
//!
//! Everything an embedder names is re-exported here, so `wasmkv-host` is the
//! one dependency: the keyvalue engine (as `KvEngine`, apart from
//! `wasmtime::Engine`), its builder, grants, limits, store URLs, and the
//! [`Backend`] trait with its error, for bringing a store of your own
//! through [`KvEngineBuilder::store`].

#![deny(missing_docs)]

mod cursors;
pub mod draft;
pub mod draft2;
mod immediate;
mod link_errors;
pub mod seed;
mod value;
pub mod wasmcloud;

use wasmtime::component::{Component, Linker, ResourceTable};

pub use link_errors::describe_link_error;
pub use value::{IncomingValue, OutgoingValue};
pub use wasmkv_engine::{
    Backend, BackendError, BackendResult, Bucket, Bytes, Call as KvCall, CallScope, Cause,
    DenialHint, Engine as KvEngine, EngineBuildError as KvEngineBuildError,
    EngineBuilder as KvEngineBuilder, Grants, HostBudget, Interface as KvInterface, KeyPage,
    Kind as KvErrorKind, KvError, KvObserver, Limits, Op, SharedBackend,
    SharedObserver as SharedKvObserver, StoreUrl, install_sqlite_nowait_reads,
};

/// Per-store state for the keyvalue bindings: the engine the guest talks
/// to, and what the host holds for this instance.
#[derive(Clone)]
pub struct WasmKvCtx {
    engine: KvEngine,
    draft_cursors: cursors::CursorTable,
    budget: HostBudget,
    scope: Option<CallScope>,
}

impl WasmKvCtx {
    /// A context whose buckets resolve through `engine`, with the engine's
    /// `max_instance_bytes` as this instance's allowance of host-held bytes.
    /// Make one per instance: clones share the allowance.
    pub fn new(engine: KvEngine) -> Self {
        let budget = engine.instance_budget();
        Self {
            engine,
            draft_cursors: Default::default(),
            budget,
            scope: None,
        }
    }

    /// Hands `scope` to the engine's observer with every call of this
    /// instance (see [`CallScope`]), e.g. the trace context of the request
    /// it serves.
    pub fn set_scope(&mut self, scope: CallScope) {
        self.scope = Some(scope);
    }

    /// What [`WasmKvCtx::set_scope`] attached.
    pub fn scope(&self) -> Option<&CallScope> {
        self.scope.as_ref()
    }

    /// What the host holds for this instance now, against its allowance.
    pub fn budget(&self) -> &HostBudget {
        &self.budget
    }

    /// The engine behind this context.
    pub fn engine(&self) -> &KvEngine {
        &self.engine
    }
}

/// What the bindings need from the store's data: the context and the
/// resource table shared with `wasmtime-wasi` (streams live in both).
pub struct WasmKv<'a> {
    ctx: &'a WasmKvCtx,
    table: &'a mut ResourceTable,
}

impl<'a> WasmKv<'a> {
    /// Borrows the context and the table for one host call.
    pub fn new(ctx: &'a WasmKvCtx, table: &'a mut ResourceTable) -> Self {
        Self { ctx, table }
    }
}

/// Implemented by the store data of an embedder that runs keyvalue guests.
pub trait WasmKvView: Send {
    /// The keyvalue context and resource table of this store.
    fn keyvalue(&mut self) -> WasmKv<'_>;
}

/// Adds every `wasi:keyvalue` version wasmkv serves, the
/// `wasi:io@0.2.0-rc-2023-11-10` interfaces their value streams use, and,
/// on an engine with concurrency support (WASI 0.3),
/// `wasmcloud:keyvalue@0.2.0`.
///
/// Components also need `wasi:io@0.2.x` and `wasi:cli` for stdio: add them
/// with `wasmtime_wasi::p2::add_to_linker_async`; both versions share one
/// resource table and stream implementation.
///
/// `0.2.0-draft2`'s `batch` is added in the spec's original shape; use
/// [`add_to_linker_for`] to link components built for Spin too.
pub fn add_to_linker<T: WasmKvView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    add_to_linker_with(linker, LinkOptions::default())
}

/// As [`add_to_linker`], with `0.2.0-draft2`'s `batch.get-many` in the
/// shape `component` imports: a linker made this way links that component
/// whether it was built from the spec's WIT or Spin's.
pub fn add_to_linker_for<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    component: &Component,
) -> wasmtime::Result<()> {
    let options = LinkOptions::default().component(linker.engine(), component);
    add_to_linker_with(linker, options)
}

/// What [`add_to_linker_with`] links, beyond every version wasmkv serves.
#[derive(Debug, Clone, Default)]
pub struct LinkOptions {
    shape: draft2::GetManyShape,
    never_waits: bool,
    store_labels: Vec<String>,
}

impl LinkOptions {
    /// `0.2.0-draft2`'s `batch.get-many` in the shape `component` imports
    /// (the spec's or Spin's).
    /// `wasmcloud:keyvalue/store` under every label `component` imports it
    /// by, too.
    pub fn component(mut self, engine: &wasmtime::Engine, component: &Component) -> Self {
        self.shape = draft2::GetManyShape::of(engine, component);
        self.store_labels = wasmcloud::store_labels(engine, component);
        self
    }

    /// When every store of `engine` never waits (all memory), links the
    /// drafts' single-key and counter functions as synchronous host
    /// functions, as `wasmtime-wasi-keyvalue` links its in-memory map: no
    /// boxed future and fiber hand-off per call. Every instance made with
    /// this linker must then use `engine` (or another engine whose stores
    /// never wait); a call whose store waits traps, naming the function.
    pub fn engine(mut self, engine: &KvEngine) -> Self {
        self.never_waits = engine.never_waits();
        self
    }
}

/// As [`add_to_linker`], as `options` say.
pub fn add_to_linker_with<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    options: LinkOptions,
) -> wasmtime::Result<()> {
    seed::add_to_linker(linker)?;
    draft::add_to_linker_for_stores(linker, options.never_waits)?;
    draft2::add_to_linker(linker, options.shape)?;
    // Its functions are async: only an engine with concurrency support
    // (WASI 0.3's) can run them, and only such a component imports them.
    if linker.engine().get_concurrency_support() {
        wasmcloud::add_to_linker(linker, &options.store_labels)?;
    }
    Ok(())
}
