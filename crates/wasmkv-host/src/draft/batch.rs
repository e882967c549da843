//! `wasi:keyvalue/batch@0.2.0-draft`.

use wasmkv_engine::Bucket;
use wasmtime::component::Resource;

use super::kv::batch;
use super::{DraftResult, reply};
use crate::WasmKv;
use crate::draft_ops;

impl batch::Host for WasmKv<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> DraftResult<Vec<Option<(String, Vec<u8>)>>> {
        let bucket = self.bucket(&bucket)?;
        reply(draft_ops::get_many_present(&bucket, keys, &self.ctx.budget).await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> DraftResult<()> {
        let bucket = self.bucket(&bucket)?;
        reply(draft_ops::set_many(&bucket, key_values).await)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> DraftResult<()> {
        let bucket = self.bucket(&bucket)?;
        reply(bucket.delete_many(&keys).await)
    }
}
