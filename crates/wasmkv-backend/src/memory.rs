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
use foldhash::fast::RandomState;

use crate::backend::{
    Backend, Entry, ImmediateNamespace, KeyPage, SetOptions, SharedBackend, Swap, SwapCondition,
};
use crate::counter::{self, CounterRange};
use crate::error::BackendResult;
use crate::events::SharedStoreEvents;
use crate::expiry::{Expiry, SharedClock};
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
    async fn open(&self, _events: SharedStoreEvents) -> BackendResult<SharedBackend> {
        Ok(Arc::new(MemoryBackend::new()))
    }
}

/// Namespaces are separate maps, so no key in one can ever name a key in
/// another. A namespace, once made, lives as long as the store: buckets
/// bound to it (see [`Backend::immediate`]) keep using the same one.
type Namespaces = HashMap<String, Arc<MemoryNamespace>, RandomState>;

/// A store held in this process's memory.
pub struct MemoryBackend {
    namespaces: Mutex<Namespaces>,
    clock: SharedClock,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::with_clock(crate::expiry::system_clock())
    }
}

/// One namespace: every operation, batches included, runs under its lock
/// and is therefore atomic.
struct MemoryNamespace {
    data: Mutex<Keys>,
}

/// Expired entries removed per write at most, beside the write itself: a
/// store full of expired keys shrinks as it is written to, and no write
/// pays for more than this many.
const SWEEP_PER_WRITE: usize = 4;

/// One namespace's keys: hashed for the point operations every call makes,
/// and ordered (the same shared strings) so a listing cursor is simply the
/// last key seen. The hasher is seeded per process, so a guest cannot pick
/// keys that collide.
struct Keys {
    values: HashMap<Arc<str>, Slot, RandomState>,
    order: BTreeSet<Arc<str>>,
    /// Every entry with a deadline, soonest first: exactly those slots'
    /// `expires`, so the expired ones are found without a scan.
    deadlines: BTreeSet<(u64, Arc<str>)>,
    /// The version the next write gives its entry.
    next_version: u64,
    clock: SharedClock,
}

/// One entry: its value, its version, and when it expires.
struct Slot {
    value: Stored,
    version: u64,
    expires: Option<u64>,
}

/// A stored value. A counter stays a number between increments, so an
/// increment parses, formats and allocates nothing; read, it is its
/// canonical decimal, the same bytes every other store holds.
enum Stored {
    Bytes(Bytes),
    Counter(i64),
}

impl Stored {
    fn counter(value: i128) -> Self {
        match i64::try_from(value) {
            Ok(small) => Stored::Counter(small),
            Err(_) => Stored::Bytes(Bytes::from(counter::encode(value))),
        }
    }

    /// The value as shared bytes: no copy of stored bytes.
    fn to_bytes(&self) -> Bytes {
        match self {
            Stored::Bytes(bytes) => bytes.clone(),
            Stored::Counter(n) => Bytes::from(counter::encode(i128::from(*n))),
        }
    }

    /// The counter this value holds, for an increment.
    fn as_counter(&self) -> Result<i128, counter::CounterError> {
        match self {
            Stored::Bytes(bytes) => counter::stored_counter(bytes),
            Stored::Counter(n) => Ok(i128::from(*n)),
        }
    }

    /// Whether the value reads as exactly `expected`.
    fn reads_as(&self, expected: &[u8]) -> bool {
        match self {
            Stored::Bytes(bytes) => bytes[..] == *expected,
            Stored::Counter(n) => counter::parse_canonical(expected) == Some(i128::from(*n)),
        }
    }
}

impl Keys {
    fn new(clock: SharedClock) -> Self {
        Keys {
            values: HashMap::default(),
            order: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            next_version: 1,
            clock,
        }
    }

    /// Whether a slot with deadline `expires` is still live. The clock is
    /// read only for entries that have a deadline.
    #[inline]
    fn live(&self, expires: Option<u64>) -> bool {
        expires.is_none_or(|at| at > self.clock.now_ms())
    }

    /// The live entry under `key`.
    #[inline]
    fn get(&self, key: &str) -> Option<&Slot> {
        self.values.get(key).filter(|slot| self.live(slot.expires))
    }

    fn version(&mut self) -> u64 {
        let version = self.next_version;
        self.next_version += 1;
        version
    }

    /// Stores `value` with a new version and deadline `expires`.
    /// Overwrites (the common case) of entries without a deadline allocate
    /// nothing.
    fn put(&mut self, key: &str, value: Stored, expires: Option<u64>) {
        let version = self.version();
        match self.values.get_mut(key) {
            Some(slot) => {
                let was = slot.expires;
                *slot = Slot {
                    value,
                    version,
                    expires,
                };
                if was != expires {
                    let shared = self.order.get(key).expect("ordered with its slot").clone();
                    if let Some(at) = was {
                        self.deadlines.remove(&(at, shared.clone()));
                    }
                    if let Some(at) = expires {
                        self.deadlines.insert((at, shared));
                    }
                }
            }
            None => {
                let key: Arc<str> = Arc::from(key);
                self.order.insert(key.clone());
                if let Some(at) = expires {
                    self.deadlines.insert((at, key.clone()));
                }
                self.values.insert(
                    key,
                    Slot {
                        value,
                        version,
                        expires,
                    },
                );
            }
        }
        self.sweep();
    }

    /// A write that keeps the entry's deadline if it is live (an
    /// increment, as Redis `INCR` keeps a TTL).
    fn put_keeping_expiry(&mut self, key: &str, value: Stored) {
        let expires = self.get(key).and_then(|slot| slot.expires);
        self.put(key, value, expires);
    }

    fn remove(&mut self, key: &str) {
        if let Some((key, slot)) = self.values.remove_entry(key) {
            self.order.remove(&key);
            if let Some(at) = slot.expires {
                self.deadlines.remove(&(at, key));
            }
        }
    }

    /// Removes up to [`SWEEP_PER_WRITE`] expired entries.
    fn sweep(&mut self) {
        let Some((first, _)) = self.deadlines.first() else {
            return;
        };
        let now = self.clock.now_ms();
        if *first > now {
            return;
        }
        for _ in 0..SWEEP_PER_WRITE {
            match self.deadlines.first() {
                Some((at, key)) if *at <= now => {
                    let key = key.clone();
                    self.remove(&key);
                }
                _ => break,
            }
        }
    }

    /// Up to `limit` live keys after `cursor`, and the cursor of the next
    /// page.
    fn page(&self, cursor: Option<&str>, limit: usize) -> KeyPage {
        let start = cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = self
            .order
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|k| self.get(k).is_some());
        let keys: Vec<String> = rest
            .by_ref()
            .take(limit.max(1))
            .map(|k| k.to_string())
            .collect();
        let cursor = rest.next().and(keys.last().cloned());
        KeyPage { keys, cursor }
    }

    fn entry(slot: &Slot) -> Entry {
        Entry {
            value: slot.value.to_bytes(),
            version: slot.version.to_string(),
        }
    }
}

/// Values up to this size are copied out under the lock; larger ones are
/// shared, and copied (if at all) after it, so the lock is never held for a
/// long copy.
const COPY_UNDER_LOCK_BYTES: usize = 4096;

impl MemoryNamespace {
    fn new(clock: SharedClock) -> Self {
        MemoryNamespace {
            data: Mutex::new(Keys::new(clock)),
        }
    }

    /// The value under `key`: `small` copies stored bytes up to
    /// [`COPY_UNDER_LOCK_BYTES`] under the lock; anything else is taken
    /// shared, and `shared` runs after the lock is released.
    fn read<R>(
        &self,
        key: &str,
        small: impl FnOnce(&[u8]) -> R,
        shared: impl FnOnce(Bytes) -> R,
    ) -> Option<R> {
        let taken = match &self.lock().get(key)?.value {
            Stored::Bytes(bytes) if bytes.len() <= COPY_UNDER_LOCK_BYTES => {
                return Some(small(bytes));
            }
            stored => stored.to_bytes(),
        };
        Some(shared(taken))
    }

    fn lock(&self) -> MutexGuard<'_, Keys> {
        // A panic while holding the lock cannot leave a half-applied write:
        // every mutation is a single map operation, so the data stays valid.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_with(&self, key: &str, value: Bytes, options: SetOptions) -> bool {
        let mut keys = self.lock();
        if options.if_absent && keys.get(key).is_some() {
            return false;
        }
        let expires = options
            .ttl
            .map(|ttl| crate::expiry::deadline(keys.clock.now_ms(), ttl));
        keys.put(key, Stored::Bytes(value), expires);
        true
    }

    fn swap(&self, key: &str, value: Bytes, condition: &SwapCondition) -> Swap {
        let mut keys = self.lock();
        let Some(slot) = keys.get(key) else {
            return Swap::Stale(None);
        };
        let current = slot.value.to_bytes();
        if !condition.met_by(&current, &slot.version.to_string()) {
            return Swap::Stale(Some(Keys::entry(slot)));
        }
        keys.put(key, Stored::Bytes(value), None);
        Swap::Swapped
    }
}

impl ImmediateNamespace for MemoryNamespace {
    /// Values up to [`COPY_UNDER_LOCK_BYTES`] are copied, so the stored
    /// value's handle is never shared and no reference count is touched.
    fn get(&self, key: &str) -> BackendResult<Option<Bytes>> {
        Ok(self.read(key, Bytes::copy_from_slice, |shared| shared))
    }

    fn get_vec(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        Ok(self.read(key, <[u8]>::to_vec, |shared| shared.to_vec()))
    }

    fn set(&self, key: &str, value: Bytes) -> BackendResult<()> {
        self.lock().put(key, Stored::Bytes(value), None);
        Ok(())
    }

    fn delete(&self, key: &str) -> BackendResult<()> {
        self.lock().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> BackendResult<bool> {
        Ok(self.lock().get(key).is_some())
    }

    /// One lookup for a counter without a deadline: updated in its slot.
    fn increment(&self, key: &str, delta: i128, range: CounterRange) -> BackendResult<i128> {
        let mut keys = self.lock();
        let version = keys.version();
        let now = keys.clock.clone();
        match keys.values.get_mut(key) {
            Some(slot) if slot.expires.is_none() => {
                let next = counter::next_after(Some(slot.value.as_counter()?), delta, range)?;
                slot.value = Stored::counter(next);
                slot.version = version;
                Ok(next)
            }
            Some(slot) if slot.expires.is_some_and(|at| at > now.now_ms()) => {
                let next = counter::next_after(Some(slot.value.as_counter()?), delta, range)?;
                keys.put_keeping_expiry(key, Stored::counter(next));
                Ok(next)
            }
            _ => {
                let next = counter::next_after(None, delta, range)?;
                keys.put(key, Stored::counter(next), None);
                Ok(next)
            }
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool> {
        let mut keys = self.lock();
        let matches = match (keys.get(key), expected) {
            (None, None) => true,
            (Some(slot), Some(expected)) => slot.value.reads_as(expected),
            _ => false,
        };
        if matches {
            keys.put(key, Stored::Bytes(new), None);
        }
        Ok(matches)
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose expiry reads `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        MemoryBackend {
            namespaces: Mutex::default(),
            clock,
        }
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
            None => namespaces
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(MemoryNamespace::new(self.clock.clone())))
                .clone(),
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

    async fn set_with(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        options: SetOptions,
    ) -> BackendResult<bool> {
        Ok(self.namespace(namespace).set_with(key, value, options))
    }

    async fn get_entry(&self, namespace: &str, key: &str) -> BackendResult<Option<Entry>> {
        Ok(self
            .existing(namespace)
            .and_then(|ns| ns.lock().get(key).map(Keys::entry)))
    }

    async fn swap(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        condition: &SwapCondition,
    ) -> BackendResult<Swap> {
        Ok(self.namespace(namespace).swap(key, value, condition))
    }

    async fn expiry(&self, namespace: &str, key: &str) -> BackendResult<Option<Expiry>> {
        Ok(self.existing(namespace).and_then(|ns| {
            ns.lock()
                .get(key)
                .map(|slot| slot.expires.map_or(Expiry::Never, Expiry::At))
        }))
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
        let values: Vec<Option<Bytes>> = keys
            .iter()
            .map(|k| data.get(k).map(|slot| slot.value.to_bytes()))
            .collect();
        // Shared bytes, not copies: the sizes can be summed after the lookup.
        crate::check_total(values.iter().flatten().map(Bytes::len), max_total)?;
        Ok(values)
    }

    async fn set_many(&self, namespace: &str, items: Vec<(String, Bytes)>) -> BackendResult<()> {
        let ns = self.namespace(namespace);
        let mut data = ns.lock();
        for (key, value) in items {
            data.put(&key, Stored::Bytes(value), None);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ns: &MemoryNamespace, key: &str) -> Option<Vec<u8>> {
        let shared = ns.get(key).unwrap().map(|v| v.to_vec());
        assert_eq!(ns.get_vec(key).unwrap(), shared, "get and get_vec agree");
        shared
    }

    #[test]
    fn a_counter_kept_as_a_number_reads_and_compares_as_its_decimal() {
        let ns = MemoryNamespace::new(crate::expiry::system_clock());
        assert_eq!(ns.increment("c", -5, CounterRange::I64).unwrap(), -5);
        assert_eq!(read(&ns, "c"), Some(b"-5".to_vec()));
        let swap = |expected: &[u8], new: &'static [u8]| {
            ns.compare_and_swap("c", Some(expected), Bytes::from_static(new))
                .unwrap()
        };
        assert!(!swap(b"-05", b"x"), "only the canonical bytes match");
        assert!(swap(b"-5", b"7"));
        assert_eq!(ns.increment("c", 1, CounterRange::U64).unwrap(), 8);
        assert_eq!(read(&ns, "c"), Some(b"8".to_vec()));
    }

    #[test]
    fn counters_beyond_i64_stay_exact() {
        let ns = MemoryNamespace::new(crate::expiry::system_clock());
        ns.set("big", Bytes::from_static(b"18446744073709551614"))
            .unwrap();
        let max = i128::from(u64::MAX);
        assert_eq!(ns.increment("big", 1, CounterRange::U64).unwrap(), max);
        assert_eq!(read(&ns, "big"), Some(max.to_string().into_bytes()));
        let refused = ns.increment("big", 0, CounterRange::I64).unwrap_err();
        assert!(refused.to_string().contains("outside"), "{refused}");
    }

    #[test]
    fn values_past_the_copy_threshold_come_back_whole() {
        let ns = MemoryNamespace::new(crate::expiry::system_clock());
        let big: Vec<u8> = (0..COPY_UNDER_LOCK_BYTES * 3).map(|i| i as u8).collect();
        ns.set("big", Bytes::from(big.clone())).unwrap();
        assert_eq!(read(&ns, "big"), Some(big));
    }
}
