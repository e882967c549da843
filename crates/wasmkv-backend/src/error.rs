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
    /// Builds an [`BackendError::Unavailable`], folding the cause onto one line.
    pub fn unavailable(store: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        let message = cause.to_string().replace(['\n', '\r'], " ");
        BackendError::Unavailable {
            store: store.into(),
            message,
        }
    }
}
