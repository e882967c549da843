use std::cell::{OnceCell, RefCell};

use crate::bindings::wasi::keyvalue::{atomic, batch, readwrite, types};
use crate::error::Error;
use crate::stream::{ValueReader, ValueWriter};

/// A named collection of key-value pairs the host has granted this component.
///
/// Opening the same name again, from this or any other component sharing
/// the store, sees the same data.
pub struct Bucket {
    raw: types::Bucket,
    /// One value handle reused by every small [`Bucket::set`]: wasmkv's
    /// `outgoing-value-write-body-sync` replaces the body, so reuse saves
    /// two of a set's four host calls (creating and dropping the handle).
    scratch: OnceCell<types::OutgoingValue>,
    /// Value handles reused by [`Bucket::set_many`], for the same reason:
    /// a pooled value costs one host call (the write) instead of three.
    batch_pool: RefCell<Vec<types::OutgoingValue>>,
}

/// Values up to this size go through the reused handle; larger ones get a
/// handle of their own, dropped at once, so the host does not keep a big
/// body alive between sets.
const REUSE_MAX_BYTES: usize = 64 * 1024;

/// Most handles [`Bucket::set_many`] keeps for reuse; a larger batch gets
/// fresh handles for the rest.
const POOL_MAX_HANDLES: usize = 128;

/// Largest value [`Bucket::set_many`] writes through a pooled handle. The host
/// keeps each pooled handle's last body until it is rewritten, so a bucket
/// holds at most 128 × 8 KiB = 1 MiB there between batches.
const POOL_MAX_VALUE_BYTES: usize = 8 * 1024;

impl Bucket {
    /// Opens bucket `name`; fails when the host has not granted it.
    pub fn open(name: &str) -> Result<Bucket, Error> {
        Ok(Bucket {
            raw: types::Bucket::open_bucket(name)?,
            scratch: OnceCell::new(),
            batch_pool: RefCell::new(Vec::new()),
        })
    }

    /// The raw resource, for use with [`crate::bindings`].
    pub fn raw(&self) -> &types::Bucket {
        &self.raw
    }

    /// The whole value under `key`, or `None` when the key is absent.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.get_value(key)?.map(|v| v.bytes()).transpose()
    }

    /// The value under `key` as a handle, to learn its size or stream it.
    pub fn get_value(&self, key: &str) -> Result<Option<IncomingValue>, Error> {
        Ok(readwrite::get(&self.raw, key)?.map(|raw| IncomingValue { raw }))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        if value.len() > REUSE_MAX_BYTES {
            let outgoing = OutgoingValue::from_bytes(value)?;
            return self.set_value(key, &outgoing);
        }
        let scratch = self
            .scratch
            .get_or_init(types::OutgoingValue::new_outgoing_value);
        scratch.outgoing_value_write_body_sync(value)?;
        Ok(readwrite::set(&self.raw, key, scratch)?)
    }

    /// Stores a value built with [`OutgoingValue`] (e.g. streamed through
    /// [`OutgoingValue::writer`]).
    pub fn set_value(&self, key: &str, value: &OutgoingValue) -> Result<(), Error> {
        Ok(readwrite::set(&self.raw, key, &value.raw)?)
    }

    /// Removes `key`; removing an absent key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        Ok(readwrite::delete(&self.raw, key)?)
    }

    /// Whether `key` holds a value (an empty value counts).
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(readwrite::exists(&self.raw, key)?)
    }

    /// Atomically adds `delta` to the counter under `key` (absent counts as
    /// 0) and returns the new value. Counters are stored as decimal text.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
        Ok(atomic::increment(&self.raw, key, delta)?)
    }

    /// Atomically sets the counter under `key` to `new` if it is `old`;
    /// returns whether it did.
    pub fn compare_and_swap(&self, key: &str, old: u64, new: u64) -> Result<bool, Error> {
        Ok(atomic::compare_and_swap(&self.raw, key, old, new)?)
    }

    /// The values of `keys`, in order, `None` where a key is absent.
    pub fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        batch::get_many(&self.raw, &keys)?
            .into_iter()
            .map(|v| v.map(|raw| IncomingValue { raw }.bytes()).transpose())
            .collect()
    }

    /// Stores every `(key, value)` pair in one call.
    pub fn set_many<K: AsRef<str>, V: AsRef<[u8]>>(&self, items: &[(K, V)]) -> Result<(), Error> {
        /// Where one item's value was written.
        enum Slot {
            Pooled(usize),
            Own(OutgoingValue),
        }
        let mut pool = self.batch_pool.borrow_mut();
        // Small values go through pooled handles, in order, while the pool's
        // handles last; the rest get handles of their own.
        let mut slots = Vec::with_capacity(items.len());
        let mut used = 0;
        for (_, value) in items {
            let value = value.as_ref();
            if used < POOL_MAX_HANDLES && value.len() <= POOL_MAX_VALUE_BYTES {
                if used == pool.len() {
                    pool.push(types::OutgoingValue::new_outgoing_value());
                }
                pool[used].outgoing_value_write_body_sync(value)?;
                slots.push(Slot::Pooled(used));
                used += 1;
            } else {
                slots.push(Slot::Own(OutgoingValue::from_bytes(value)?));
            }
        }
        let pairs: Vec<(String, &types::OutgoingValue)> = items
            .iter()
            .zip(&slots)
            .map(|((key, _), slot)| {
                let handle = match slot {
                    Slot::Pooled(i) => &pool[*i],
                    Slot::Own(value) => &value.raw,
                };
                (key.as_ref().to_string(), handle)
            })
            .collect();
        Ok(batch::set_many(&self.raw, &pairs)?)
    }

    /// Removes every key in one call; absent keys are skipped.
    pub fn delete_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<(), Error> {
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        Ok(batch::delete_many(&self.raw, &keys)?)
    }

    /// Every key in the bucket, in no particular order.
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        Ok(batch::keys(&self.raw)?)
    }
}

/// A value being built for [`Bucket::set_value`].
pub struct OutgoingValue {
    raw: types::OutgoingValue,
}

impl OutgoingValue {
    /// An empty value.
    pub fn new() -> Self {
        Self {
            raw: types::OutgoingValue::new_outgoing_value(),
        }
    }

    /// A value holding `bytes`, passed to the host in one call.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let value = Self::new();
        value.raw.outgoing_value_write_body_sync(bytes)?;
        Ok(value)
    }

    /// A stream that appends to the value; the host counts the bytes
    /// against its value limit as they arrive.
    pub fn writer(&self) -> Result<ValueWriter, Error> {
        Ok(ValueWriter::new(
            self.raw.outgoing_value_write_body_async()?,
        ))
    }

    /// The raw resource, for use with [`crate::bindings`].
    pub fn raw(&self) -> &types::OutgoingValue {
        &self.raw
    }
}

impl Default for OutgoingValue {
    fn default() -> Self {
        Self::new()
    }
}

/// A stored value handed out by [`Bucket::get_value`].
pub struct IncomingValue {
    raw: types::IncomingValue,
}

impl IncomingValue {
    /// The value's exact length in bytes.
    pub fn size(&self) -> u64 {
        self.raw.size()
    }

    /// The whole value in one call.
    pub fn bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(self.raw.incoming_value_consume_sync()?)
    }

    /// A reader that streams the value from the host.
    pub fn reader(&self) -> Result<ValueReader, Error> {
        Ok(ValueReader::new(self.raw.incoming_value_consume_async()?))
    }

    /// The raw resource, for use with [`crate::bindings`].
    pub fn raw(&self) -> &types::IncomingValue {
        &self.raw
    }
}
