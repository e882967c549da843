//! `wasmcloud:keyvalue@0.2.0` for WASI 0.3 components (feature `p3`):
//! every call async, so a handler can have several in flight at once;
//! expiry, create-if-absent and versioned compare-and-swap; errors as a
//! typed [`Error`].
//!
//! ```no_run
//! use std::time::Duration;
//! use wasmkv_guest::wasmcloud::{Bucket, Require, Swap};
//!
//! async fn visit() -> Result<(), wasmkv_guest::wasmcloud::Error> {
//!     let bucket = Bucket::open("default").await?;
//!     // A session that expires by itself, created only if absent.
//!     let created = bucket.create_with_ttl("session:42", b"alice", Duration::from_secs(1800)).await?;
//!     // Two reads in flight at once.
//!     let (a, b) = futures_join(bucket.get("a"), bucket.get("b")).await;
//!     // A read-modify-write that never loses an update.
//!     loop {
//!         let seen = bucket.current("profile").await?.unwrap();
//!         let next = [seen.value.as_slice(), b"!"].concat();
//!         match bucket.swap("profile", &next, Require::Version(&seen.version)).await? {
//!             Swap::Swapped => break,
//!             Swap::Stale(_) => continue,
//!         }
//!     }
//!     Ok(())
//! }
//! # async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) { (a.await, b.await) }
//! ```

use std::fmt;
use std::time::Duration;

/// The raw bindings generated from `wit/wasmcloud`, for anything this
/// module does not wrap.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/wasmcloud",
        world: "wasmcloud:keyvalue/imports@0.2.0",
        generate_all,
    });
}

use bindings::wasmcloud::keyvalue::{atomics, batch, cas, store, types};

/// What went wrong, as the interface names it. Only [`Error::Other`]
/// carries the host's message; `wasmkv serve` logs the full one-line trace
/// of every error at `WASMKV_LOG=debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No store answers to that name.
    NoSuchStore,
    /// The bucket is not granted.
    AccessDenied,
    /// A key, value, cursor or option the host refused.
    InvalidArgument,
    /// A create found the key already there.
    PreconditionFailed,
    /// The store did not answer in time.
    Timeout,
    /// The store could not be reached.
    StoreUnavailable,
    /// Over a size or count limit.
    QuotaExceeded,
    /// Anything else, with the host's message.
    Other(String),
}

impl From<types::Error> for Error {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::NoSuchStore => Error::NoSuchStore,
            types::Error::AccessDenied => Error::AccessDenied,
            types::Error::InvalidArgument => Error::InvalidArgument,
            types::Error::PreconditionFailed => Error::PreconditionFailed,
            types::Error::Timeout => Error::Timeout,
            types::Error::StoreUnavailable => Error::StoreUnavailable,
            types::Error::QuotaExceeded => Error::QuotaExceeded,
            types::Error::Other(message) => Error::Other(message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchStore => f.write_str("no such store"),
            Error::AccessDenied => f.write_str("access denied"),
            Error::InvalidArgument => f.write_str("invalid argument"),
            Error::PreconditionFailed => f.write_str("precondition failed"),
            Error::Timeout => f.write_str("timeout"),
            Error::StoreUnavailable => f.write_str("store unavailable"),
            Error::QuotaExceeded => f.write_str("quota exceeded"),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// An entry's bytes and version (opaque; it changes with every write of the
/// key, by any interface or process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// The version.
    pub version: String,
}

impl From<cas::Entry> for Entry {
    fn from(e: cas::Entry) -> Self {
        Entry {
            value: e.value,
            version: e.version,
        }
    }
}

/// What a [`Bucket::swap`] requires of the entry it replaces.
#[derive(Debug, Clone, Copy)]
pub enum Require<'a> {
    /// This version, from [`Bucket::current`].
    Version(&'a str),
    /// Exactly these bytes.
    Value(&'a [u8]),
    /// Both.
    Both(&'a str, &'a [u8]),
}

/// What a [`Bucket::swap`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The new value is stored.
    Swapped,
    /// Another write came first: the entry as it is now (`None`: absent).
    Stale(Option<Entry>),
}

/// How [`Bucket::set_with`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// The entry expires this long after the write (whole milliseconds);
    /// `None` never, clearing an earlier expiry.
    pub ttl: Option<Duration>,
    /// Write only when no entry holds the key.
    pub if_not_exists: bool,
}

/// One page of [`Bucket::list_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys.
    pub keys: Vec<String>,
    /// Pass back for the next page; `None` after the last.
    pub cursor: Option<String>,
}

/// An open bucket.
pub struct Bucket(types::Bucket);

impl Bucket {
    /// Opens bucket `name` (it must be granted).
    pub async fn open(name: &str) -> Result<Self, Error> {
        Ok(Bucket(store::open(name.to_string()).await?))
    }

    /// A bucket opened through another import of the store interface, a
    /// labelled one, say.
    pub fn from_raw(bucket: types::Bucket) -> Self {
        Bucket(bucket)
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.get(key.to_string()).await?)
    }

    /// Stores `value` under `key`, clearing any expiry.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.set_with(key, value, SetOptions::default()).await
    }

    /// Stores `value` under `key`, to expire `ttl` from now.
    pub async fn set_with_ttl(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        let options = SetOptions {
            ttl: Some(ttl),
            if_not_exists: false,
        };
        self.set_with(key, value, options).await
    }

    /// Stores `value` under `key` only if no entry holds it; whether it did.
    pub async fn create(&self, key: &str, value: &[u8]) -> Result<bool, Error> {
        Self::created(self.set_with(key, value, create(None)).await)
    }

    /// [`Bucket::create`], to expire `ttl` from now.
    pub async fn create_with_ttl(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, Error> {
        Self::created(self.set_with(key, value, create(Some(ttl))).await)
    }

    fn created(result: Result<(), Error>) -> Result<bool, Error> {
        match result {
            Ok(()) => Ok(true),
            Err(Error::PreconditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores `value` under `key` as `options` say; with `if_not_exists`, a
    /// key that holds a value is [`Error::PreconditionFailed`].
    pub async fn set_with(
        &self,
        key: &str,
        value: &[u8],
        options: SetOptions,
    ) -> Result<(), Error> {
        let options = types::SetOptions {
            ttl_ms: options
                .ttl
                .map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            if_not_exists: options.if_not_exists,
        };
        Ok(self
            .0
            .set(key.to_string(), value.to_vec(), Some(options))
            .await?)
    }

    /// Removes `key`; an absent key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        Ok(self.0.delete(key.to_string()).await?)
    }

    /// Whether `key` holds a value.
    pub async fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.0.exists(key.to_string()).await?)
    }

    /// One page of keys starting with `prefix`, after `cursor`.
    pub async fn list_keys(
        &self,
        prefix: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<KeyPage, Error> {
        let page = self
            .0
            .list_keys(prefix.map(str::to_string), cursor.map(str::to_string))
            .await?;
        Ok(KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    /// Every key starting with `prefix`, following the cursors to the end.
    pub async fn keys(&self, prefix: Option<&str>) -> Result<Vec<String>, Error> {
        let (mut keys, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let page = self.list_keys(prefix, cursor.as_deref()).await?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Adds `delta` to the counter under `key` (absent counts as 0).
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        Ok(atomics::increment(&self.0, key.to_string(), delta).await?)
    }

    /// The entry under `key` with its version.
    pub async fn current(&self, key: &str) -> Result<Option<Entry>, Error> {
        Ok(cas::current(&self.0, key.to_string())
            .await?
            .map(Entry::from))
    }

    /// Stores `value` under `key` iff the entry is still what `require`
    /// says.
    pub async fn swap(&self, key: &str, value: &[u8], require: Require<'_>) -> Result<Swap, Error> {
        let (version, bytes) = match require {
            Require::Version(v) => (Some(v), None),
            Require::Value(b) => (None, Some(b)),
            Require::Both(v, b) => (Some(v), Some(b)),
        };
        let options = cas::CasOptions {
            require_version: version.map(str::to_string),
            require_value: bytes.map(<[u8]>::to_vec),
        };
        let result = cas::swap(&self.0, key.to_string(), value.to_vec(), options).await?;
        Ok(match result {
            cas::CasResult::Swapped => Swap::Swapped,
            cas::CasResult::Stale(entry) => Swap::Stale(entry.map(Entry::from)),
        })
    }

    /// The values of `keys`, in order, `None` for absent ones.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let keys = keys.iter().map(|k| k.to_string()).collect();
        let found = batch::get_many(&self.0, keys).await?;
        Ok(found.into_iter().map(|pair| pair.map(|(_, v)| v)).collect())
    }

    /// Stores every pair.
    pub async fn set_many(&self, pairs: &[(&str, &[u8])]) -> Result<(), Error> {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        Ok(batch::set_many(&self.0, pairs).await?)
    }

    /// Removes every key.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<(), Error> {
        let keys = keys.iter().map(|k| k.to_string()).collect();
        Ok(batch::delete_many(&self.0, keys).await?)
    }

    /// The raw resource, for the generated bindings.
    pub fn raw(&self) -> &types::Bucket {
        &self.0
    }
}

fn create(ttl: Option<Duration>) -> SetOptions {
    SetOptions {
        ttl,
        if_not_exists: true,
    }
}
