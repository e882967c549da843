//! Bindings for `wasi:keyvalue@0.2.0-draft` (wasmtime's and wasmCloud's
//! version): values as byte lists, `u64` counters and listing cursors.
//!
//! Where the draft and `0.2.0-draft2` agree (single-key operations, batches
//! in the spec's shape) the draft delegates to draft2 and converts the
//! error, as Spin's host does for its older versions; only counters and
//! cursors, whose types differ, are the draft's own.

mod atomics;
mod batch;
mod immediate;
mod store;

use wasmkv_engine::KvError;

use crate::draft2::bindings::wasi::keyvalue::store::Error as Draft2Error;
use wasmtime::component::{HasData, Linker};

use crate::{WasmKv, WasmKvView};

/// Code generated from `wit/draft`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft.bucket": wasmkv_engine::Bucket,
        },
    });
}

use bindings::wasi::keyvalue as kv;

/// A guest-visible result: the outer error traps, the inner one is the
/// draft's `error` variant.
type DraftResult<T> = wasmtime::Result<Result<T, kv::store::Error>>;

struct DraftKv;

impl HasData for DraftKv {
    type Data<'a> = WasmKv<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` to `linker`.
pub fn add_to_linker<T: WasmKvView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    add_to_linker_waiting(linker, true)
}

/// As [`add_to_linker`]; `stores_wait: false` links `store` and `atomics`
/// as synchronous functions, only for engines whose stores never wait.
pub(crate) fn add_to_linker_waiting<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    stores_wait: bool,
) -> wasmtime::Result<()> {
    if !stores_wait {
        return immediate::add_to_linker(linker);
    }
    kv::store::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    kv::atomics::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    kv::batch::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    Ok(())
}

/// The two drafts' `error` variants are the same three cases.
impl From<Draft2Error> for kv::store::Error {
    fn from(e: Draft2Error) -> Self {
        match e {
            Draft2Error::NoSuchStore => Self::NoSuchStore,
            Draft2Error::AccessDenied => Self::AccessDenied,
            Draft2Error::Other(trace) => Self::Other(trace),
        }
    }
}

/// A draft2 result as the draft's.
fn delegated<T>(result: crate::draft2::Draft2Result<T>) -> DraftResult<T> {
    result.map(|r| r.map_err(Into::into))
}

/// Turns an engine result into the draft's, through draft2's one
/// conversion (and its one log line).
fn reply<T>(result: Result<T, KvError>) -> DraftResult<T> {
    delegated(crate::draft2::reply(result))
}
