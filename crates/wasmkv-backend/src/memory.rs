//! The in-process memory backend.
//!
//! One map per store, shared by every instance that opens a bucket in it, so
//! two components in one process see each other's writes. Every operation,
//! batches included, runs under its namespace's lock and is therefore
//! atomic. Nothing survives the process.
//!
//! Memory never waits, so it offers each namespace as an
//! [`ImmediateNamespace`]: a bucket's get, set and counters go straight to
//! the namespace's map, as cheap as a per-instance map would be.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use foldhash::quality::RandomState;

use crate::backend::{Backend, ImmediateNamespace, KeyPage, SharedBackend};
use crate::counter::{self, CounterRange};
use crate::error::BackendResult;
use crate::store_url::{BackendKind, StoreSpec, TomlForm};

/// `memory:`, in `wasmkv.toml` `type = "memory"`.
pub(crate) static KIND: BackendKind = BackendKind {
    schemes: &["memory"],
    toml_types: &[("memory", TomlForm::Bare("memory:"))],
    parse: |_, rest| match rest {
        "" => Ok(Arc::new(MemorySpec)),
        _ => Err("memory: takes nothing after the colon".into()),
    },
};

/// A `memory:` URL: each open is a new, empty map.
pub struct MemorySpec;

impl std::fmt::Display for MemorySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memory:")
    }
}

#[async_trait]
impl StoreSpec for MemorySpec {
    async fn open(&self) -> BackendResult<SharedBackend> {
        Ok(Arc::new(MemoryBackend::new()))
    }
}

/// Namespaces are separate maps, so no key in one can ever name a key in
/// another. A namespace, once made, lives as long as the store: buckets
/// bound to it (see [`Backend::immediate`]) keep using the same one.
type Namespaces = HashMap<String, Arc<MemoryNamespace>, RandomState>;

/// A store held in this process's memory.
#[derive(Default)]
pub struct MemoryBackend {
    namespaces: Mutex<Namespaces>,
}

/// One namespace: every operation, batches included, runs under its lock
/// and is therefore atomic.
#[derive(Default)]
struct MemoryNamespace {
    data: Mutex<Keys>,
}

/// One namespace's keys: hashed for the point operations every call makes,
/// and ordered (the same shared strings) so a listing cursor is simply the
/// last key seen. The hasher is seeded per process, so a guest cannot pick
/// keys that collide.
#[derive(Default)]
struct Keys {
    values: HashMap<Arc<str>, Bytes, RandomState>,
    order: BTreeSet<Arc<str>>,
}

impl Keys {
    fn get(&self, key: &str) -> Option<&Bytes> {
        self.values.get(key)
    }

    /// Overwrites (the common case) allocate nothing.
    fn put(&mut self, key: &str, value: Bytes) {
        match self.values.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                let key: Arc<str> = Arc::from(key);
                self.order.insert(key.clone());
                self.values.insert(key, value);
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if self.values.remove(key).is_some() {
            self.order.remove(key);
        }
    }

    /// Up to `limit` keys after `cursor`, and the cursor of the next page.
    fn page(&self, cursor: Option<&str>, limit: usize) -> KeyPage {
        let start = cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = self.order.range::<str, _>((start, Bound::Unbounded));
        let keys: Vec<String> = rest
            .by_ref()
            .take(limit.max(1))
            .map(|k| k.to_string())
            .collect();
        let cursor = rest.next().and(keys.last().cloned());
        KeyPage { keys, cursor }
    }
}

/// Values up to this size are copied out under the lock: a caller that wants
/// its own bytes (a guest's list) then takes them without a copy, and no
/// reference count is touched. Larger ones are shared, so the lock is never
/// held for a long copy.
const COPY_OUT_BYTES: usize = 4096;

fn handed_out(value: &Bytes) -> Bytes {
    if value.len() <= COPY_OUT_BYTES {
        Bytes::from(value.to_vec())
    } else {
        value.clone()
    }
}

impl MemoryNamespace {
    fn lock(&self) -> MutexGuard<'_, Keys> {
        // A panic while holding the lock cannot leave a half-applied write:
        // every mutation is a single map operation, so the data stays valid.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ImmediateNamespace for MemoryNamespace {
    fn get(&self, key: &str) -> BackendResult<Option<Bytes>> {
        Ok(self.lock().get(key).map(handed_out))
    }

    fn set(&self, key: &str, value: Bytes) -> BackendResult<()> {
        self.lock().put(key, value);
        Ok(())
    }

    fn delete(&self, key: &str) -> BackendResult<()> {
        self.lock().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> BackendResult<bool> {
        Ok(self.lock().get(key).is_some())
    }

    fn increment(&self, key: &str, delta: i128, range: CounterRange) -> BackendResult<i128> {
        let mut keys = self.lock();
        let next = counter::next_value(keys.get(key).map(|v| &v[..]), delta, range)?;
        keys.put(key, Bytes::from(counter::encode(next)));
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool> {
        let mut keys = self.lock();
        if keys.get(key).map(|v| &v[..]) != expected {
            return Ok(false);
        }
        keys.put(key, new);
        Ok(true)
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn namespaces(&self) -> MutexGuard<'_, Namespaces> {
        self.namespaces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The namespace, made on first use: for writes, and for buckets being
    /// bound to it.
    fn namespace(&self, name: &str) -> Arc<MemoryNamespace> {
        let mut namespaces = self.namespaces();
        match namespaces.get(name) {
            Some(ns) => ns.clone(),
            None => namespaces.entry(name.to_string()).or_default().clone(),
        }
    }

    /// The namespace if it exists: reads of names never written make nothing.
    fn existing(&self, name: &str) -> Option<Arc<MemoryNamespace>> {
        self.namespaces().get(name).cloned()
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory:".to_string()
    }

    fn immediate(&self, namespace: &str) -> Option<Arc<dyn ImmediateNamespace>> {
        Some(self.namespace(namespace))
    }

    fn never_waits(&self) -> bool {
        true
    }

    async fn get(&self, namespace: &str, key: &str) -> BackendResult<Option<Bytes>> {
        match self.existing(namespace) {
            Some(ns) => ns.get(key),
            None => Ok(None),
        }
    }

    async fn set(&self, namespace: &str, key: &str, value: Bytes) -> BackendResult<()> {
        self.namespace(namespace).set(key, value)
    }

    async fn delete(&self, namespace: &str, key: &str) -> BackendResult<()> {
        match self.existing(namespace) {
            Some(ns) => ns.delete(key),
            None => Ok(()),
        }
    }

    async fn exists(&self, namespace: &str, key: &str) -> BackendResult<bool> {
        match self.existing(namespace) {
            Some(ns) => ns.exists(key),
            None => Ok(false),
        }
    }

    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128> {
        self.namespace(namespace).increment(key, delta, range)
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool> {
        self.namespace(namespace)
            .compare_and_swap(key, expected, new)
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
        max_total: usize,
    ) -> BackendResult<Vec<Option<Bytes>>> {
        let Some(ns) = self.existing(namespace) else {
            return Ok(vec![None; keys.len()]);
        };
        let data = ns.lock();
        let values: Vec<Option<Bytes>> = keys.iter().map(|k| data.get(k).cloned()).collect();
        // Shared bytes, not copies: the sizes can be summed after the lookup.
        crate::check_total(values.iter().flatten().map(Bytes::len), max_total)?;
        Ok(values)
    }

    async fn set_many(&self, namespace: &str, items: Vec<(String, Bytes)>) -> BackendResult<()> {
        let ns = self.namespace(namespace);
        let mut data = ns.lock();
        for (key, value) in items {
            data.put(&key, value);
        }
        Ok(())
    }

    async fn delete_many(&self, namespace: &str, keys: &[String]) -> BackendResult<()> {
        if let Some(ns) = self.existing(namespace) {
            let mut data = ns.lock();
            for key in keys {
                data.remove(key);
            }
        }
        Ok(())
    }

    async fn keys(&self, namespace: &str, limit: usize) -> BackendResult<Vec<String>> {
        Ok(self
            .existing(namespace)
            .map(|ns| {
                let data = ns.lock();
                data.order
                    .iter()
                    .take(limit)
                    .map(|k| k.to_string())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn list_keys(
        &self,
        namespace: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> BackendResult<KeyPage> {
        Ok(self
            .existing(namespace)
            .map(|ns| ns.lock().page(cursor, limit))
            .unwrap_or_default())
    }
}
