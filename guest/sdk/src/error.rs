use std::fmt;

use crate::bindings::wasi::keyvalue::wasi_keyvalue_error;

/// A failed keyvalue operation, with the host's one-line explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    trace: String,
}

impl Error {
    /// What the host said went wrong: operation, bucket, key and cause.
    pub fn trace(&self) -> &str {
        &self.trace
    }
}

impl From<wasi_keyvalue_error::Error> for Error {
    fn from(e: wasi_keyvalue_error::Error) -> Self {
        Self { trace: e.trace() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.trace)
    }
}

impl std::error::Error for Error {}
