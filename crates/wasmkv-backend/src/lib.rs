//! Storage backends for wasmkv.
//!
//! Every backend implements [`Backend`], a small async, object-safe trait over
//! `(namespace, key, bytes)`. It knows nothing of WIT versions, grants or limits:
//! those live in `wasmkv-engine`, so a new backend only has to store bytes
//! correctly and make its single-key operations atomic.
//!
//! Backends are enabled by cargo features (`memory`, `sqlite`, `redis`). Each
//! is one module that describes itself in a [`BackendKind`] (URL schemes,
//! `wasmkv.toml` types, parsing); adding one is that module and one line in
//! [`kinds`].

#![deny(missing_docs)]

mod backend;
pub mod counter;
mod error;
pub mod events;
pub mod expiry;
mod redact;
mod store_url;

#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use backend::{
    Backend, Entry, ImmediateNamespace, KeyPage, SetOptions, SharedBackend, Swap, SwapCondition,
};
pub use bytes::Bytes;
pub use counter::{CounterError, CounterRange};
pub use error::{BackendError, BackendResult};
pub use events::{SharedStoreEvents, StoreEvents};
pub use expiry::{Clock, Expiry, ManualClock, SharedClock, SystemClock};
pub use redact::redact_secrets;
#[cfg(feature = "redis")]
pub use redis::url::{RedisUrl, Topology};
pub use store_url::{
    BackendKind, ParseStoreUrl, StoreSpec, StoreUrl, StoreUrlError, TomlForm, UrlParameter, kinds,
    toml_type, toml_type_names,
};

/// [`BackendError::TooLarge`] when `lens` add up to more than `max_total`.
pub(crate) fn check_total(
    lens: impl IntoIterator<Item = usize>,
    max_total: usize,
) -> BackendResult<()> {
    let total = lens
        .into_iter()
        .fold(0u64, |sum, len| sum.saturating_add(len as u64));
    if total > max_total as u64 {
        return Err(BackendError::TooLarge {
            total,
            max: max_total,
        });
    }
    Ok(())
}
