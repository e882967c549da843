//! `wasi:keyvalue/store@0.2.0-draft2`: buckets and single-key operations.

use wasmkv_engine::Bucket;
use wasmtime::component::Resource;

use super::kv::store::{self, KeyResponse};
use super::{Draft2Result, reply};
use crate::WasmKv;
use crate::draft_ops;

impl store::Host for WasmKv<'_> {
    async fn open(&mut self, identifier: String) -> Draft2Result<Resource<Bucket>> {
        match draft_ops::open(&self.ctx.engine, &identifier) {
            Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
            Err(e) => reply(Err(e)),
        }
    }
}

impl store::HostBucket for WasmKv<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Draft2Result<Option<Vec<u8>>> {
        let bucket = self.bucket(&bucket)?;
        reply(draft_ops::get(&bucket, &key).await)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Draft2Result<()> {
        let bucket = self.bucket(&bucket)?;
        reply(draft_ops::set(&bucket, &key, value).await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Draft2Result<()> {
        let bucket = self.bucket(&bucket)?;
        reply(bucket.delete(&key).await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Draft2Result<bool> {
        let bucket = self.bucket(&bucket)?;
        reply(bucket.exists(&key).await)
    }

    /// The cursor is the backend's own: the last key of the previous page
    /// (memory, SQLite) or a SCAN position (Redis).
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Draft2Result<KeyResponse> {
        let bucket = self.bucket(&bucket)?;
        reply(
            bucket
                .list_keys(cursor.as_deref())
                .await
                .map(|page| KeyResponse {
                    keys: page.keys,
                    cursor: page.cursor,
                }),
        )
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}
