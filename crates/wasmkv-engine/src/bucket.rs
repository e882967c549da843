use std::sync::Arc;

use wasmkv_backend::{
    BackendError, Bytes, CounterRange, ImmediateNamespace, KeyPage, SharedBackend, counter,
};

use crate::budget::{Charge, HostBudget};

use crate::error::{Cause, KvError, Op};
use crate::limits::Limits;
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
}

impl Bucket {
    pub(crate) fn new(name: &str, backend: SharedBackend, limits: Limits) -> Self {
        Self {
            name: name.into(),
            immediate: backend.immediate(name),
            backend,
            limits,
        }
    }

    /// Whether this bucket's store never waits (memory): every future of
    /// this bucket is then ready the first time it is polled, so a host may
    /// call them from a synchronous function. The same test as
    /// [`Engine::never_waits`](crate::Engine::never_waits), for one store.
    pub fn never_waits(&self) -> bool {
        self.backend.never_waits()
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

    /// The value under `key`, `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, KvError> {
        self.check_key(Op::Get, key)?;
        match &self.immediate {
            Some(ns) => ns.get(key),
            None => self.backend.get(&self.name, key).await,
        }
        .map_err(|e| self.err(Op::Get, Some(key), e))
    }

    /// Stores `value` under `key`.
    pub async fn set(&self, key: &str, value: Bytes) -> Result<(), KvError> {
        self.check_key(Op::Set, key)?;
        self.check_value(Op::Set, key, &value)?;
        match &self.immediate {
            Some(ns) => ns.set(key, value),
            None => self.backend.set(&self.name, key, value).await,
        }
        .map_err(|e| self.err(Op::Set, Some(key), e))
    }

    /// Removes `key`; an absent key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.check_key(Op::Delete, key)?;
        match &self.immediate {
            Some(ns) => ns.delete(key),
            None => self.backend.delete(&self.name, key).await,
        }
        .map_err(|e| self.err(Op::Delete, Some(key), e))
    }

    /// Whether `key` holds a value.
    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.check_key(Op::Exists, key)?;
        match &self.immediate {
            Some(ns) => ns.exists(key),
            None => self.backend.exists(&self.name, key).await,
        }
        .map_err(|e| self.err(Op::Exists, Some(key), e))
    }

    /// Adds `delta` to the counter under `key` within `range`, returning the
    /// new value. The stored form is the canonical decimal integer.
    pub async fn increment(
        &self,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> Result<i128, KvError> {
        self.check_key(Op::Increment, key)?;
        match &self.immediate {
            Some(ns) => ns.increment(key, delta, range),
            None => self.backend.increment(&self.name, key, delta, range).await,
        }
        .map_err(|e| self.err(Op::Increment, Some(key), e))
    }

    /// [`Bucket::increment`] over `u64` counters (the seed world and
    /// `0.2.0-draft`), typed, so no binding narrows a counter by hand.
    pub async fn increment_u64(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        let range = CounterRange::U64;
        let next = self.increment(key, delta.into(), range).await?;
        u64::try_from(next).map_err(|_| self.outside(key, next, range))
    }

    /// [`Bucket::increment`] over `i64` counters (`0.2.0-draft2`), typed.
    pub async fn increment_i64(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let range = CounterRange::I64;
        let next = self.increment(key, delta.into(), range).await?;
        i64::try_from(next).map_err(|_| self.outside(key, next, range))
    }

    /// A store that broke the range contract: an error, never a clamped or
    /// zeroed counter.
    fn outside(&self, key: &str, value: i128, range: CounterRange) -> KvError {
        self.err(
            Op::Increment,
            Some(key),
            Cause::InvalidValue(format!(
                "the store returned {value}, outside this API's counter range {range}"
            )),
        )
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
        let op = Op::CompareAndSwap;
        self.check_key(op, key)?;
        self.check_value(op, key, &new)?;
        match &self.immediate {
            Some(ns) => ns.compare_and_swap(key, expected, new),
            None => {
                self.backend
                    .compare_and_swap(&self.name, key, expected, new)
                    .await
            }
        }
        .map_err(|e| self.err(op, Some(key), e))
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
    }

    /// Stores every pair. Nothing is written when any pair is invalid.
    pub async fn set_many(&self, items: Vec<(String, Bytes)>) -> Result<(), KvError> {
        self.check_batch(Op::SetMany, items.len())?;
        for (key, value) in &items {
            self.check_key(Op::SetMany, key)?;
            self.check_value(Op::SetMany, key, value)?;
        }
        self.backend
            .set_many(&self.name, items)
            .await
            .map_err(|e| self.err(Op::SetMany, None, e))
    }

    /// Removes every key. Nothing is removed when any key is invalid.
    pub async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.check_keys(Op::DeleteMany, keys)?;
        self.backend
            .delete_many(&self.name, keys)
            .await
            .map_err(|e| self.err(Op::DeleteMany, None, e))
    }

    /// One page of at most [`Bucket::KEYS_PER_PAGE`] keys, from `cursor` (a
    /// previous page's) or from the start. Following the cursors lists every
    /// key exactly once while the bucket does not change.
    pub async fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage, KvError> {
        let page = self.limits.max_listed_keys.clamp(1, Self::KEYS_PER_PAGE);
        self.backend
            .list_keys(&self.name, cursor, page)
            .await
            .map_err(|e| self.err(Op::ListKeys, None, e))
    }

    /// The most keys one `list_keys` page holds.
    pub const KEYS_PER_PAGE: usize = 1000;

    /// Every key in the bucket; refused when there are more than
    /// `max_listed_keys` or they hold more than `max_result_bytes`. Read page
    /// by page, so a refused listing never held more than one page over the
    /// limit.
    pub async fn keys(&self) -> Result<Vec<String>, KvError> {
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
    }
}
