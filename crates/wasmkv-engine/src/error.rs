use std::fmt;

use wasmkv_backend::{BackendError, CounterError};

/// The guest-visible operation that failed, named as in the WIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening a bucket by name.
    OpenBucket,
    /// Reading one key.
    Get,
    /// Writing one key.
    Set,
    /// Removing one key.
    Delete,
    /// Testing one key.
    Exists,
    /// Adding to a counter.
    Increment,
    /// Compare-and-swap on one key.
    CompareAndSwap,
    /// Reading many keys.
    GetMany,
    /// Writing many keys.
    SetMany,
    /// Removing many keys.
    DeleteMany,
    /// Listing keys.
    Keys,
    /// Listing one page of keys.
    ListKeys,
    /// Reading an entry with its version.
    Current,
    /// A versioned compare-and-swap.
    Swap,
    /// Reading when an entry expires.
    Expiry,
    /// Writing a value body before it is stored.
    WriteValue,
    /// Reading a value body.
    ReadValue,
}

impl Op {
    /// The operation's name as the WIT spells it.
    pub fn name(self) -> &'static str {
        match self {
            Op::OpenBucket => "open-bucket",
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Exists => "exists",
            Op::Increment => "increment",
            Op::CompareAndSwap => "compare-and-swap",
            Op::GetMany => "get-many",
            Op::SetMany => "set-many",
            Op::DeleteMany => "delete-many",
            Op::Keys => "keys",
            Op::ListKeys => "list-keys",
            Op::Current => "current",
            Op::Swap => "swap",
            Op::Expiry => "ttl",
            Op::WriteValue => "outgoing-value-write-body",
            Op::ReadValue => "incoming-value-consume",
        }
    }
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The bucket name is not granted.
    #[error("access denied: bucket {bucket:?} is not granted{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    AccessDenied {
        /// The name the guest asked for.
        bucket: String,
        /// How to grant it, in the embedder's terms (see
        /// [`crate::EngineBuilder::denial_hint`]); `None` says nothing more.
        hint: Option<String>,
    },
    /// The key is empty or too long.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The value is over `max_value_bytes`.
    #[error("value is {len} bytes, over max_value_bytes ({max})")]
    ValueTooLarge {
        /// The value's length (or the length reached when it was refused).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch or listing is over one of the count limits.
    #[error("{what} is over {limit} ({max})")]
    TooMany {
        /// What was counted, e.g. "12000 items".
        what: String,
        /// The limit's name in wasmkv.toml.
        limit: &'static str,
        /// The limit.
        max: usize,
    },
    /// The guest passed a value it had already found invalid.
    #[error("{0}")]
    InvalidValue(String),
    /// A counter operation was refused; the value is unchanged.
    #[error("{0}")]
    Counter(#[from] CounterError),
    /// The backend failed: I/O, lock timeout, server down.
    #[error("store unavailable: {0}")]
    Backend(BackendError),
}

/// What kind of failure a [`Cause`] is, for interfaces that name kinds
/// rather than carry a message (`wasmcloud:keyvalue`'s `error` cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The bucket is not granted.
    AccessDenied,
    /// The guest's input is wrong: a key, a cursor, an option, a counter
    /// that is not one.
    InvalidArgument,
    /// Over a size or count limit.
    QuotaExceeded,
    /// The store did not answer in time.
    Timeout,
    /// The store could not be reached or failed.
    StoreUnavailable,
    /// The store cannot do this at all.
    Unsupported,
}

impl Kind {
    /// Every kind, for an exporter that lists them up front.
    pub const ALL: [Kind; 6] = [
        Kind::AccessDenied,
        Kind::InvalidArgument,
        Kind::QuotaExceeded,
        Kind::Timeout,
        Kind::StoreUnavailable,
        Kind::Unsupported,
    ];

    /// A short, stable name for labels and span attributes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::AccessDenied => "access_denied",
            Kind::InvalidArgument => "invalid_argument",
            Kind::QuotaExceeded => "quota_exceeded",
            Kind::Timeout => "timeout",
            Kind::StoreUnavailable => "store_unavailable",
            Kind::Unsupported => "unsupported",
        }
    }
}

impl Cause {
    /// The kind of failure this is.
    pub fn kind(&self) -> Kind {
        match self {
            Cause::AccessDenied { .. } => Kind::AccessDenied,
            Cause::InvalidKey(_) | Cause::InvalidValue(_) | Cause::Counter(_) => {
                Kind::InvalidArgument
            }
            Cause::ValueTooLarge { .. } | Cause::TooMany { .. } => Kind::QuotaExceeded,
            Cause::Backend(e) => match e {
                BackendError::TooLarge { .. } => Kind::QuotaExceeded,
                BackendError::Counter(_) => Kind::InvalidArgument,
                BackendError::TimedOut { .. } => Kind::Timeout,
                BackendError::Unsupported { .. } => Kind::Unsupported,
                BackendError::Unavailable { .. } => Kind::StoreUnavailable,
            },
        }
    }
}

impl From<BackendError> for Cause {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Counter(c) => Cause::Counter(c),
            other => Cause::Backend(other),
        }
    }
}

/// A failed operation, with everything a person needs to see what went wrong.
///
/// Its `Display` is the one-line trace the guest receives: operation,
/// bucket, key (truncated) and cause.
#[derive(Debug)]
pub struct KvError(
    // Boxed: errors travel in `Result`s on every hot path, where a
    // pointer-sized error keeps the successful results small to move.
    Box<Details>,
);

#[derive(Debug)]
struct Details {
    op: Op,
    bucket: Option<String>,
    key: Option<String>,
    cause: Cause,
}

/// Keys longer than this are cut in traces so a 4 KiB key cannot flood a log.
const KEY_PREVIEW_CHARS: usize = 64;

impl KvError {
    /// An error for `op` on `bucket` (and `key`, when there is one).
    pub fn new(op: Op, bucket: &str, key: Option<&str>, cause: impl Into<Cause>) -> Self {
        Self(Box::new(Details {
            op,
            bucket: Some(preview(bucket)),
            key: key.map(preview),
            cause: cause.into(),
        }))
    }

    /// An error for `op` on something not yet tied to a bucket, such as a
    /// value body being written.
    pub fn unbound(op: Op, cause: impl Into<Cause>) -> Self {
        Self(Box::new(Details {
            op,
            bucket: None,
            key: None,
            cause: cause.into(),
        }))
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        self.0.op
    }

    /// Why it failed.
    pub fn cause(&self) -> &Cause {
        &self.0.cause
    }

    /// The kind of failure, as the named error cases of an interface say it.
    pub fn kind(&self) -> Kind {
        self.0.cause.kind()
    }
}

/// `text` as a trace quotes a guest's key or cursor: at most 64 characters,
/// then its length, so a huge input cannot make a huge message.
pub fn preview(text: &str) -> String {
    match text.char_indices().nth(KEY_PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}` escapes newlines and quotes, so the trace stays one line
        // whatever the guest put in its names.
        let Details {
            op,
            bucket,
            key,
            cause,
        } = &*self.0;
        write!(f, "{}", op.name())?;
        if let Some(bucket) = bucket {
            write!(f, " bucket {bucket:?}")?;
        }
        if let Some(key) = key {
            write!(f, " key {key:?}")?;
        }
        let cause = cause.to_string().replace(['\n', '\r'], " ");
        write!(f, ": {cause}")
    }
}

impl std::error::Error for KvError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_one_line_and_names_everything() {
        let e = KvError::new(
            Op::Get,
            "b\nx",
            Some("k\ny"),
            Cause::InvalidKey("key is empty".into()),
        );
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        assert!(s.starts_with("get bucket \"b\\nx\" key \"k\\ny\""), "{s}");
        assert!(s.ends_with("invalid key: key is empty"), "{s}");
    }

    #[test]
    fn long_keys_are_truncated() {
        let key = "é".repeat(1000);
        let s = KvError::new(Op::Set, "b", Some(&key), Cause::InvalidKey("x".into())).to_string();
        assert!(s.len() < 300, "{s}");
        assert!(s.contains("(2000 bytes)"), "{s}");
    }
}
