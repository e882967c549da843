use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::counter::CounterRange;
use crate::error::{BackendError, BackendResult};
use crate::expiry::Expiry;

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

    /// Stores `value` under `key` as `options` say, and whether it did:
    /// with [`SetOptions::if_absent`] it writes only when no live entry
    /// holds the key (atomically: of two racing creators exactly one
    /// writes). With [`SetOptions::ttl`] the entry expires that long after
    /// the write; without it an earlier expiry is cleared. Every write gives
    /// the entry a new [`Entry::version`].
    ///
    /// The default serves stores that know neither expiry nor versions: it
    /// refuses any option rather than ignore it.
    async fn set_with(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        options: SetOptions,
    ) -> BackendResult<bool> {
        if options != SetOptions::default() {
            return Err(BackendError::unsupported(
                self.describe(),
                "expiry and create-if-absent",
            ));
        }
        self.set(namespace, key, value).await.map(|()| true)
    }

    /// The live entry under `key` with its version, `None` when absent.
    async fn get_entry(&self, _namespace: &str, _key: &str) -> BackendResult<Option<Entry>> {
        Err(BackendError::unsupported(self.describe(), "versions"))
    }

    /// Stores `value` under `key` iff the live entry there meets
    /// `condition` (every part given), atomically; otherwise changes
    /// nothing and returns the entry as it is (`None`: absent). An absent
    /// key meets no condition. The new value has no expiry.
    async fn swap(
        &self,
        _namespace: &str,
        _key: &str,
        _value: Bytes,
        _condition: &SwapCondition,
    ) -> BackendResult<Swap> {
        Err(BackendError::unsupported(self.describe(), "versions"))
    }

    /// When the live entry under `key` expires; `None` when absent.
    async fn expiry(&self, _namespace: &str, _key: &str) -> BackendResult<Option<Expiry>> {
        Err(BackendError::unsupported(self.describe(), "expiry"))
    }

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

/// How [`Backend::set_with`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// The entry expires this long after the write; `None`: never, and an
    /// earlier expiry is cleared.
    pub ttl: Option<Duration>,
    /// Write only when no live entry holds the key.
    pub if_absent: bool,
}

/// A live entry and its version: opaque text that changes with every write
/// of the key, by any interface and any process, so two reads with equal
/// versions saw no write in between (A → B → A included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes.
    pub value: Bytes,
    /// The version, compared for equality only.
    pub version: String,
}

/// What a [`Backend::swap`] requires of the entry it replaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapCondition {
    /// The entry's version must be exactly this.
    pub version: Option<String>,
    /// The entry's bytes must be exactly these.
    pub value: Option<Bytes>,
}

impl SwapCondition {
    /// Whether `entry` meets every part of the condition.
    pub fn met_by(&self, value: &[u8], version: &str) -> bool {
        self.version.as_deref().is_none_or(|v| v == version)
            && self.value.as_deref().is_none_or(|v| v == value)
    }
}

/// What a [`Backend::swap`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The new value is stored.
    Swapped,
    /// The entry did not meet the condition; nothing changed. The entry as
    /// it is, `None` when absent.
    Stale(Option<Entry>),
}
