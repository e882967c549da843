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
    add_to_linker_for_stores(linker, false)
}

/// As [`add_to_linker`]; `never_waits` links `store` and `atomics` as
/// synchronous functions (see `immediate`), only for engines whose stores
/// never wait.
pub(crate) fn add_to_linker_for_stores<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    never_waits: bool,
) -> wasmtime::Result<()> {
    if never_waits {
        return immediate::add_to_linker(linker);
    }
    kv::store::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    kv::atomics::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    kv::batch::add_to_linker::<T, DraftKv>(linker, T::keyvalue)?;
    Ok(())
}

/// Every generated `error` of the drafts (draft2's, the draft's, the
/// draft's synchronous bindings') is the same three cases: converts one
/// into another.
macro_rules! same_error_cases {
    ($($from:ident)::+ => $to:ty) => {
        impl From<$($from)::+> for $to {
            fn from(e: $($from)::+) -> Self {
                match e {
                    $($from)::+::NoSuchStore => Self::NoSuchStore,
                    $($from)::+::AccessDenied => Self::AccessDenied,
                    $($from)::+::Other(trace) => Self::Other(trace),
                }
            }
        }
    };
}
use same_error_cases;

same_error_cases!(Draft2Error => kv::store::Error);

/// A result of one set of draft bindings as another's (draft2's as the
/// draft's, the draft's as its synchronous bindings').
fn delegated<T, E: Into<F>, F>(
    result: wasmtime::Result<Result<T, E>>,
) -> wasmtime::Result<Result<T, F>> {
    result.map(|r| r.map_err(Into::into))
}

/// Turns an engine result into the draft's, through draft2's one
/// conversion (and its one log line).
fn reply<T>(result: Result<T, KvError>) -> DraftResult<T> {
    delegated(crate::draft2::reply(result))
}
