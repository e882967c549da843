//! `wasmcloud:keyvalue/cas`: an entry's current value and version, and a
//! swap that requires a version, bytes, or both. Versions change with every
//! write of the key by any interface and any process, so A → B → A is
//! seen; how each store keeps them is in the backends.

use wasmkv_engine::{Bucket, Bytes, Entry, Swap, SwapCondition};
use wasmtime::component::{Accessor, Resource};

use super::kv::cas::{self, CasOptions, CasResult};
use super::{Reply, WasmcloudKv, bucket_of, reply};
use crate::WasmKv;

fn guest_entry(entry: Entry) -> cas::Entry {
    cas::Entry {
        value: entry.value.to_vec(),
        version: entry.version,
    }
}

impl cas::Host for WasmKv<'_> {}

impl<T> cas::HostWithStore<T> for WasmcloudKv {
    async fn current(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Reply<Option<cas::Entry>> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(bucket.current(&key).await.map(|e| e.map(guest_entry)))
    }

    /// Empty options are `invalid-argument`; a lost race is `stale` with
    /// the entry as it is now.
    async fn swap(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
        options: CasOptions,
    ) -> Reply<CasResult> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        let condition = SwapCondition {
            version: options.require_version,
            value: options.require_value.map(Bytes::from),
        };
        let swapped = bucket.swap(&key, Bytes::from(value), &condition).await;
        reply(swapped.map(|swap| match swap {
            Swap::Swapped => CasResult::Swapped,
            Swap::Stale(entry) => CasResult::Stale(entry.map(guest_entry)),
        }))
    }
}
