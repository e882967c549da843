//! Bindings for `wasi:keyvalue@0.2.0-draft2` (Spin's version): string
//! listing cursors, signed counters, and compare-and-swap through a `cas`
//! resource.
//!
//! The package was published with two `batch.get-many` result types under
//! one version (see `wit/README.md`); [`GetManyShape`] tells which one a
//! component imports, and the linker gets that one.

mod atomics;
mod batch;
pub(crate) mod ops;
mod shape;
mod store;

use wasmkv_engine::{Bucket, Bytes, Cause, Charge, KvError};
use wasmtime::component::{HasData, Linker};

use crate::{WasmKv, WasmKvView};

pub use shape::GetManyShape;

/// Code generated from `wit/draft2-spec`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/draft2-spec",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft2.bucket": wasmkv_engine::Bucket,
            "wasi:keyvalue/atomics@0.2.0-draft2.cas": crate::draft2::Cas,
        },
    });
}

/// Code generated from `wit/draft2-spin`: only its `batch` differs, so
/// `store` and `atomics` are the ones above.
#[allow(missing_docs)]
pub mod spin_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/draft2-spin",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft2": crate::draft2::bindings::wasi::keyvalue::store,
            "wasi:keyvalue/atomics@0.2.0-draft2": crate::draft2::bindings::wasi::keyvalue::atomics,
        },
    });
}

use bindings::wasi::keyvalue as kv;

/// A compare-and-swap in progress: the key and the bytes it held when the
/// handle was made (`None`: absent). The swap succeeds only if the key still
/// holds exactly those bytes, so a change that restores the same bytes
/// (A→B→A) is not detected: the comparison is by value, as in the seed world.
pub struct Cas {
    bucket: Bucket,
    key: String,
    snapshot: Option<Bytes>,
    _charge: Charge,
}

/// A guest-visible result: the outer error traps, the inner one is the
/// draft's `error` variant.
pub(crate) type Draft2Result<T> = wasmtime::Result<Result<T, kv::store::Error>>;

struct Draft2Kv;

impl HasData for Draft2Kv {
    type Data<'a> = WasmKv<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` to `linker`,
/// with `batch.get-many` in `shape`.
pub fn add_to_linker<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    shape: GetManyShape,
) -> wasmtime::Result<()> {
    kv::store::add_to_linker::<T, Draft2Kv>(linker, T::keyvalue)?;
    kv::atomics::add_to_linker::<T, Draft2Kv>(linker, T::keyvalue)?;
    match shape {
        GetManyShape::OptionOfPair => kv::batch::add_to_linker::<T, Draft2Kv>(linker, T::keyvalue),
        GetManyShape::PairOfOption => {
            spin_bindings::wasi::keyvalue::batch::add_to_linker::<T, Draft2Kv>(linker, T::keyvalue)
        }
    }
}

/// The one conversion from the engine's error to the drafts' `error` (the
/// older draft delegates here): ungranted is `access-denied`, the rest
/// `other` with the one-line trace. The only place a draft error is logged:
/// `access-denied` carries no text, so the log is where an operator learns
/// which grant is missing.
pub(crate) fn guest_error(e: KvError) -> kv::store::Error {
    tracing::debug!(target: "wasmkv::guest_error", "{e}");
    match e.cause() {
        Cause::AccessDenied { .. } => kv::store::Error::AccessDenied,
        _ => kv::store::Error::Other(e.to_string()),
    }
}

/// Turns an engine result into the draft's.
pub(crate) fn reply<T>(result: Result<T, KvError>) -> Draft2Result<T> {
    Ok(result.map_err(guest_error))
}
