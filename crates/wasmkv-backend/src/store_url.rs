//! Store URLs as users write them (`memory:`, `sqlite:PATH`,
//! `redis://HOST:PORT`, `redis-cluster://HOST:PORT,...`), parsed once and
//! opened into a [`SharedBackend`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::backend::SharedBackend;
use crate::error::BackendResult;
use crate::redis::url::RedisUrl;

/// Where a store lives, as parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory:`: this process's memory, shared by its instances.
    Memory,
    /// `sqlite:PATH`: a SQLite file, created on first use.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// `redis://`, `rediss://` or `redis-cluster://`: a Redis server or cluster.
    Redis(RedisUrl),
}

/// A store URL that names no known backend or is missing its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store URL {url:?}: {reason}")]
pub struct StoreUrlError {
    url: String,
    reason: String,
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| StoreUrlError {
            url: crate::redact_secrets(url),
            reason: crate::redact_secrets(reason),
        };
        let (scheme, rest) = url.split_once(':').ok_or_else(|| {
            fail("expected memory:, sqlite:PATH, redis://HOST:PORT or redis-cluster://HOST:PORT")
        })?;
        match scheme {
            "memory" if rest.is_empty() => Ok(StoreUrl::Memory),
            "memory" => Err(fail("memory: takes nothing after the colon")),
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(fail(
                        "sqlite: needs a file path, e.g. sqlite:.wasmkv/default.db",
                    ));
                }
                Ok(StoreUrl::Sqlite { path: path.into() })
            }
            "redis" | "rediss" | "redis-cluster" => RedisUrl::parse(scheme, rest)
                .map(StoreUrl::Redis)
                .map_err(|e| fail(&e.0)),
            _ => Err(fail(
                "unknown scheme; expected memory:, sqlite:PATH, redis://HOST:PORT or redis-cluster://HOST:PORT",
            )),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Memory => write!(f, "memory:"),
            StoreUrl::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Redis(url) => url.fmt(f),
        }
    }
}

impl StoreUrl {
    /// Opens the store, failing now if it cannot be reached or created.
    pub async fn open(&self) -> BackendResult<SharedBackend> {
        match self {
            #[cfg(feature = "memory")]
            StoreUrl::Memory => Ok(Arc::new(crate::memory::MemoryBackend::new())),
            #[cfg(feature = "sqlite")]
            StoreUrl::Sqlite { path } => Ok(Arc::new(crate::sqlite::SqliteBackend::open(
                path,
                Default::default(),
            )?)),
            #[cfg(feature = "redis")]
            StoreUrl::Redis(url) => Ok(Arc::new(
                crate::redis::RedisBackend::open(url.clone()).await?,
            )),
            #[allow(unreachable_patterns)]
            other => Err(crate::BackendError::unavailable(
                other.to_string(),
                "this backend was not compiled in (enable its cargo feature)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_schemes() {
        assert_eq!("memory:".parse(), Ok(StoreUrl::Memory));
        assert_eq!(
            "sqlite:.wasmkv/default.db".parse(),
            Ok(StoreUrl::Sqlite {
                path: ".wasmkv/default.db".into()
            })
        );
        assert_eq!(
            "sqlite:///tmp/x.db".parse(),
            Ok(StoreUrl::Sqlite {
                path: "/tmp/x.db".into()
            })
        );
    }

    #[test]
    fn parses_redis_urls() {
        let single: StoreUrl = "redis://127.0.0.1:6379/1?prefix=app:".parse().unwrap();
        assert!(matches!(&single, StoreUrl::Redis(url) if url.prefix == "app:"));
        assert_eq!(single.to_string(), "redis://127.0.0.1:6379/1?prefix=app:");
        let cluster: StoreUrl = "redis-cluster://a:7000,b:7001".parse().unwrap();
        assert!(matches!(&cluster, StoreUrl::Redis(url) if url.nodes().len() == 2));
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
