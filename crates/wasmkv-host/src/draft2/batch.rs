//! `wasi:keyvalue/batch@0.2.0-draft2`, in both `get-many` shapes; the
//! Spin shape's `set-many` and `delete-many` are the same functions.

use wasmkv_engine::Bucket;
use wasmtime::component::Resource;

use super::kv::batch;
use super::ops;
use super::spin_bindings::wasi::keyvalue::batch as spin_batch;
use super::{Draft2Result, reply};
use crate::WasmKv;

impl batch::Host for WasmKv<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Draft2Result<Vec<Option<(String, Vec<u8>)>>> {
        let bucket = self.bucket(&bucket)?;
        reply(ops::get_many_present(&bucket, keys, &self.ctx.budget).await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Draft2Result<()> {
        let bucket = self.bucket(&bucket)?;
        reply(ops::set_many(&bucket, key_values).await)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Draft2Result<()> {
        let bucket = self.bucket(&bucket)?;
        reply(bucket.delete_many(&keys).await)
    }
}

impl spin_batch::Host for WasmKv<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Draft2Result<Vec<(String, Option<Vec<u8>>)>> {
        let bucket = self.bucket(&bucket)?;
        reply(ops::get_many(&bucket, keys, &self.ctx.budget).await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Draft2Result<()> {
        batch::Host::set_many(self, bucket, key_values).await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Draft2Result<()> {
        batch::Host::delete_many(self, bucket, keys).await
    }
}
