//! Value bodies on the host side: what a guest writes before `set`, and what
//! `get` hands back.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use wasmtime_wasi_io::async_trait;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamError};

/// Most bytes a guest may write per `check-write` permit. Large enough to
/// move big values in few calls, small enough to bound one lifted list.
const WRITE_PERMIT: usize = 1024 * 1024;

/// The `outgoing-value` resource: a value being built by the guest.
///
/// Bytes are buffered host-side and counted against `max_value_bytes` as
/// they arrive, so an oversize value is refused before the host holds it.
pub struct OutgoingValue {
    body: Arc<Mutex<Body>>,
}

struct Body {
    state: BodyState,
    max: usize,
}

enum BodyState {
    /// Being written; appends go straight in.
    Open(Vec<u8>),
    /// Handed to a store; kept as shared bytes so `set` copies nothing.
    Frozen(Bytes),
    /// A write would have passed `max` bytes: the value can never be stored.
    Refused { attempted: usize },
}

/// Why an outgoing value cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRefused {
    /// How many bytes the guest tried to reach.
    pub attempted: usize,
    /// The limit it passed.
    pub max: usize,
}

impl OutgoingValue {
    /// An empty value that may grow to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            body: Arc::new(Mutex::new(Body {
                state: BodyState::Open(Vec::new()),
                max,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Body> {
        lock(&self.body)
    }

    /// Replaces the whole body (the `-sync` write).
    pub fn replace(&self, bytes: Vec<u8>) -> Result<(), ValueRefused> {
        let mut body = self.lock();
        if bytes.len() > body.max {
            let refused = ValueRefused {
                attempted: bytes.len(),
                max: body.max,
            };
            body.state = BodyState::Refused {
                attempted: bytes.len(),
            };
            return Err(refused);
        }
        body.state = BodyState::Open(bytes);
        Ok(())
    }

    /// A stream that appends to this value (the `-async` write).
    pub fn writer(&self) -> ValueWriter {
        ValueWriter {
            body: self.body.clone(),
        }
    }

    /// The bytes to store, without copying them.
    pub fn contents(&self) -> Result<Bytes, ValueRefused> {
        let mut body = self.lock();
        let max = body.max;
        match &mut body.state {
            BodyState::Open(data) => {
                let bytes = Bytes::from(std::mem::take(data));
                body.state = BodyState::Frozen(bytes.clone());
                Ok(bytes)
            }
            BodyState::Frozen(bytes) => Ok(bytes.clone()),
            BodyState::Refused { attempted } => Err(ValueRefused {
                attempted: *attempted,
                max,
            }),
        }
    }
}

fn lock(body: &Mutex<Body>) -> MutexGuard<'_, Body> {
    // Body updates are single assignments; a poisoned lock still holds a valid body.
    body.lock().unwrap_or_else(|p| p.into_inner())
}

impl Body {
    fn append(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        let max = self.max;
        let data = match &mut self.state {
            BodyState::Open(data) => data,
            BodyState::Frozen(frozen) => {
                let copy = frozen.to_vec();
                self.state = BodyState::Open(copy);
                match &mut self.state {
                    BodyState::Open(data) => data,
                    _ => unreachable!("just set to Open"),
                }
            }
            BodyState::Refused { .. } => return Err(StreamError::Closed),
        };
        let attempted = data.len().saturating_add(bytes.len());
        if attempted > max {
            self.state = BodyState::Refused { attempted };
            return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "value would be {attempted} bytes, over max_value_bytes ({max}); nothing will be stored"
            )));
        }
        data.extend_from_slice(bytes);
        Ok(())
    }
}

/// The `output-stream` returned by `outgoing-value-write-body-async`.
///
/// Always ready: writes land in host memory, so there is nothing to wait for.
pub struct ValueWriter {
    body: Arc<Mutex<Body>>,
}

#[async_trait]
impl Pollable for ValueWriter {
    async fn ready(&mut self) {}
}

#[async_trait]
impl OutputStream for ValueWriter {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        lock(&self.body).append(&bytes)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        match lock(&self.body).state {
            BodyState::Refused { .. } => Err(StreamError::Closed),
            _ => Ok(()),
        }
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match lock(&self.body).state {
            BodyState::Refused { .. } => Err(StreamError::Closed),
            _ => Ok(WRITE_PERMIT),
        }
    }
}

/// The `incoming-value` resource: a stored value handed to the guest.
///
/// Holds shared bytes, so a value read once is never copied on the host
/// until it is lowered into guest memory.
pub struct IncomingValue {
    bytes: Bytes,
}

impl IncomingValue {
    /// Wraps a value read from a store.
    pub fn new(bytes: Bytes) -> Self {
        Self { bytes }
    }

    /// The value's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_refuses_past_limit_and_keeps_nothing() {
        let value = OutgoingValue::new(10);
        let mut w = value.writer();
        w.write(Bytes::from_static(b"12345")).unwrap();
        w.write(Bytes::from_static(b"12345")).unwrap();
        assert!(matches!(
            w.write(Bytes::from_static(b"1")),
            Err(StreamError::LastOperationFailed(_))
        ));
        assert!(matches!(w.check_write(), Err(StreamError::Closed)));
        assert_eq!(
            value.contents(),
            Err(ValueRefused {
                attempted: 11,
                max: 10
            })
        );
    }

    #[test]
    fn contents_then_more_writes_append() {
        let value = OutgoingValue::new(100);
        let mut w = value.writer();
        w.write(Bytes::from_static(b"ab")).unwrap();
        assert_eq!(value.contents().unwrap(), Bytes::from_static(b"ab"));
        w.write(Bytes::from_static(b"c")).unwrap();
        assert_eq!(value.contents().unwrap(), Bytes::from_static(b"abc"));
    }
}
