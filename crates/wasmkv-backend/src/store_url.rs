//! Store URLs and the registry of backend kinds behind them.
//!
//! Each backend module describes itself in one [`BackendKind`]: its URL
//! schemes, its `wasmkv.toml` `type`s, and how a URL of it is parsed into a
//! [`StoreSpec`] that knows how to open the store. [`kinds`] lists the kinds
//! compiled in; adding a backend is its module and one line there.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::SharedBackend;
use crate::error::BackendResult;
use crate::events::SharedStoreEvents;

/// A parsed store URL's meaning: shown (passwords redacted) and opened by
/// the backend that parsed it.
#[async_trait]
pub trait StoreSpec: fmt::Display + Send + Sync + 'static {
    /// Opens the store, failing now if it cannot be reached or created;
    /// `events` hears of its work (see [`crate::events`]).
    async fn open(&self, events: SharedStoreEvents) -> BackendResult<SharedBackend>;

    /// The file the store lives in, when it is one (SQLite), for tools
    /// that watch it from outside (the WAL size in metrics).
    fn file(&self) -> Option<&std::path::Path> {
        None
    }
}

/// How a `wasmkv.toml` `[stores.NAME]` table of some `type` names its store.
#[derive(Debug, Clone, Copy)]
pub enum TomlForm {
    /// No `path` or `url`: the store is this URL (e.g. `memory:`).
    Bare(&'static str),
    /// `path = "FILE"`, relative to the file: the URL is `SCHEME:PATH`.
    Path(&'static str),
    /// `url = "..."` with one of these schemes, e.g. shown as `example`.
    Url {
        /// The schemes this type accepts.
        schemes: &'static [&'static str],
        /// A URL to show when the one given does not fit.
        example: &'static str,
        /// The URL's query parameters, which the table takes as keys too.
        parameters: &'static [UrlParameter],
    },
}

/// A query parameter of a store URL, also a key of the store's
/// `wasmkv.toml` table: one list, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParameter {
    /// Its name, e.g. `timeout_ms`.
    pub name: &'static str,
    /// Whether it names a file, which `wasmkv.toml` reads relative to its
    /// own folder.
    pub file: bool,
}

/// Parses the text after `SCHEME:` into a store; the error is a reason
/// without the URL (which may hold a password).
pub type ParseStoreUrl = fn(scheme: &str, rest: &str) -> Result<Arc<dyn StoreSpec>, String>;

/// One backend kind, as its module describes it.
pub struct BackendKind {
    /// The URL schemes it serves, without the colon.
    pub schemes: &'static [&'static str],
    /// Its `wasmkv.toml` `type` values, each with how the table names a store.
    pub toml_types: &'static [(&'static str, TomlForm)],
    /// How a URL of this kind is parsed.
    pub parse: ParseStoreUrl,
}

/// The backend kinds compiled in (by cargo feature).
pub fn kinds() -> Vec<&'static BackendKind> {
    [
        #[cfg(feature = "memory")]
        &crate::memory::KIND,
        #[cfg(feature = "sqlite")]
        &crate::sqlite::KIND,
        #[cfg(feature = "redis")]
        &crate::redis::KIND,
    ]
    .to_vec()
}

/// The `wasmkv.toml` form of `type = NAME`, if a backend compiled in has it.
pub fn toml_type(name: &str) -> Option<TomlForm> {
    kinds()
        .into_iter()
        .flat_map(|kind| kind.toml_types)
        .find(|(t, _)| *t == name)
        .map(|(_, form)| *form)
}

/// Every `wasmkv.toml` `type` the compiled-in backends accept.
pub fn toml_type_names() -> Vec<&'static str> {
    kinds()
        .into_iter()
        .flat_map(|kind| kind.toml_types.iter().map(|(t, _)| *t))
        .collect()
}

/// Where a store lives, e.g. `memory:`, `sqlite:.wasmkv/default.db`,
/// `redis://127.0.0.1:6379/0`, `redis-cluster://h1:7000,h2:7001`.
///
/// `Display` and `Debug` never show a password.
#[derive(Clone)]
pub struct StoreUrl {
    scheme: &'static str,
    spec: Arc<dyn StoreSpec>,
}

/// A store URL that names no known backend or is missing its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store URL {url:?}: {reason}")]
pub struct StoreUrlError {
    url: String,
    reason: String,
}

impl StoreUrl {
    /// The process-wide in-memory store.
    #[cfg(feature = "memory")]
    pub fn memory() -> Self {
        Self::from_spec("memory", crate::memory::MemorySpec)
    }

    /// A SQLite file (created on first open).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(path: impl Into<std::path::PathBuf>) -> Self {
        Self::from_spec("sqlite", crate::sqlite::SqliteSpec { path: path.into() })
    }

    /// The file the store lives in, when it is one (SQLite).
    pub fn file(&self) -> Option<&std::path::Path> {
        self.spec.file()
    }

    /// A store of a backend kind of the caller's own.
    pub fn from_spec(scheme: &'static str, spec: impl StoreSpec) -> Self {
        Self {
            scheme,
            spec: Arc::new(spec),
        }
    }

    /// The scheme it was written with, e.g. `redis-cluster`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Opens the store, failing now if it cannot be reached or created.
    pub async fn open(&self) -> BackendResult<SharedBackend> {
        self.spec.open(crate::events::unheard()).await
    }

    /// As [`StoreUrl::open`], telling `events` of the store's own work
    /// (commits, reads, reconnects, redirects), for metrics.
    pub async fn open_with_events(
        &self,
        events: SharedStoreEvents,
    ) -> BackendResult<SharedBackend> {
        self.spec.open(events).await
    }
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let kinds = kinds();
        let known = || {
            let schemes: Vec<String> = kinds
                .iter()
                .flat_map(|kind| kind.schemes.iter().map(|s| format!("{s}:")))
                .collect();
            format!("expected one of {}", schemes.join(", "))
        };
        let fail = |reason: &str| StoreUrlError {
            url: crate::redact_secrets(url),
            reason: crate::redact_secrets(reason),
        };
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(fail(&known()));
        };
        let Some((kind, scheme)) = kinds.iter().find_map(|kind| {
            kind.schemes
                .iter()
                .find(|s| **s == scheme)
                .map(|s| (kind, *s))
        }) else {
            return Err(fail(&format!("unknown scheme; {}", known())));
        };
        let spec = (kind.parse)(scheme, rest).map_err(|reason| fail(&reason))?;
        Ok(StoreUrl { scheme, spec })
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spec.fmt(f)
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// Two URLs are equal when they show the same: same backend, same place.
impl PartialEq for StoreUrl {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_schemes() {
        assert_eq!("memory:".parse(), Ok(StoreUrl::memory()));
        assert_eq!(
            "sqlite:.wasmkv/default.db".parse(),
            Ok(StoreUrl::sqlite(".wasmkv/default.db"))
        );
        assert_eq!(
            "sqlite:///tmp/x.db".parse(),
            Ok(StoreUrl::sqlite("/tmp/x.db"))
        );
    }

    #[test]
    fn parses_redis_urls() {
        let single: StoreUrl = "redis://127.0.0.1:6379/1?prefix=app:".parse().unwrap();
        assert_eq!(single.scheme(), "redis");
        assert_eq!(single.to_string(), "redis://127.0.0.1:6379/1?prefix=app:");
        let cluster: StoreUrl = "redis-cluster://a:7000,b:7001".parse().unwrap();
        assert_eq!(cluster.scheme(), "redis-cluster");
    }

    #[test]
    fn every_kind_is_reachable_by_scheme_and_toml_type() {
        for kind in kinds() {
            assert!(!kind.schemes.is_empty() && !kind.toml_types.is_empty());
            for (name, _) in kind.toml_types {
                assert!(toml_type(name).is_some());
            }
        }
        assert_eq!(
            toml_type_names(),
            ["memory", "sqlite", "redis", "redis-cluster"]
        );
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        for bad in [
            "",
            "memory:x",
            "sqlite:",
            "ftp://x",
            "nocolon",
            "redis:",
            "redis://h:1/x",
            "redis-cluster://a:1,",
        ] {
            let err = bad.parse::<StoreUrl>().unwrap_err().to_string();
            assert!(err.contains("invalid store URL"), "{err}");
        }
    }
}
