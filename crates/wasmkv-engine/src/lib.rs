//! The wasmkv engine: what a bucket name means and what a guest may do with it.
//!
//! The engine sits between the WIT bindings and the storage backends and knows
//! neither: it resolves a bucket name through the grants to a store and a
//! namespace ([`Engine::open_bucket`]), validates keys and values against the
//! [`Limits`], and turns every failure into one [`KvError`] whose message is
//! the one-line trace a guest sees. Every WIT version's bindings share it, so
//! one store serves components of every version.

#![deny(missing_docs)]

mod bucket;
mod budget;
mod engine;
mod error;
mod grants;
mod limits;
mod observe;
mod validate;

pub use bucket::{Bucket, ImmediateBucket};
pub use budget::{Charge, HostBudget};
pub use engine::{DenialHint, Engine, EngineBuildError, EngineBuilder};
pub use error::{Cause, Kind, KvError, Op, preview};
pub use grants::Grants;
pub use limits::Limits;
pub use observe::{Call, CallScope, Interface, KvObserver, SharedObserver};
/// The process-wide opt-in for SQLite reads that never wait for the disk
/// (see its own docs): the `wasmkv` binary takes it, the library never does.
pub use wasmkv_backend::sqlite::install_nowait_reads as install_sqlite_nowait_reads;
pub use wasmkv_backend::{
    Backend, BackendError, BackendResult, Bytes, CounterRange, Entry, Expiry, KeyPage, SetOptions,
    SharedBackend, SharedStoreEvents, StoreEvents, StoreUrl, Swap, SwapCondition,
};
