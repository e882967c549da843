use std::io;

use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Reads a stored value's body as it streams from the host.
pub struct ValueReader {
    stream: InputStream,
    done: bool,
}

impl ValueReader {
    pub(crate) fn new(stream: InputStream) -> Self {
        Self {
            stream,
            done: false,
        }
    }
}

fn io_error(e: StreamError) -> io::Error {
    match e {
        StreamError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, "stream closed"),
        StreamError::LastOperationFailed(e) => io::Error::other(e.to_debug_string()),
    }
}

impl io::Read for ValueReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.stream.blocking_read(buf.len() as u64) {
            Ok(bytes) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Err(StreamError::Closed) => {
                self.done = true;
                Ok(0)
            }
            Err(e) => Err(io_error(e)),
        }
    }
}

/// Writes a value's body to the host, which buffers it until the value is
/// stored with [`crate::Bucket::set_value`].
pub struct ValueWriter {
    stream: OutputStream,
}

impl ValueWriter {
    pub(crate) fn new(stream: OutputStream) -> Self {
        Self { stream }
    }
}

impl io::Write for ValueWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let permit = self.stream.check_write().map_err(io_error)?;
            if permit == 0 {
                self.stream.subscribe().block();
                continue;
            }
            let n = buf.len().min(usize::try_from(permit).unwrap_or(usize::MAX));
            self.stream.write(&buf[..n]).map_err(io_error)?;
            return Ok(n);
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.blocking_flush().map_err(io_error)
    }
}
