//! `wasi:keyvalue/atomics@0.2.0-draft2`: signed counters and the `cas`
//! resource.

use wasmkv_engine::{Bucket, Bytes, KvError, Op};
use wasmtime::component::Resource;

use super::kv::atomics::{self, CasError};
use super::{Cas, Draft2Result, guest_error, reply};
use crate::WasmKv;

impl WasmKv<'_> {
    /// Reads the key now and wraps it in a new `cas` handle.
    async fn snapshot(&mut self, bucket: Bucket, key: String) -> Result<Cas, KvError> {
        let snapshot = bucket.get(&key).await?;
        let len = snapshot.as_ref().map_or(0, Bytes::len);
        let charge = self
            .ctx
            .budget()
            .charge(len)
            .map_err(|c| KvError::new(Op::CompareAndSwap, bucket.name(), Some(&key), c))?;
        Ok(Cas {
            bucket,
            key,
            snapshot,
            _charge: charge,
        })
    }
}

impl atomics::Host for WasmKv<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Draft2Result<i64> {
        let bucket = self.table.get(&bucket)?;
        reply(bucket.increment_i64(&key, delta).await)
    }

    /// Stores `value` iff the key still holds the handle's snapshot; if not,
    /// hands back a fresh handle holding the latest value.
    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let Cas {
            bucket,
            key,
            snapshot,
            ..
        } = self.table.delete(cas)?;
        let swapped = bucket
            .compare_and_swap(&key, snapshot.as_deref(), value.into())
            .await;
        match swapped {
            Ok(true) => Ok(Ok(())),
            Ok(false) => match self.snapshot(bucket, key).await {
                Ok(fresh) => Ok(Err(CasError::CasFailed(self.table.push(fresh)?))),
                Err(e) => Ok(Err(CasError::StoreError(guest_error(e)))),
            },
            Err(e) => Ok(Err(CasError::StoreError(guest_error(e)))),
        }
    }
}

impl atomics::HostCas for WasmKv<'_> {
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Draft2Result<Resource<Cas>> {
        let bucket = self.bucket(&bucket)?;
        match self.snapshot(bucket, key).await {
            Ok(cas) => Ok(Ok(self.table.push(cas)?)),
            Err(e) => reply(Err(e)),
        }
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Draft2Result<Option<Vec<u8>>> {
        let cas = self.table.get(&cas)?;
        Ok(Ok(cas.snapshot.as_ref().map(|v| v.to_vec())))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
