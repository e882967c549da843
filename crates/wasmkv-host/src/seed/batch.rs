//! `wasi:keyvalue/batch`: many keys per call, one backend round trip each.

use wasmkv_engine::{Bucket, Op};
use wasmtime::component::Resource;

use super::KvResult;
use super::kv::batch;
use super::types::refused;
use crate::WasmKv;
use crate::value::{IncomingValue, OutgoingValue};

impl batch::Host for WasmKv<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> KvResult<Vec<Option<Resource<IncomingValue>>>> {
        let bucket = self.bucket(&bucket)?;
        let (values, mut charge) = match bucket.get_many(&keys, &self.ctx.budget).await {
            Ok(got) => got,
            Err(e) => return self.reply(Err(e)),
        };
        let mut out = Vec::with_capacity(values.len());
        for value in values {
            out.push(match value {
                Some(bytes) => {
                    let own = charge.split_off(bytes.len());
                    Some(self.table.push(IncomingValue::new(bytes, own))?)
                }
                None => None,
            });
        }
        Ok(Ok(out))
    }

    async fn keys(&mut self, bucket: Resource<Bucket>) -> KvResult<Vec<String>> {
        let bucket = self.bucket(&bucket)?;
        let result = bucket.keys().await;
        self.reply(result)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Resource<OutgoingValue>)>,
    ) -> KvResult<()> {
        let bucket = self.bucket(&bucket)?;
        let mut items = Vec::with_capacity(key_values.len());
        for (key, value) in key_values {
            match self.table.get(&value)?.contents() {
                Ok(bytes) => items.push((key, bytes)),
                Err(r) => return self.reply(Err(refused(Op::SetMany, bucket.name(), &key, r))),
            }
        }
        let result = bucket.set_many(items).await;
        self.reply(result)
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> KvResult<()> {
        let bucket = self.bucket(&bucket)?;
        let result = bucket.delete_many(&keys).await;
        self.reply(result)
    }
}
