//! Bindings for `wasmcloud:keyvalue@0.2.0`, the key-value interface WASI
//! 0.3 components written for wasmCloud import (`wit/wasmcloud`).
//!
//! Every function is an `async func`, linked as a concurrent host call: it
//! takes what it needs from the store (the bucket, the instance's budget)
//! and lets go of it before awaiting the backend, so while one call waits
//! on a store the same instance runs its other tasks and requests, and a
//! guest that awaits two `get`s at once has both in flight.
//!
//! A bucket is the engine's [`Bucket`], the same one every other version
//! opens: one namespace per name whatever interface opens it, with the same
//! counters, grants and limits. Errors are the interface's named cases
//! ([`guest_error`]); their one-line traces go to the log, as the drafts'
//! `access-denied` does, since only `other` carries text.

mod atomics;
mod batch;
mod cas;
mod labels;
mod store;

use wasmkv_engine::{Bucket, HostBudget, Kind, KvError};
use wasmtime::component::{Accessor, HasData, Linker, Resource};

use crate::{WasmKv, WasmKvView};

pub use labels::store_labels;

/// Code generated from `wit/wasmcloud`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/wasmcloud",
        world: "wasmcloud:keyvalue/imports@0.2.0",
        imports: { default: trappable },
        with: {
            "wasmcloud:keyvalue/types.bucket": wasmkv_engine::Bucket,
        },
    });
}

use bindings::wasmcloud::keyvalue as kv;
use kv::types::Error;

/// The interface this module serves, as a component names it in an
/// unlabelled import or in a labelled one's `implements`.
pub const STORE_INTERFACE: &str = "wasmcloud:keyvalue/store@0.2.0";

/// The `HasData` of these bindings: calls reach the store's [`WasmKv`]
/// through an [`Accessor`].
pub struct WasmcloudKv;

impl HasData for WasmcloudKv {
    type Data<'a> = WasmKv<'a>;
}

/// A guest-visible result: the outer error traps, the inner one is the
/// interface's `error`.
type Reply<T> = wasmtime::Result<Result<T, Error>>;

/// Adds every interface of `wasmcloud:keyvalue@0.2.0` to `linker`, with
/// `store` also under each of `labels` (the names a component imports it
/// by, each opening its buckets in the store its label is given). The
/// linker's engine must support concurrency (WASI 0.3's).
pub fn add_to_linker<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    labels: &[String],
) -> wasmtime::Result<()> {
    kv::types::add_to_linker::<T, WasmcloudKv>(linker, T::keyvalue)?;
    kv::store::add_to_linker::<T, WasmcloudKv>(linker, T::keyvalue)?;
    kv::atomics::add_to_linker::<T, WasmcloudKv>(linker, T::keyvalue)?;
    kv::cas::add_to_linker::<T, WasmcloudKv>(linker, T::keyvalue)?;
    kv::batch::add_to_linker::<T, WasmcloudKv>(linker, T::keyvalue)?;
    for label in labels {
        labels::add_labelled_store(linker, label)?;
    }
    Ok(())
}

/// The one conversion from the engine's error to this interface's: each
/// kind to its named case, logged with its trace.
pub(crate) fn guest_error(e: KvError) -> Error {
    tracing::debug!(target: "wasmkv::guest_error", "{e}");
    match e.cause().kind() {
        Kind::AccessDenied => Error::AccessDenied,
        Kind::InvalidArgument => Error::InvalidArgument,
        Kind::QuotaExceeded => Error::QuotaExceeded,
        Kind::Timeout => Error::Timeout,
        Kind::StoreUnavailable => Error::StoreUnavailable,
        Kind::Unsupported => Error::Other(e.to_string()),
    }
}

/// Turns an engine result into the interface's.
fn reply<T>(result: Result<T, KvError>) -> Reply<T> {
    Ok(result.map_err(guest_error))
}

/// The bucket behind `handle` (a clone: the store is let go before any
/// await) and the instance's budget.
fn bucket_of(
    accessor: &Accessor<impl Sized, WasmcloudKv>,
    handle: &Resource<Bucket>,
) -> wasmtime::Result<(Bucket, HostBudget)> {
    accessor.with(|mut access| {
        let kv = access.get();
        let bucket = kv.table.get(handle)?.clone();
        Ok((bucket, kv.ctx.budget.clone()))
    })
}
