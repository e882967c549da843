//! `wasi:keyvalue/{store,atomics}@0.2.0-draft` as synchronous functions,
//! for engines whose stores never wait (see `crate::immediate`). The
//! single-key calls and `increment` go straight to the bucket's
//! [`ImmediateBucket`]; `open` and `list-keys` run the async implementation
//! in one poll.

use wasmkv_engine::{Bucket, ImmediateBucket, KvError};
use wasmtime::component::{HasData, Linker, Resource};

use super::delegated as synced;
use super::kv::store as async_store;
use crate::immediate::now;
use crate::{WasmKv, WasmKvView};

/// Code generated from `wit/draft`'s `store` and `atomics`, without
/// `async` (`batch` stays async).
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/draft",
        inline: "
            package wasmkv:immediate;
            world draft {
                import wasi:keyvalue/store@0.2.0-draft;
                import wasi:keyvalue/atomics@0.2.0-draft;
            }
        ",
        world: "wasmkv:immediate/draft",
        imports: { default: trappable },
        with: {
            "wasi:keyvalue/store@0.2.0-draft.bucket": wasmkv_engine::Bucket,
        },
    });
}

use bindings::wasi::keyvalue::{atomics, store};

type SyncResult<T> = wasmtime::Result<Result<T, store::Error>>;

super::same_error_cases!(async_store::Error => store::Error);

/// Turns an engine result into this binding's, through the drafts' one
/// conversion (and its one log line).
fn reply<T>(result: Result<T, KvError>) -> SyncResult<T> {
    synced(super::reply(result))
}

impl WasmKv<'_> {
    /// The bucket behind `bucket`, answering at once: `open` refused any
    /// other, so a miss is a linker used with the wrong engine.
    fn now_bucket(
        &self,
        bucket: &Resource<Bucket>,
        function: &'static str,
    ) -> wasmtime::Result<ImmediateBucket<'_>> {
        let bucket = self.table.get(bucket)?;
        bucket
            .immediate()
            .ok_or_else(|| crate::immediate::waits(function, Some(bucket.name())))
    }
}

struct ImmediateDraftKv;

impl HasData for ImmediateDraftKv {
    type Data<'a> = WasmKv<'a>;
}

/// Adds the draft with synchronous `store` and `atomics`.
pub(super) fn add_to_linker<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, ImmediateDraftKv>(linker, T::keyvalue)?;
    atomics::add_to_linker::<T, ImmediateDraftKv>(linker, T::keyvalue)?;
    super::kv::batch::add_to_linker::<T, super::DraftKv>(linker, T::keyvalue)
}

impl store::Host for WasmKv<'_> {
    /// Every operation starts from an open bucket, so a bucket whose store
    /// waits is refused here, before anything reaches that store.
    fn open(&mut self, identifier: String) -> SyncResult<Resource<Bucket>> {
        let opened = now("store.open", async_store::Host::open(self, identifier))?;
        if let Ok(bucket) = &opened {
            let bucket = self.table.get(bucket)?;
            if !bucket.never_waits() {
                return Err(crate::immediate::waits("store.open", Some(bucket.name())));
            }
        }
        synced(Ok(opened))
    }
}

impl store::HostBucket for WasmKv<'_> {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> SyncResult<Option<Vec<u8>>> {
        reply(self.now_bucket(&bucket, "bucket.get")?.get_vec(&key))
    }

    fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> SyncResult<()> {
        reply(
            self.now_bucket(&bucket, "bucket.set")?
                .set(&key, value.into()),
        )
    }

    fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> SyncResult<()> {
        reply(self.now_bucket(&bucket, "bucket.delete")?.delete(&key))
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> SyncResult<bool> {
        reply(self.now_bucket(&bucket, "bucket.exists")?.exists(&key))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> SyncResult<store::KeyResponse> {
        let call = async_store::HostBucket::list_keys(self, bucket, cursor);
        synced(now("bucket.list-keys", call)).map(|r| {
            r.map(|page| store::KeyResponse {
                keys: page.keys,
                cursor: page.cursor,
            })
        })
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        now("bucket.drop", async_store::HostBucket::drop(self, bucket))
    }
}

impl atomics::Host for WasmKv<'_> {
    fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: u64) -> SyncResult<u64> {
        reply(
            self.now_bucket(&bucket, "atomics.increment")?
                .increment_u64(&key, delta),
        )
    }
}
