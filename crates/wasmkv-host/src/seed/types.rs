//! `wasi:keyvalue/types` and `wasi-keyvalue-error`: buckets, value bodies
//! and error resources.

use wasmkv_engine::{Bucket, Interface, KvError, Op};
use wasmtime::component::Resource;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use super::KvResult;
use super::kv::{types, wasi_keyvalue_error};
use crate::WasmKv;
use crate::value::{IncomingValue, OutgoingValue, ValueRefused};

impl wasi_keyvalue_error::Host for WasmKv<'_> {}

impl wasi_keyvalue_error::HostError for WasmKv<'_> {
    fn trace(&mut self, err: Resource<KvError>) -> wasmtime::Result<String> {
        Ok(self.table.get(&err)?.to_string())
    }

    fn drop(&mut self, err: Resource<KvError>) -> wasmtime::Result<()> {
        self.table.delete(err)?;
        Ok(())
    }
}

impl types::Host for WasmKv<'_> {}

impl types::HostBucket for WasmKv<'_> {
    fn open_bucket(&mut self, name: String) -> KvResult<Resource<Bucket>> {
        match self
            .ctx
            .engine
            .open_bucket_via(&name, None, Interface::Seed, self.ctx.scope())
        {
            Ok(bucket) => Ok(Ok(self.table.push(bucket)?)),
            Err(e) => self.reply(Err(e)),
        }
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

/// The error a guest sees when it stores a value that went over the limit.
pub(super) fn refused(op: Op, bucket: &str, key: &str, r: ValueRefused) -> KvError {
    KvError::new(op, bucket, Some(key), r.cause())
}

impl types::HostOutgoingValue for WasmKv<'_> {
    fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingValue>> {
        let max = self.ctx.engine.limits().max_value_bytes;
        Ok(self.table.push(OutgoingValue::new(max, &self.ctx.budget))?)
    }

    fn outgoing_value_write_body_async(
        &mut self,
        value: Resource<OutgoingValue>,
    ) -> KvResult<Resource<DynOutputStream>> {
        let writer: DynOutputStream = Box::new(self.table.get(&value)?.writer());
        Ok(Ok(self.table.push(writer)?))
    }

    fn outgoing_value_write_body_sync(
        &mut self,
        value: Resource<OutgoingValue>,
        body: Vec<u8>,
    ) -> KvResult<()> {
        let result = self
            .table
            .get(&value)?
            .replace(body)
            .map_err(|r| KvError::unbound(Op::WriteValue, r.cause()));
        self.reply(result)
    }

    fn drop(&mut self, value: Resource<OutgoingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

impl types::HostIncomingValue for WasmKv<'_> {
    fn incoming_value_consume_sync(&mut self, value: Resource<IncomingValue>) -> KvResult<Vec<u8>> {
        Ok(Ok(self.table.get(&value)?.bytes().to_vec()))
    }

    fn incoming_value_consume_async(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> KvResult<Resource<DynInputStream>> {
        let stream: DynInputStream = Box::new(self.table.get(&value)?.reader());
        Ok(Ok(self.table.push(stream)?))
    }

    fn size(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&value)?.bytes().len() as u64)
    }

    fn drop(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}
