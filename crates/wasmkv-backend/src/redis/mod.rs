//! The Redis backend: one server (`redis://`, `rediss://`), a primary found
//! through Redis Sentinel (`redis-sentinel://`, `rediss-sentinel://`) or a
//! Redis Cluster (`redis-cluster://`, `rediss-cluster://`).
//!
//! Every operation is one round trip, done atomically by Redis itself:
//! increment and compare-and-swap are Lua scripts, batches are single MGET /
//! MSET / DEL commands. Counters stay plain decimal strings (`redis-cli GET`
//! shows them). On a cluster the client splits MGET / MSET / DEL by hash slot
//! and sends the groups concurrently; each group is atomic on its own, the
//! batch as a whole is not. With `wait_replicas` every write is instead a
//! recorded script followed by `WAIT` ([`replicated`]).

pub mod url;

mod backend;
mod backoff;
mod connection;
mod keyspace;
mod link;
mod lua;
mod replicated;
mod sentinel;
mod tls;

pub use backend::RedisBackend;

use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::SharedBackend;
use crate::error::BackendResult;
use crate::store_url::{BackendKind, StoreSpec, TomlForm};
use url::RedisUrl;

/// `redis://`, `rediss://`, `redis-cluster://`, `rediss-cluster://`,
/// `redis-sentinel://` and `rediss-sentinel://`; in `wasmkv.toml`
/// `type = "redis"` (one server or Sentinel) or `"redis-cluster"` with `url`.
pub(crate) static KIND: BackendKind = BackendKind {
    schemes: &[
        "redis",
        "rediss",
        "redis-cluster",
        "rediss-cluster",
        "redis-sentinel",
        "rediss-sentinel",
    ],
    toml_types: &[
        (
            "redis",
            TomlForm::Url {
                schemes: &["redis", "rediss", "redis-sentinel", "rediss-sentinel"],
                example: "redis://HOST:PORT, rediss://HOST:PORT or redis-sentinel://HOST:PORT/MASTER",
            },
        ),
        (
            "redis-cluster",
            TomlForm::Url {
                schemes: &["redis-cluster", "rediss-cluster"],
                example: "redis-cluster://HOST:PORT[,HOST:PORT...] or rediss-cluster://…",
            },
        ),
    ],
    parse: |scheme, rest| {
        RedisUrl::parse(scheme, rest)
            .map(|url| Arc::new(url) as Arc<dyn StoreSpec>)
            .map_err(|e| e.0)
    },
};

#[async_trait]
impl StoreSpec for RedisUrl {
    async fn open(&self) -> BackendResult<SharedBackend> {
        Ok(Arc::new(RedisBackend::open(self.clone()).await?))
    }
}
