use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::counter::CounterRange;
#[allow(unused_imports)] // doc links
use crate::error::BackendError;
use crate::error::BackendResult;

/// A backend shared by every bucket, instance and thread that uses the store.
pub type SharedBackend = Arc<dyn Backend>;

/// The operations every storage backend provides.
///
/// `namespace` is the bucket's identity inside the store; backends must keep
/// namespaces apart whatever characters they hold (no bare `ns:key` joins).
/// Keys and values arrive already validated by the engine.
///
/// Every single-key operation is atomic and linearizable. Batch operations
/// are atomic per call where the backend can do it; each backend documents it.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short description for traces and logs, e.g. `sqlite:/data/kv.db`.
    fn describe(&self) -> String;

    /// `namespace` as an [`ImmediateNamespace`], for stores that answer on
    /// the calling thread without ever waiting (memory). The engine binds a
    /// bucket to it once, when the bucket is opened, and then calls it
    /// directly: no boxed future and no namespace lookup per operation.
    /// Stores that do I/O keep the default, `None`.
    fn immediate(&self, _namespace: &str) -> Option<Arc<dyn ImmediateNamespace>> {
        None
    }

    /// Whether [`Backend::immediate`] offers every namespace and no other
    /// operation of this store ever waits either: a host can then serve
    /// the store from synchronous functions.
    fn never_waits(&self) -> bool {
        false
    }

    /// The value stored under `key`, or `None` when absent.
    async fn get(&self, namespace: &str, key: &str) -> BackendResult<Option<Bytes>>;

    /// Stores `value` under `key`, replacing any previous value.
    async fn set(&self, namespace: &str, key: &str, value: Bytes) -> BackendResult<()>;

    /// Removes `key`; removing an absent key succeeds.
    async fn delete(&self, namespace: &str, key: &str) -> BackendResult<()>;

    /// Whether `key` holds a value (an empty value counts as present).
    async fn exists(&self, namespace: &str, key: &str) -> BackendResult<bool>;

    /// Atomically adds `delta` to the canonical decimal counter under `key`
    /// (absent counts as 0) and returns the new value.
    ///
    /// Fails, leaving the value unchanged, when the stored value is not a
    /// canonical decimal inside `range` or the result would leave `range`.
    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128>;

    /// Atomically replaces the value with `new` iff the stored bytes equal
    /// `expected` (`None` expects the key to be absent). Returns whether it swapped.
    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool>;

    /// The values of `keys`, in order, `None` for absent keys; or
    /// [`BackendError::TooLarge`] when together they are over `max_total`
    /// bytes, found before the values are read into memory.
    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
        max_total: usize,
    ) -> BackendResult<Vec<Option<Bytes>>>;

    /// Stores every pair; a later pair for the same key wins.
    async fn set_many(&self, namespace: &str, items: Vec<(String, Bytes)>) -> BackendResult<()>;

    /// Removes every key; absent keys are skipped.
    async fn delete_many(&self, namespace: &str, keys: &[String]) -> BackendResult<()>;

    /// One page of about `limit` keys, starting where `cursor` (from the
    /// previous page) left off; `None` starts at the beginning. While the
    /// namespace does not change, following the cursors lists every key
    /// exactly once. The cursor is opaque and means something only to the
    /// backend that made it.
    async fn list_keys(
        &self,
        namespace: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> BackendResult<KeyPage>;
}

/// The single-key operations of one namespace of a store that never waits,
/// with the same contract as the [`Backend`] methods of the same names.
pub trait ImmediateNamespace: Send + Sync {
    /// As [`Backend::get`].
    fn get(&self, key: &str) -> BackendResult<Option<Bytes>>;

    /// As [`Backend::get`], as the caller's own bytes: a guest's list is
    /// one copy of the stored value, not a copy of a shared handle's.
    fn get_vec(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        Ok(self.get(key)?.map(Vec::from))
    }

    /// As [`Backend::set`].
    fn set(&self, key: &str, value: Bytes) -> BackendResult<()>;

    /// As [`Backend::delete`].
    fn delete(&self, key: &str) -> BackendResult<()>;

    /// As [`Backend::exists`].
    fn exists(&self, key: &str) -> BackendResult<bool>;

    /// As [`Backend::increment`].
    fn increment(&self, key: &str, delta: i128, range: CounterRange) -> BackendResult<i128>;

    /// As [`Backend::compare_and_swap`].
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool>;
}

/// A page of keys and where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page.
    pub keys: Vec<String>,
    /// Pass back for the next page; `None` when this was the last.
    pub cursor: Option<String>,
}
