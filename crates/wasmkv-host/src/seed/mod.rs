//! Bindings for the seed world: unversioned `wasi:keyvalue/keyvalue` over
//! `wasi:io@0.2.0-rc-2023-11-10` streams.
//!
//! Each file adapts one part of the world to the engine: [`types`] (buckets,
//! values, errors), [`readwrite`], [`atomic`], [`batch`], and [`io`] (the rc
//! streams, delegated to `wasmtime-wasi-io`).

mod atomic;
mod batch;
mod io;
mod readwrite;
mod types;

use wasmkv_engine::KvError;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::{WasmKv, WasmKvView};

/// Code generated from `wit/seed`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/seed",
        world: "wasi:keyvalue/keyvalue",
        // Buckets, value handles and errors never wait on a store: plain
        // calls, cheaper than async ones. Everything that reaches a backend
        // (and the rc streams) is async.
        imports: {
            "wasi:keyvalue/types": trappable,
            "wasi:keyvalue/wasi-keyvalue-error": trappable,
            default: async | trappable,
        },
        with: {
            "wasi:io/error@0.2.0-rc-2023-11-10.error": wasmtime_wasi_io::streams::Error,
            "wasi:io/poll@0.2.0-rc-2023-11-10.pollable": wasmtime_wasi_io::poll::DynPollable,
            "wasi:io/streams@0.2.0-rc-2023-11-10.input-stream": wasmtime_wasi_io::streams::DynInputStream,
            "wasi:io/streams@0.2.0-rc-2023-11-10.output-stream": wasmtime_wasi_io::streams::DynOutputStream,
            "wasi:keyvalue/types.bucket": wasmkv_engine::Bucket,
            "wasi:keyvalue/types.outgoing-value": crate::value::OutgoingValue,
            "wasi:keyvalue/types.incoming-value": crate::value::IncomingValue,
            "wasi:keyvalue/wasi-keyvalue-error.error": wasmkv_engine::KvError,
        },
        trappable_error_type: {
            "wasi:io/streams@0.2.0-rc-2023-11-10.stream-error" => wasmtime_wasi_io::streams::StreamError,
        },
    });
}

use bindings::wasi::io as rc_io;
use bindings::wasi::keyvalue as kv;

/// A guest-visible result: the outer error traps, the inner one is an
/// `error` resource the guest receives.
type KvResult<T> = wasmtime::Result<Result<T, Resource<KvError>>>;

struct SeedKv;

impl HasData for SeedKv {
    type Data<'a> = WasmKv<'a>;
}

struct RcIo;

impl HasData for RcIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds the seed world's interfaces, and the rc `wasi:io` they use, to `linker`.
pub fn add_to_linker<T: WasmKvView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    fn table<T: WasmKvView>(t: &mut T) -> &mut ResourceTable {
        t.keyvalue().table
    }
    rc_io::error::add_to_linker::<T, RcIo>(linker, table)?;
    rc_io::poll::add_to_linker::<T, RcIo>(linker, table)?;
    rc_io::streams::add_to_linker::<T, RcIo>(linker, table)?;
    kv::wasi_keyvalue_error::add_to_linker::<T, SeedKv>(linker, T::keyvalue)?;
    kv::types::add_to_linker::<T, SeedKv>(linker, T::keyvalue)?;
    kv::readwrite::add_to_linker::<T, SeedKv>(linker, T::keyvalue)?;
    kv::atomic::add_to_linker::<T, SeedKv>(linker, T::keyvalue)?;
    kv::batch::add_to_linker::<T, SeedKv>(linker, T::keyvalue)?;
    Ok(())
}

impl WasmKv<'_> {
    /// Hands an engine result to the guest, turning a failure into an
    /// `error` resource.
    fn reply<T>(&mut self, result: Result<T, KvError>) -> KvResult<T> {
        match result {
            Ok(v) => Ok(Ok(v)),
            Err(e) => {
                tracing::debug!(target: "wasmkv::guest_error", "{e}");
                Ok(Err(self.table.push(e)?))
            }
        }
    }

    /// A handle to the bucket behind `bucket`, detached from the table so
    /// the table stays free while the backend works.
    pub(crate) fn bucket(
        &self,
        bucket: &Resource<wasmkv_engine::Bucket>,
    ) -> wasmtime::Result<wasmkv_engine::Bucket> {
        Ok(self.table.get(bucket)?.clone())
    }
}
