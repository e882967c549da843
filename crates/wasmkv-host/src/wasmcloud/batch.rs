//! `wasmcloud:keyvalue/batch`: the drafts' batches, in the drafts' shapes
//! (`get-many` gives `none` in place of an absent key's pair).

use wasmkv_engine::Bucket;
use wasmtime::component::{Accessor, Resource};

use super::kv::batch;
use super::{Reply, WasmcloudKv, bucket_of, reply};
use crate::WasmKv;
use crate::draft2::ops;

impl batch::Host for WasmKv<'_> {}

impl<T> batch::HostWithStore<T> for WasmcloudKv {
    /// The values are charged to the instance's budget until they are
    /// lowered into the guest, so a batch that would not fit is refused
    /// before it is read.
    async fn get_many(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Reply<Vec<Option<(String, Vec<u8>)>>> {
        let (bucket, budget) = bucket_of(accessor, &bucket)?;
        reply(ops::get_many_present(&bucket, keys, &budget).await)
    }

    async fn set_many(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Reply<()> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(ops::set_many(&bucket, key_values).await)
    }

    async fn delete_many(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Reply<()> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(bucket.delete_many(&keys).await)
    }
}
