//! What an embedder may watch of every key-value call (for metrics or
//! traces) without the engine knowing of either: the store, the interface,
//! the operation, the outcome and the time taken. Never a bucket name, key
//! or value: a granted `*` makes bucket names as unbounded as keys.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use wasmkv_backend::SharedStoreEvents;

use crate::error::{Kind, Op};

/// The interface a call came through, so one store's traffic can be told
/// apart by the generation of the components that make it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interface {
    /// The embedder's own code, calling the engine directly.
    Host,
    /// The seed world (`wasi:keyvalue@0.1.0`-style, streams for values).
    Seed,
    /// `wasi:keyvalue@0.2.0-draft`.
    Draft,
    /// `wasi:keyvalue@0.2.0-draft2`.
    Draft2,
    /// `wasmcloud:keyvalue@0.2.0`, the async interface of WASI 0.3.
    Wasmcloud,
    /// An operator's tool (`wasmkv kv`).
    Admin,
}

impl Interface {
    /// Every interface, for an exporter that lists them up front.
    pub const ALL: [Interface; 6] = [
        Interface::Host,
        Interface::Seed,
        Interface::Draft,
        Interface::Draft2,
        Interface::Wasmcloud,
        Interface::Admin,
    ];

    /// A short, stable name for labels.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Host => "host",
            Interface::Seed => "seed",
            Interface::Draft => "draft",
            Interface::Draft2 => "draft2",
            Interface::Wasmcloud => "wasmcloud",
            Interface::Admin => "admin",
        }
    }
}

/// One finished key-value call.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The configured name of the store the bucket lives in.
    pub store: &'a str,
    /// The interface the call came through.
    pub interface: Interface,
    /// What was asked.
    pub op: Op,
    /// `Ok` or the kind of failure, as the guest was told.
    pub outcome: Result<(), Kind>,
    /// From the call's start (before validation) to its answer.
    pub elapsed: Duration,
    /// What the embedder attached to the calling instance, if anything.
    pub scope: Option<&'a CallScope>,
}

/// What an embedder attaches to one instance's calls (say, the trace
/// context of the request it serves), handed back with each of them, so an
/// observer can tell whose call it was.
pub type CallScope = Arc<dyn Any + Send + Sync>;

/// Told of every key-value call an engine answers. Called on the calling
/// task, after the answer is known: keep it cheap and never block.
pub trait KvObserver: Send + Sync {
    /// One call has finished.
    fn call(&self, call: &Call<'_>);

    /// Who hears of the store `store`'s own work (commits, reads,
    /// reconnects, redirects) when the engine opens it from a URL; `None`
    /// (the default) for nobody.
    fn store_events(&self, store: &str) -> Option<SharedStoreEvents> {
        let _ = store;
        None
    }
}

/// An observer shared by every bucket of an engine.
pub type SharedObserver = Arc<dyn KvObserver>;
