//! `wasi:keyvalue/store@0.2.0-draft`: buckets and single-key operations.

use wasmkv_engine::{Bucket, Interface};
use wasmtime::component::Resource;

use super::kv::store::{self, KeyResponse};
use super::{DraftResult, delegated, reply};
use crate::WasmKv;
use crate::draft2::bindings::wasi::keyvalue::store as draft2;

impl store::Host for WasmKv<'_> {
    async fn open(&mut self, identifier: String) -> DraftResult<Resource<Bucket>> {
        match crate::draft2::ops::open(self.ctx, &identifier, Interface::Draft) {
            Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
            Err(e) => reply(Err(e)),
        }
    }
}

impl store::HostBucket for WasmKv<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> DraftResult<Option<Vec<u8>>> {
        delegated(draft2::HostBucket::get(self, bucket, key).await)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> DraftResult<()> {
        delegated(draft2::HostBucket::set(self, bucket, key, value).await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> DraftResult<()> {
        delegated(draft2::HostBucket::delete(self, bucket, key).await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> DraftResult<bool> {
        delegated(draft2::HostBucket::exists(self, bucket, key).await)
    }

    /// The `u64` cursor stands for the backend's own cursor, kept host-side.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> DraftResult<KeyResponse> {
        let bucket = self.bucket(&bucket)?;
        let start = match cursor {
            None => None,
            Some(id) => match self.ctx.draft_cursors.redeem(id) {
                Some(position) => Some(position),
                None => {
                    return Ok(Err(store::Error::Other(format!(
                        "list-keys bucket {:?}: unknown or expired cursor {id}",
                        bucket.name()
                    ))));
                }
            },
        };
        let page = match bucket.list_keys(start.as_deref()).await {
            Ok(page) => page,
            Err(e) => return reply(Err(e)),
        };
        let cursor = page.cursor.map(|next| self.ctx.draft_cursors.issue(next));
        Ok(Ok(KeyResponse {
            keys: page.keys,
            cursor,
        }))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}
