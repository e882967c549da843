//! The Redis backend: one server (`redis://`, `rediss://`), a primary found
//! through Redis Sentinel (`redis-sentinel://`, `rediss-sentinel://`) or a
//! Redis Cluster (`redis-cluster://`, `rediss-cluster://`).
//!
//! Every operation is one round trip, done atomically by Redis itself. Reads
//! are plain commands (GET, EXISTS, MGET, SCAN). Every write is a Lua script
//! that writes the value's key and deletes its version key beside it (in
//! the same cluster slot): a version is kept only for entries read through
//! the versioned compare-and-swap, and every write by wasmkv, through any
//! interface, drops it (`current.lua`). Values stay plain strings, counters
//! plain decimals (`redis-cli GET` shows them), expiry is Redis's own
//! (`SET … PX`; increments keep it with `KEEPTTL`). On a cluster batches
//! are split by hash slot and the groups sent concurrently; each group is
//! atomic on its own, the batch as a whole is not. With `wait_replicas`
//! every write is a recorded script followed by `WAIT` ([`replicated`]).

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
use crate::events::SharedStoreEvents;
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
                parameters: url::PARAMETERS,
            },
        ),
        (
            "redis-cluster",
            TomlForm::Url {
                schemes: &["redis-cluster", "rediss-cluster"],
                example: "redis-cluster://HOST:PORT[,HOST:PORT...] or rediss-cluster://…",
                parameters: url::PARAMETERS,
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
    async fn open(&self, events: SharedStoreEvents) -> BackendResult<SharedBackend> {
        Ok(Arc::new(
            RedisBackend::open_with_events(self.clone(), events).await?,
        ))
    }
}
