//! `wasi:keyvalue/batch@0.2.0-draft`: the same functions as draft2's batch
//! in the spec's shape, so each delegates there.

use wasmkv_engine::Bucket;
use wasmtime::component::Resource;

use super::kv::batch;
use super::{DraftResult, delegated};
use crate::WasmKv;
use crate::draft2::bindings::wasi::keyvalue::batch as draft2;

impl batch::Host for WasmKv<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> DraftResult<Vec<Option<(String, Vec<u8>)>>> {
        delegated(draft2::Host::get_many(self, bucket, keys).await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> DraftResult<()> {
        delegated(draft2::Host::set_many(self, bucket, key_values).await)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> DraftResult<()> {
        delegated(draft2::Host::delete_many(self, bucket, keys).await)
    }
}
