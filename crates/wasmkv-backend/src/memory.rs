//! The in-process memory backend.
//!
//! One map per store, shared by every instance that opens a bucket in it, so
//! two components in one process see each other's writes. Every operation,
//! batches included, runs under one lock and is therefore atomic. Nothing
//! survives the process.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{Backend, KeyPage, SharedBackend};
use crate::counter::{self, CounterRange};
use crate::error::BackendResult;
use crate::store_url::{BackendKind, StoreSpec, TomlForm};

/// `memory:`, in `wasmkv.toml` `type = "memory"`.
pub(crate) static KIND: BackendKind = BackendKind {
    schemes: &["memory"],
    toml_types: &[("memory", TomlForm::Bare("memory:"))],
    parse: |_, rest| match rest {
        "" => Ok(std::sync::Arc::new(MemorySpec)),
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
        Ok(std::sync::Arc::new(MemoryBackend::new()))
    }
}

/// Namespaces are separate maps, so no key in one can ever name a key in
/// another; keys are ordered so a listing cursor is simply the last key seen.
type Namespaces = HashMap<String, BTreeMap<String, Bytes>>;

/// A store held in this process's memory.
#[derive(Default)]
pub struct MemoryBackend {
    data: Mutex<Namespaces>,
}

/// Stores `value` under `key`. Overwrites (the common case) allocate no new
/// key or namespace strings.
fn put(data: &mut Namespaces, namespace: &str, key: &str, value: Bytes) {
    match data.get_mut(namespace) {
        Some(ns) => match ns.get_mut(key) {
            Some(slot) => *slot = value,
            None => drop(ns.insert(key.to_string(), value)),
        },
        None => drop(data.insert(
            namespace.to_string(),
            BTreeMap::from([(key.to_string(), value)]),
        )),
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Namespaces> {
        // A panic while holding the lock cannot leave a half-applied write:
        // every mutation is a single map operation, so the data stays valid.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory:".to_string()
    }

    async fn get(&self, namespace: &str, key: &str) -> BackendResult<Option<Bytes>> {
        Ok(self
            .lock()
            .get(namespace)
            .and_then(|ns| ns.get(key))
            .cloned())
    }

    async fn set(&self, namespace: &str, key: &str, value: Bytes) -> BackendResult<()> {
        put(&mut self.lock(), namespace, key, value);
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> BackendResult<()> {
        if let Some(ns) = self.lock().get_mut(namespace) {
            ns.remove(key);
        }
        Ok(())
    }

    async fn exists(&self, namespace: &str, key: &str) -> BackendResult<bool> {
        Ok(self
            .lock()
            .get(namespace)
            .is_some_and(|ns| ns.contains_key(key)))
    }

    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128> {
        let mut data = self.lock();
        let current = data.get(namespace).and_then(|ns| ns.get(key));
        let next = counter::next_value(current.map(|v| &v[..]), delta, range)?;
        put(
            &mut data,
            namespace,
            key,
            Bytes::from(counter::encode(next)),
        );
        Ok(next)
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool> {
        let mut data = self.lock();
        let current = data.get(namespace).and_then(|ns| ns.get(key));
        if current.map(|v| &v[..]) != expected {
            return Ok(false);
        }
        put(&mut data, namespace, key, new);
        Ok(true)
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
        max_total: usize,
    ) -> BackendResult<Vec<Option<Bytes>>> {
        let data = self.lock();
        let ns = data.get(namespace);
        let values: Vec<Option<Bytes>> = keys
            .iter()
            .map(|k| ns.and_then(|ns| ns.get(k)).cloned())
            .collect();
        // Shared bytes, not copies: the sizes can be summed after the lookup.
        crate::check_total(values.iter().flatten().map(Bytes::len), max_total)?;
        Ok(values)
    }

    async fn set_many(&self, namespace: &str, items: Vec<(String, Bytes)>) -> BackendResult<()> {
        self.lock()
            .entry(namespace.to_string())
            .or_default()
            .extend(items);
        Ok(())
    }

    async fn delete_many(&self, namespace: &str, keys: &[String]) -> BackendResult<()> {
        if let Some(ns) = self.lock().get_mut(namespace) {
            for key in keys {
                ns.remove(key);
            }
        }
        Ok(())
    }

    async fn keys(&self, namespace: &str, limit: usize) -> BackendResult<Vec<String>> {
        Ok(self
            .lock()
            .get(namespace)
            .map(|ns| ns.keys().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn list_keys(
        &self,
        namespace: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> BackendResult<KeyPage> {
        let data = self.lock();
        let Some(ns) = data.get(namespace) else {
            return Ok(KeyPage::default());
        };
        let start = cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = ns
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(k, _)| k);
        let keys: Vec<String> = rest.by_ref().take(limit.max(1)).cloned().collect();
        let cursor = rest.next().and(keys.last().cloned());
        Ok(KeyPage { keys, cursor })
    }
}
