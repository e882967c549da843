use std::sync::Arc;
use std::time::Instant;

use wasmkv_backend::{
    BackendError, BackendResult, Bytes, CounterRange, Entry, Expiry, ImmediateNamespace, KeyPage,
    SetOptions, SharedBackend, Swap, SwapCondition, counter,
};

use crate::budget::{Charge, HostBudget};

use crate::error::{Cause, KvError, Op};
use crate::limits::Limits;
use crate::observe::{Call, CallScope, Interface, SharedObserver};
use crate::validate;

/// An open, granted bucket: a namespace in one store, with the limits applied.
///
/// Every method validates its input before the backend sees it, and every
/// failure comes back as a [`KvError`] naming the operation, bucket and key.
#[derive(Clone)]
pub struct Bucket {
    name: Arc<str>,
    backend: SharedBackend,
    /// The namespace itself when the store offers it: single-key calls go
    /// straight to it, without a boxed future.
    immediate: Option<Arc<dyn ImmediateNamespace>>,
    limits: Limits,
    interface: Interface,
    /// Who is told of every call, when the engine has an observer.
    watch: Option<Arc<Watch>>,
    scope: Option<CallScope>,
}

/// An engine's observer, with the name of the store a bucket lives in.
struct Watch {
    store: Arc<str>,
    observer: SharedObserver,
}

impl Bucket {
    pub(crate) fn new(name: &str, backend: SharedBackend, limits: Limits) -> Self {
        Self {
            name: name.into(),
            immediate: backend.immediate(name),
            backend,
            limits,
            interface: Interface::Host,
            watch: None,
            scope: None,
        }
    }

    pub(crate) fn observed(mut self, store: Arc<str>, observer: SharedObserver) -> Self {
        self.watch = Some(Arc::new(Watch { store, observer }));
        self
    }

    /// This bucket as opened through `interface`: an observer sees its
    /// calls under that name. Bindings say which interface they are.
    pub fn via(mut self, interface: Interface) -> Self {
        self.interface = interface;
        self
    }

    /// This bucket's calls handed to the observer with `scope` (see
    /// [`CallScope`]).
    pub fn scoped(mut self, scope: Option<CallScope>) -> Self {
        self.scope = scope;
        self
    }

    /// Tells the observer, if any, how `op` ended.
    fn report<T>(&self, watch: &Watch, op: Op, started: Instant, result: &Result<T, KvError>) {
        watch.observer.call(&Call {
            store: &watch.store,
            interface: self.interface,
            op,
            outcome: result.as_ref().map(|_| ()).map_err(KvError::kind),
            elapsed: started.elapsed(),
            scope: self.scope.as_ref(),
        });
    }

    /// Runs `call`, timed and reported when the engine has an observer.
    async fn watched<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, KvError>>,
    ) -> Result<T, KvError> {
        let Some(watch) = &self.watch else {
            return call.await;
        };
        let started = Instant::now();
        let result = call.await;
        self.report(watch, op, started, &result);
        result
    }

    /// [`Bucket::watched`] for a call that answers at once.
    fn watched_now<T>(
        &self,
        op: Op,
        call: impl FnOnce() -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        let Some(watch) = &self.watch else {
            return call();
        };
        let started = Instant::now();
        let result = call();
        self.report(watch, op, started, &result);
        result
    }

    /// Whether this bucket's store never waits (memory): every future of
    /// this bucket is then ready the first time it is polled, so a host may
    /// call them from a synchronous function. The same test as
    /// [`Engine::never_waits`](crate::Engine::never_waits), for one store.
    pub fn never_waits(&self) -> bool {
        self.backend.never_waits()
    }

    /// The name of the store this bucket lives in, when the engine has an
    /// observer (only observers need it).
    pub fn store_name(&self) -> Option<&str> {
        self.watch.as_ref().map(|w| &*w.store)
    }

    /// The bucket's name, as the guest opened it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limits this bucket enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn err(&self, op: Op, key: Option<&str>, cause: impl Into<Cause>) -> KvError {
        KvError::new(op, &self.name, key, cause)
    }

    fn check_key(&self, op: Op, key: &str) -> Result<(), KvError> {
        validate::key(key, &self.limits).map_err(|c| self.err(op, Some(key), c))
    }

    fn check_keys(&self, op: Op, keys: &[String]) -> Result<(), KvError> {
        self.check_batch(op, keys.len())?;
        keys.iter().try_for_each(|k| self.check_key(op, k))
    }

    fn check_batch(&self, op: Op, len: usize) -> Result<(), KvError> {
        validate::batch_len(len, &self.limits).map_err(|c| self.err(op, None, c))
    }

    fn check_value(&self, op: Op, key: &str, value: &[u8]) -> Result<(), KvError> {
        validate::value_len(value.len(), &self.limits).map_err(|c| self.err(op, Some(key), c))
    }

    /// The single-key operations without a future, when this bucket's store
    /// answers at once (memory); `None` when it waits. Same checks, same
    /// errors as the async methods, which use it themselves.
    pub fn immediate(&self) -> Option<ImmediateBucket<'_>> {
        self.immediate
            .as_deref()
            .map(|ns| ImmediateBucket { bucket: self, ns })
    }

    /// Awaits the backend's `call`; a failure names `op`, bucket and key.
    async fn on_backend<T>(
        &self,
        op: Op,
        key: &str,
        call: impl Future<Output = BackendResult<T>>,
    ) -> Result<T, KvError> {
        call.await.map_err(|e| self.err(op, Some(key), e))
    }

    /// The checks of a single-key operation, before any store sees it.
    fn check_single(&self, op: Op, key: &str, value: Option<&[u8]>) -> Result<(), KvError> {
        self.check_key(op, key)?;
        value.map_or(Ok(()), |v| self.check_value(op, key, v))
    }

    /// The value under `key`, `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, KvError> {
        match self.immediate() {
            Some(now) => now.get(key),
            None => {
                self.watched(Op::Get, async {
                    self.check_single(Op::Get, key, None)?;
                    self.on_backend(Op::Get, key, self.backend.get(&self.name, key))
                        .await
                })
                .await
            }
        }
    }

    /// [`Bucket::get`] as the caller's own bytes, for a guest's `list<u8>`.
    pub async fn get_vec(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self.immediate() {
            Some(now) => now.get_vec(key),
            None => Ok(self.get(key).await?.map(Vec::from)),
        }
    }

    /// Stores `value` under `key`.
    pub async fn set(&self, key: &str, value: Bytes) -> Result<(), KvError> {
        match self.immediate() {
            Some(now) => now.set(key, value),
            None => {
                self.watched(Op::Set, async {
                    self.check_single(Op::Set, key, Some(&value))?;
                    let call = self.backend.set(&self.name, key, value);
                    self.on_backend(Op::Set, key, call).await
                })
                .await
            }
        }
    }

    /// Removes `key`; an absent key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        match self.immediate() {
            Some(now) => now.delete(key),
            None => {
                self.watched(Op::Delete, async {
                    self.check_single(Op::Delete, key, None)?;
                    self.on_backend(Op::Delete, key, self.backend.delete(&self.name, key))
                        .await
                })
                .await
            }
        }
    }

    /// Whether `key` holds a value.
    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        match self.immediate() {
            Some(now) => now.exists(key),
            None => {
                self.watched(Op::Exists, async {
                    self.check_single(Op::Exists, key, None)?;
                    self.on_backend(Op::Exists, key, self.backend.exists(&self.name, key))
                        .await
                })
                .await
            }
        }
    }

    /// Adds `delta` to the counter under `key` within `range`, returning the
    /// new value. The stored form is the canonical decimal integer.
    pub async fn increment(
        &self,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> Result<i128, KvError> {
        match self.immediate() {
            Some(now) => now.increment(key, delta, range),
            None => {
                self.watched(Op::Increment, async {
                    self.check_single(Op::Increment, key, None)?;
                    self.on_backend(
                        Op::Increment,
                        key,
                        self.backend.increment(&self.name, key, delta, range),
                    )
                    .await
                })
                .await
            }
        }
    }

    /// Stores `value` under `key` as `options` say, and whether it did: with
    /// `if_absent`, false when a live entry already holds the key. A TTL of
    /// zero is refused: an entry that is expired when written is a mistake.
    pub async fn set_with(
        &self,
        key: &str,
        value: Bytes,
        options: SetOptions,
    ) -> Result<bool, KvError> {
        self.watched(Op::Set, async {
            self.check_single(Op::Set, key, Some(&value))?;
            if options.ttl.is_some_and(|ttl| ttl.is_zero()) {
                return Err(self.err(
                    Op::Set,
                    Some(key),
                    Cause::InvalidValue(
                        "ttl-ms is 0; give at least 1, or none for no expiry".into(),
                    ),
                ));
            }
            let call = self.backend.set_with(&self.name, key, value, options);
            self.on_backend(Op::Set, key, call).await
        })
        .await
    }

    /// The live entry under `key` with its version, `None` when absent.
    pub async fn current(&self, key: &str) -> Result<Option<Entry>, KvError> {
        self.watched(Op::Current, async {
            self.check_single(Op::Current, key, None)?;
            self.on_backend(Op::Current, key, self.backend.get_entry(&self.name, key))
                .await
        })
        .await
    }

    /// Stores `value` under `key` iff the live entry meets `condition`,
    /// which must name a version, bytes, or both.
    pub async fn swap(
        &self,
        key: &str,
        value: Bytes,
        condition: &SwapCondition,
    ) -> Result<Swap, KvError> {
        self.watched(Op::Swap, async {
            self.check_single(Op::Swap, key, Some(&value))?;
            if condition.version.is_none() && condition.value.is_none() {
                return Err(self.err(
                    Op::Swap,
                    Some(key),
                    Cause::InvalidValue(
                        "cas-options names neither require-version nor require-value".into(),
                    ),
                ));
            }
            let call = self.backend.swap(&self.name, key, value, condition);
            self.on_backend(Op::Swap, key, call).await
        })
        .await
    }

    /// When the live entry under `key` expires, `None` when absent.
    pub async fn expiry(&self, key: &str) -> Result<Option<Expiry>, KvError> {
        self.watched(Op::Expiry, async {
            self.check_single(Op::Expiry, key, None)?;
            self.on_backend(Op::Expiry, key, self.backend.expiry(&self.name, key))
                .await
        })
        .await
    }

    /// [`Bucket::increment`] over `u64` counters (the seed world and
    /// `0.2.0-draft`), typed, so no binding narrows a counter by hand.
    pub async fn increment_u64(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        let range = CounterRange::U64;
        let next = self.increment(key, delta.into(), range).await?;
        self.narrow(key, next, range)
    }

    /// [`Bucket::increment`] over `i64` counters (`0.2.0-draft2`), typed.
    pub async fn increment_i64(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let range = CounterRange::I64;
        let next = self.increment(key, delta.into(), range).await?;
        self.narrow(key, next, range)
    }

    /// A counter in the API's type. Out of `range` only when a store broke
    /// the range contract: an error, never a clamped or zeroed counter.
    fn narrow<N: TryFrom<i128>>(
        &self,
        key: &str,
        value: i128,
        range: CounterRange,
    ) -> Result<N, KvError> {
        N::try_from(value).map_err(|_| {
            self.err(
                Op::Increment,
                Some(key),
                Cause::InvalidValue(format!(
                    "the store returned {value}, outside this API's counter range {range}"
                )),
            )
        })
    }

    /// The counter compare-and-swap of the seed world: swaps iff the stored
    /// bytes are exactly the canonical decimal of `old`, then stores `new`'s.
    pub async fn compare_and_swap_counter(
        &self,
        key: &str,
        old: i128,
        new: i128,
    ) -> Result<bool, KvError> {
        let expected = counter::encode(old);
        self.compare_and_swap(key, Some(expected.as_bytes()), counter::encode(new).into())
            .await
    }

    /// Replaces the value with `new` iff the stored bytes equal `expected`
    /// (`None`: iff the key is absent).
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> Result<bool, KvError> {
        match self.immediate() {
            Some(now) => now.compare_and_swap(key, expected, new),
            None => {
                self.watched(Op::CompareAndSwap, async {
                    let op = Op::CompareAndSwap;
                    self.check_single(op, key, Some(&new))?;
                    let call = self
                        .backend
                        .compare_and_swap(&self.name, key, expected, new);
                    self.on_backend(op, key, call).await
                })
                .await
            }
        }
    }

    /// The values of `keys`, in order, and their charge to `budget`.
    ///
    /// Refused before the values are read when together they are over
    /// `max_result_bytes` or what is left of `budget`.
    pub async fn get_many(
        &self,
        keys: &[String],
        budget: &HostBudget,
    ) -> Result<(Vec<Option<Bytes>>, Charge), KvError> {
        self.watched(Op::GetMany, async {
            let op = Op::GetMany;
            self.check_keys(op, keys)?;
            let (max_total, limit) = if budget.remaining() < self.limits.max_result_bytes {
                (budget.remaining(), "max_instance_bytes")
            } else {
                (self.limits.max_result_bytes, "max_result_bytes")
            };
            // When no stored value can be over max_value_bytes the bound may
            // hold by count alone, and the store need not measure first.
            let bounded = keys.len().saturating_mul(self.limits.max_value_bytes) <= max_total;
            let values = self
                .backend
                .get_many(
                    &self.name,
                    keys,
                    if bounded { usize::MAX } else { max_total },
                )
                .await
                .map_err(|e| match e {
                    BackendError::TooLarge { total, max } => self.err(
                        op,
                        None,
                        Cause::TooMany {
                            what: format!("the values' total ({total} bytes)"),
                            limit,
                            max,
                        },
                    ),
                    e => self.err(op, None, e),
                })?;
            let total = values.iter().flatten().map(Bytes::len).sum();
            let charge = budget.charge(total).map_err(|c| self.err(op, None, c))?;
            Ok((values, charge))
        })
        .await
    }

    /// Stores every pair. Nothing is written when any pair is invalid.
    pub async fn set_many(&self, items: Vec<(String, Bytes)>) -> Result<(), KvError> {
        self.watched(Op::SetMany, async {
            self.check_batch(Op::SetMany, items.len())?;
            for (key, value) in &items {
                self.check_key(Op::SetMany, key)?;
                self.check_value(Op::SetMany, key, value)?;
            }
            self.backend
                .set_many(&self.name, items)
                .await
                .map_err(|e| self.err(Op::SetMany, None, e))
        })
        .await
    }

    /// Removes every key. Nothing is removed when any key is invalid.
    pub async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.watched(Op::DeleteMany, async {
            self.check_keys(Op::DeleteMany, keys)?;
            self.backend
                .delete_many(&self.name, keys)
                .await
                .map_err(|e| self.err(Op::DeleteMany, None, e))
        })
        .await
    }

    /// One page of at most [`Bucket::KEYS_PER_PAGE`] keys, from `cursor` (a
    /// previous page's) or from the start. Following the cursors lists every
    /// key exactly once while the bucket does not change.
    pub async fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage, KvError> {
        self.watched(Op::ListKeys, async {
            let page = self.limits.max_listed_keys.clamp(1, Self::KEYS_PER_PAGE);
            self.backend
                .list_keys(&self.name, cursor, page)
                .await
                .map_err(|e| self.err(Op::ListKeys, None, e))
        })
        .await
    }

    /// The most keys one `list_keys` page holds.
    pub const KEYS_PER_PAGE: usize = 1000;

    /// Every key in the bucket; refused when there are more than
    /// `max_listed_keys` or they hold more than `max_result_bytes`. Read page
    /// by page, so a refused listing never held more than one page over the
    /// limit.
    pub async fn keys(&self) -> Result<Vec<String>, KvError> {
        self.watched(Op::Keys, async {
            let (max, max_bytes) = (self.limits.max_listed_keys, self.limits.max_result_bytes);
            let too_many = |what: String, limit, max| {
                self.err(Op::Keys, None, Cause::TooMany { what, limit, max })
            };
            // A Redis SCAN may repeat a key across pages; each is listed once.
            let mut seen = std::collections::HashSet::new();
            let (mut keys, mut bytes, mut cursor) = (Vec::new(), 0usize, None::<String>);
            loop {
                let page = self
                    .backend
                    .list_keys(&self.name, cursor.as_deref(), Self::KEYS_PER_PAGE)
                    .await
                    .map_err(|e| self.err(Op::Keys, None, e))?;
                for key in page.keys {
                    if seen.insert(key.clone()) {
                        bytes = bytes.saturating_add(key.len());
                        keys.push(key);
                    }
                }
                if keys.len() > max {
                    let what = format!("the bucket's key count (more than {max})");
                    return Err(too_many(what, "max_listed_keys", max));
                }
                if bytes > max_bytes {
                    let what = format!("the keys' total (more than {bytes} bytes)");
                    return Err(too_many(what, "max_result_bytes", max_bytes));
                }
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(keys),
                }
            }
        })
        .await
    }
}

/// A [`Bucket`] whose store answers at once: its single-key operations as
/// plain calls, for host functions that are not `async`.
pub struct ImmediateBucket<'a> {
    bucket: &'a Bucket,
    ns: &'a dyn ImmediateNamespace,
}

impl ImmediateBucket<'_> {
    /// Runs `call` on the namespace; a failure names `op`, bucket and key.
    fn run<T>(
        &self,
        op: Op,
        key: &str,
        call: impl FnOnce(&dyn ImmediateNamespace) -> BackendResult<T>,
    ) -> Result<T, KvError> {
        call(self.ns).map_err(|e| self.bucket.err(op, Some(key), e))
    }

    /// As [`Bucket::get`].
    pub fn get(&self, key: &str) -> Result<Option<Bytes>, KvError> {
        self.bucket.watched_now(Op::Get, || {
            self.bucket.check_single(Op::Get, key, None)?;
            self.run(Op::Get, key, |ns| ns.get(key))
        })
    }

    /// As [`Bucket::get_vec`].
    pub fn get_vec(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket.watched_now(Op::Get, || {
            self.bucket.check_single(Op::Get, key, None)?;
            self.run(Op::Get, key, |ns| ns.get_vec(key))
        })
    }

    /// As [`Bucket::set`].
    pub fn set(&self, key: &str, value: Bytes) -> Result<(), KvError> {
        self.bucket.watched_now(Op::Set, || {
            self.bucket.check_single(Op::Set, key, Some(&value))?;
            self.run(Op::Set, key, |ns| ns.set(key, value))
        })
    }

    /// As [`Bucket::delete`].
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket.watched_now(Op::Delete, || {
            self.bucket.check_single(Op::Delete, key, None)?;
            self.run(Op::Delete, key, |ns| ns.delete(key))
        })
    }

    /// As [`Bucket::exists`].
    pub fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.bucket.watched_now(Op::Exists, || {
            self.bucket.check_single(Op::Exists, key, None)?;
            self.run(Op::Exists, key, |ns| ns.exists(key))
        })
    }

    /// As [`Bucket::increment`].
    pub fn increment(&self, key: &str, delta: i128, range: CounterRange) -> Result<i128, KvError> {
        self.bucket.watched_now(Op::Increment, || {
            self.bucket.check_single(Op::Increment, key, None)?;
            self.run(Op::Increment, key, |ns| ns.increment(key, delta, range))
        })
    }

    /// As [`Bucket::increment_u64`].
    pub fn increment_u64(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        let range = CounterRange::U64;
        let next = self.increment(key, delta.into(), range)?;
        self.bucket.narrow(key, next, range)
    }

    /// As [`Bucket::increment_i64`].
    pub fn increment_i64(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let range = CounterRange::I64;
        let next = self.increment(key, delta.into(), range)?;
        self.bucket.narrow(key, next, range)
    }

    /// As [`Bucket::compare_and_swap`].
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> Result<bool, KvError> {
        self.bucket.watched_now(Op::CompareAndSwap, || {
            let op = Op::CompareAndSwap;
            self.bucket.check_single(op, key, Some(&new))?;
            self.run(op, key, |ns| ns.compare_and_swap(key, expected, new))
        })
    }
}
