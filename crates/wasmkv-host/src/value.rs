//! Value bodies on the host side: what a guest writes before `set`, and what
//! `get` hands back.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use wasmkv_engine::{Cause, Charge, HostBudget};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi_io::async_trait;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError};

/// Most bytes a guest may write per `check-write` permit. Large enough to
/// move big values in few calls, small enough to bound one lifted list.
const WRITE_PERMIT: usize = 1024 * 1024;

/// The `outgoing-value` resource: a value being built by the guest.
///
/// Bytes are buffered host-side and counted against `max_value_bytes` and
/// the instance's `max_instance_bytes` as they arrive, so an oversize value
/// is refused before the host holds it.
pub struct OutgoingValue {
    body: Arc<Mutex<Body>>,
}

struct Body {
    state: BodyState,
    max: usize,
    charge: Charge,
}

enum BodyState {
    /// Being written; appends go straight in.
    Open(Vec<u8>),
    /// Handed to a store; kept as shared bytes so `set` copies nothing.
    Frozen(Bytes),
    /// A write would have passed a limit: the value can never be stored.
    Refused(ValueRefused),
}

/// Why an outgoing value cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRefused {
    /// How many bytes the guest tried to reach: in this value for
    /// `max_value_bytes`, in all the instance holds for `max_instance_bytes`.
    pub attempted: usize,
    /// The limit it passed.
    pub max: usize,
    /// Its name in wasmkv.toml: `max_value_bytes` or `max_instance_bytes`.
    pub limit: &'static str,
}

impl ValueRefused {
    /// The engine's cause for this refusal.
    pub fn cause(self) -> Cause {
        match self.limit {
            "max_value_bytes" => Cause::ValueTooLarge {
                len: self.attempted,
                max: self.max,
            },
            limit => Cause::TooMany {
                what: format!("holding {} bytes for this instance", self.attempted),
                limit,
                max: self.max,
            },
        }
    }
}

impl OutgoingValue {
    /// An empty value that may grow to `max` bytes, charged to `budget` as
    /// it does.
    pub fn new(max: usize, budget: &HostBudget) -> Self {
        let charge = budget.empty_charge();
        Self {
            body: Arc::new(Mutex::new(Body {
                state: BodyState::Open(Vec::new()),
                max,
                charge,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Body> {
        lock(&self.body)
    }

    /// Replaces the whole body (the `-sync` write).
    pub fn replace(&self, bytes: Vec<u8>) -> Result<(), ValueRefused> {
        let mut body = self.lock();
        body.state = BodyState::Open(Vec::new());
        body.charge.release();
        body.admit(0, bytes.len())?;
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
        match &mut body.state {
            BodyState::Open(data) => {
                let bytes = Bytes::from(std::mem::take(data));
                body.state = BodyState::Frozen(bytes.clone());
                Ok(bytes)
            }
            BodyState::Frozen(bytes) => Ok(bytes.clone()),
            BodyState::Refused(refused) => Err(*refused),
        }
    }
}

fn lock(body: &Mutex<Body>) -> MutexGuard<'_, Body> {
    // Body updates are single assignments; a poisoned lock still holds a valid body.
    body.lock().unwrap_or_else(|p| p.into_inner())
}

impl Body {
    /// Admits `more` bytes on top of `held`, or marks the body refused.
    fn admit(&mut self, held: usize, more: usize) -> Result<(), ValueRefused> {
        let attempted = held.saturating_add(more);
        let refused = if attempted > self.max {
            Some(ValueRefused {
                attempted,
                max: self.max,
                limit: "max_value_bytes",
            })
        } else if self.charge.grow(more).is_err() {
            let budget = self.charge.budget();
            Some(ValueRefused {
                attempted: budget.used().saturating_add(more),
                max: budget.max(),
                limit: "max_instance_bytes",
            })
        } else {
            None
        };
        match refused {
            Some(refused) => {
                self.state = BodyState::Refused(refused);
                self.charge.release();
                Err(refused)
            }
            None => Ok(()),
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
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
        let held = data.len();
        if let Err(r) = self.admit(held, bytes.len()) {
            return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "{}; nothing will be stored",
                r.cause()
            )));
        }
        if let BodyState::Open(data) = &mut self.state {
            data.extend_from_slice(bytes);
        }
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
/// until it is lowered into guest memory. Its charge to the instance's
/// budget lasts as long as the bytes do, in the resource or its stream.
pub struct IncomingValue {
    bytes: Bytes,
    charge: Arc<Charge>,
}

impl IncomingValue {
    /// Wraps a value read from a store, with its charge.
    pub fn new(bytes: Bytes, charge: Charge) -> Self {
        Self {
            bytes,
            charge: Arc::new(charge),
        }
    }

    /// The value's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// A stream of the value that keeps it charged until the stream drops.
    pub fn reader(&self) -> IncomingValueReader {
        IncomingValueReader {
            pipe: MemoryInputPipe::new(self.bytes.clone()),
            _charge: self.charge.clone(),
        }
    }
}

/// The `input-stream` returned by `incoming-value-consume-async`.
pub struct IncomingValueReader {
    pipe: MemoryInputPipe,
    _charge: Arc<Charge>,
}

#[async_trait]
impl Pollable for IncomingValueReader {
    async fn ready(&mut self) {
        self.pipe.ready().await
    }
}

impl InputStream for IncomingValueReader {
    fn read(&mut self, size: usize) -> Result<Bytes, StreamError> {
        self.pipe.read(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_refuses_past_limit_and_keeps_nothing() {
        let budget = HostBudget::new(100);
        let value = OutgoingValue::new(10, &budget);
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
                max: 10,
                limit: "max_value_bytes"
            })
        );
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn values_are_charged_and_refused_past_the_instance_budget() {
        let budget = HostBudget::new(15);
        let a = OutgoingValue::new(10, &budget);
        a.replace(vec![0; 10]).unwrap();
        let b = OutgoingValue::new(10, &budget);
        let mut w = b.writer();
        w.write(Bytes::from_static(b"12345")).unwrap();
        assert_eq!(budget.used(), 15);
        assert!(matches!(
            w.write(Bytes::from_static(b"1")),
            Err(StreamError::LastOperationFailed(_))
        ));
        assert_eq!(b.contents().unwrap_err().limit, "max_instance_bytes");
        assert_eq!(budget.used(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);

        let incoming = IncomingValue::new(Bytes::from_static(b"abc"), budget.charge(3).unwrap());
        let reader = incoming.reader();
        drop(incoming);
        assert_eq!(budget.used(), 3, "the stream still holds the bytes");
        drop(reader);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn contents_then_more_writes_append() {
        let value = OutgoingValue::new(100, &HostBudget::new(100));
        let mut w = value.writer();
        w.write(Bytes::from_static(b"ab")).unwrap();
        assert_eq!(value.contents().unwrap(), Bytes::from_static(b"ab"));
        w.write(Bytes::from_static(b"c")).unwrap();
        assert_eq!(value.contents().unwrap(), Bytes::from_static(b"abc"));
    }
}
