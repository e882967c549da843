//! `wasi:keyvalue/atomic`: u64 counters in the shared canonical encoding.

use wasmkv_engine::Bucket;
use wasmtime::component::Resource;

use super::KvResult;
use super::kv::atomic;
use crate::WasmKv;

impl atomic::Host for WasmKv<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> KvResult<u64> {
        let bucket = self.bucket(&bucket)?;
        let result = bucket.increment_u64(&key, delta).await;
        self.reply(result)
    }

    async fn compare_and_swap(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        old: u64,
        new: u64,
    ) -> KvResult<bool> {
        let bucket = self.bucket(&bucket)?;
        let result = bucket
            .compare_and_swap_counter(&key, old.into(), new.into())
            .await;
        self.reply(result)
    }
}
