//! Bindings for `wasi:keyvalue@0.2.0-draft` (wasmtime's and wasmCloud's
//! version): values as byte lists, `u64` counters and listing cursors.

mod atomics;
mod batch;
mod store;

use wasmkv_engine::{Cause, KvError};
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
    kv::store::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    kv::atomics::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    kv::batch::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    Ok(())
}

/// Ungranted buckets are `access-denied`; everything else is `other` with
/// the one-line trace. (`no-such-store` never happens: every granted
/// bucket's store was opened at startup.)
impl From<KvError> for kv::store::Error {
    fn from(e: KvError) -> Self {
        crate::draft_ops::log(&e);
        match e.cause() {
            Cause::AccessDenied { .. } => Self::AccessDenied,
            _ => Self::Other(e.to_string()),
        }
    }
}

/// Turns an engine result into the draft's.
fn reply<T>(result: Result<T, KvError>) -> DraftResult<T> {
    Ok(result.map_err(Into::into))
}
