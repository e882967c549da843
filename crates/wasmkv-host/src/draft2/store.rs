//! `wasi:keyvalue/store@0.2.0-draft2`: buckets and single-key operations.

use wasmkv_engine::{Bucket, Interface};
use wasmtime::component::Resource;

use super::kv::store::{self, KeyResponse};
use super::ops;
use super::{Draft2Result, reply};
use crate::{WasmKv, cursors};

impl store::Host for WasmKv<'_> {
    async fn open(&mut self, identifier: String) -> Draft2Result<Resource<Bucket>> {
        match ops::open(self.ctx, &identifier, Interface::Draft2) {
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
        // Borrowed from the table: no clone on the hot path.
        let bucket = self.table.get(&bucket)?;
        reply(bucket.get_vec(&key).await)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Draft2Result<()> {
        let bucket = self.table.get(&bucket)?;
        reply(ops::set(bucket, &key, value).await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Draft2Result<()> {
        let bucket = self.table.get(&bucket)?;
        reply(bucket.delete(&key).await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Draft2Result<bool> {
        let bucket = self.table.get(&bucket)?;
        reply(bucket.exists(&key).await)
    }

    /// The cursor is the backend's own (the last key of the previous page,
    /// or a SCAN position), sealed to the bucket: see `cursors`.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Draft2Result<KeyResponse> {
        let bucket = self.bucket(&bucket)?;
        let start = match cursors::start(bucket.name(), cursor.as_deref()) {
            Ok(start) => start,
            Err(e) => return reply(Err(e)),
        };
        reply(bucket.list_keys(start).await.map(|page| KeyResponse {
            keys: page.keys,
            cursor: page.cursor.map(|next| cursors::seal(bucket.name(), &next)),
        }))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}
