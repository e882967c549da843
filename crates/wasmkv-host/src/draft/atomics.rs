//! `wasi:keyvalue/atomics@0.2.0-draft`: `u64` counters.

use wasmkv_engine::{Bucket, CounterRange};
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
        let bucket = self.bucket(&bucket)?;
        let result = bucket
            .increment(&key, delta.into(), CounterRange::U64)
            .await;
        // The range check guarantees the result fits.
        reply(result.map(|n| u64::try_from(n).unwrap_or(u64::MAX)))
    }
}
