//! `wasi:keyvalue/atomics@0.2.0-draft`: `u64` counters.

use wasmkv_engine::Bucket;
use wasmtime::component::Resource;

use super::kv::atomics;
use super::{DraftResult, reply};
use crate::WasmKv;

impl atomics::Host for WasmKv<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> DraftResult<u64> {
        let bucket = self.table.get(&bucket)?;
        reply(bucket.increment_u64(&key, delta).await)
    }
}
