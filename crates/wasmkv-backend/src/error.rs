use crate::counter::CounterError;

/// Result of a backend operation.
pub type BackendResult<T> = Result<T, BackendError>;

/// Why a backend operation failed.
///
/// Messages are one line and name the store, so the engine can put them
/// straight into a guest-visible trace.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The stored value or the result is not a valid counter for this API.
    #[error(transparent)]
    Counter(#[from] CounterError),
    /// A batch read's values are over the total the caller allowed; none
    /// were read.
    #[error("the values total {total} bytes, over the {max} allowed")]
    TooLarge {
        /// Their total size.
        total: u64,
        /// The total allowed.
        max: usize,
    },
    /// The store gave no answer in time: a lock held past the busy
    /// timeout, a server that did not reply. Whether a write was applied is
    /// in the message.
    #[error("{store}: {message}")]
    TimedOut {
        /// Which store failed, as [`crate::Backend::describe`] gives it.
        store: String,
        /// The underlying cause, on one line.
        message: String,
    },
    /// The store cannot do what was asked at all (a store of an embedder's
    /// that knows no expiry, say): refused, never ignored.
    #[error("{store}: {what} not supported by this store")]
    Unsupported {
        /// Which store refused.
        store: String,
        /// What it cannot do.
        what: &'static str,
    },
    /// The store could not do the operation: I/O, lock timeout, server down.
    #[error("{store}: {message}")]
    Unavailable {
        /// Which store failed, as [`crate::Backend::describe`] gives it.
        store: String,
        /// The underlying cause, on one line.
        message: String,
    },
}

impl BackendError {
    /// The cause alone, without the store's name in front: for messages
    /// that name the store already.
    pub fn cause_text(&self) -> String {
        match self {
            BackendError::TimedOut { message, .. } | BackendError::Unavailable { message, .. } => {
                message.clone()
            }
            BackendError::Unsupported { what, .. } => format!("{what} not supported by this store"),
            other => other.to_string(),
        }
    }

    /// Builds a [`BackendError::TimedOut`], folding the cause onto one line.
    pub fn timed_out(store: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        BackendError::TimedOut {
            store: store.into(),
            message: cause.to_string().replace(['\n', '\r'], " "),
        }
    }

    /// Builds a [`BackendError::Unsupported`].
    pub fn unsupported(store: impl Into<String>, what: &'static str) -> Self {
        BackendError::Unsupported {
            store: store.into(),
            what,
        }
    }

    /// Builds an [`BackendError::Unavailable`], folding the cause onto one line.
    pub fn unavailable(store: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        let message = cause.to_string().replace(['\n', '\r'], " ");
        BackendError::Unavailable {
            store: store.into(),
            message,
        }
    }
}
