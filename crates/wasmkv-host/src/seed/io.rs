//! `wasi:io@0.2.0-rc-2023-11-10`, served by `wasmtime-wasi-io`'s 0.2
//! implementation: the two versions have the same shape, and sharing the
//! resource types lets one stream serve either.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io as io02;
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, Error, StreamError};

use super::rc_io::{error, poll, streams};

type StreamResult<T> = Result<T, StreamError>;

impl error::Host for ResourceTable {}

impl error::HostError for ResourceTable {
    async fn to_debug_string(&mut self, err: Resource<Error>) -> wasmtime::Result<String> {
        io02::error::HostError::to_debug_string(self, err)
    }

    async fn drop(&mut self, err: Resource<Error>) -> wasmtime::Result<()> {
        io02::error::HostError::drop(self, err)
    }
}

impl poll::Host for ResourceTable {
    async fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        io02::poll::Host::poll(self, pollables).await
    }
}

impl poll::HostPollable for ResourceTable {
    async fn ready(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<bool> {
        io02::poll::HostPollable::ready(self, p).await
    }

    async fn block(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        io02::poll::HostPollable::block(self, p).await
    }

    async fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        io02::poll::HostPollable::drop(self, p)
    }
}

impl streams::Host for ResourceTable {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        match err {
            StreamError::Closed => Ok(streams::StreamError::Closed),
            StreamError::LastOperationFailed(e) => {
                Ok(streams::StreamError::LastOperationFailed(self.push(e)?))
            }
            StreamError::Trap(e) => Err(e),
        }
    }
}

impl streams::HostInputStream for ResourceTable {
    async fn read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        io02::streams::HostInputStream::read(self, s, len)
    }

    async fn blocking_read(
        &mut self,
        s: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        io02::streams::HostInputStream::blocking_read(self, s, len).await
    }

    async fn skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        io02::streams::HostInputStream::skip(self, s, len)
    }

    async fn blocking_skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        io02::streams::HostInputStream::blocking_skip(self, s, len).await
    }

    async fn subscribe(
        &mut self,
        s: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        io02::streams::HostInputStream::subscribe(self, s)
    }

    async fn drop(&mut self, s: Resource<DynInputStream>) -> wasmtime::Result<()> {
        io02::streams::HostInputStream::drop(self, s).await
    }
}

impl streams::HostOutputStream for ResourceTable {
    async fn check_write(&mut self, s: Resource<DynOutputStream>) -> StreamResult<u64> {
        io02::streams::HostOutputStream::check_write(self, s)
    }

    async fn write(&mut self, s: Resource<DynOutputStream>, contents: Vec<u8>) -> StreamResult<()> {
        io02::streams::HostOutputStream::write(self, s, contents)
    }

    async fn blocking_write_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        contents: Vec<u8>,
    ) -> StreamResult<()> {
        io02::streams::HostOutputStream::blocking_write_and_flush(self, s, contents).await
    }

    async fn flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        io02::streams::HostOutputStream::flush(self, s)
    }

    async fn blocking_flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        io02::streams::HostOutputStream::blocking_flush(self, s).await
    }

    async fn subscribe(
        &mut self,
        s: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        io02::streams::HostOutputStream::subscribe(self, s)
    }

    async fn write_zeroes(&mut self, s: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        io02::streams::HostOutputStream::write_zeroes(self, s, len)
    }

    async fn blocking_write_zeroes_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        io02::streams::HostOutputStream::blocking_write_zeroes_and_flush(self, s, len).await
    }

    async fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        io02::streams::HostOutputStream::splice(self, dst, src, len)
    }

    async fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        io02::streams::HostOutputStream::blocking_splice(self, dst, src, len).await
    }

    async fn drop(&mut self, s: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        io02::streams::HostOutputStream::drop(self, s).await
    }
}
