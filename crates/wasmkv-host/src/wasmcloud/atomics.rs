//! `wasmcloud:keyvalue/atomics`: signed counters, in the encoding every
//! version shares (a canonical decimal integer).

use wasmkv_engine::Bucket;
use wasmtime::component::{Accessor, Resource};

use super::kv::atomics;
use super::{Reply, WasmcloudKv, bucket_of, reply};
use crate::WasmKv;

impl atomics::Host for WasmKv<'_> {}

impl<T> atomics::HostWithStore<T> for WasmcloudKv {
    async fn increment(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Reply<i64> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(bucket.increment_i64(&key, delta).await)
    }
}
