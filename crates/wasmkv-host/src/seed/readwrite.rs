//! `wasi:keyvalue/readwrite`: single-key reads and writes.

use wasmkv_engine::{Bucket, KvError, Op};
use wasmtime::component::Resource;

use super::KvResult;
use super::kv::readwrite;
use super::types::refused;
use crate::WasmKv;
use crate::value::{IncomingValue, OutgoingValue};

impl readwrite::Host for WasmKv<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> KvResult<Option<Resource<IncomingValue>>> {
        let bucket = self.bucket(&bucket)?;
        let value = match bucket.get(&key).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Ok(None)),
            Err(e) => return self.reply(Err(e)),
        };
        match self.ctx.budget.charge(value.len()) {
            Ok(charge) => Ok(Ok(Some(
                self.table.push(IncomingValue::new(value, charge))?,
            ))),
            Err(cause) => self.reply(Err(KvError::new(Op::Get, bucket.name(), Some(&key), cause))),
        }
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Resource<OutgoingValue>,
    ) -> KvResult<()> {
        let bucket = self.bucket(&bucket)?;
        let contents = self.table.get(&value)?.contents();
        let result = match contents {
            Ok(bytes) => bucket.set(&key, bytes).await,
            Err(r) => Err(refused(Op::Set, bucket.name(), &key, r)),
        };
        self.reply(result)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<()> {
        let bucket = self.bucket(&bucket)?;
        let result = bucket.delete(&key).await;
        self.reply(result)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<bool> {
        let bucket = self.bucket(&bucket)?;
        let result: Result<bool, KvError> = bucket.exists(&key).await;
        self.reply(result)
    }
}
