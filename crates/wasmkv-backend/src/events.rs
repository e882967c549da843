//! What a store tells a host about its own work, for metrics: SQLite's
//! commits and where its reads ran, Redis's lost connections, redirects,
//! resends, failovers and `WAIT`s. The backends know nothing of any metrics
//! library; a host implements [`StoreEvents`] with its own.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Told of a store's events as they happen, on the thread that has them
/// (SQLite's writer thread, a tokio worker): keep each call cheap and never
/// block. Every method does nothing unless implemented.
pub trait StoreEvents: Send + Sync {
    /// SQLite committed a group of `writes` writes (one transaction, one
    /// fsync) in `elapsed`, from its `BEGIN` to its `COMMIT`'s return.
    fn committed(&self, writes: usize, elapsed: Duration) {
        let _ = (writes, elapsed);
    }

    /// SQLite answered a read on the calling thread (`inline`) or on the
    /// blocking pool.
    fn read(&self, inline: bool) {
        let _ = inline;
    }

    /// A Redis connection was lost (the client makes a new one) or, for a
    /// Sentinel or name-checked TLS link, made again.
    fn reconnected(&self) {}

    /// A Redis Cluster command was sent again to the node a `MOVED` or `ASK`
    /// reply named, by wasmkv itself (the client's own redirects of
    /// idempotent commands are not seen).
    fn redirected(&self) {}

    /// A Redis command was sent again after a reply that says it did not
    /// run (`TRYAGAIN`, `CLUSTERDOWN`, `READONLY`, a refused connection).
    fn resent(&self) {}

    /// Sentinel named a different primary than the one in use.
    fn failover(&self) {}

    /// A write under `wait_replicas` and its `WAIT` took `elapsed`.
    fn waited_for_replicas(&self, elapsed: Duration) {
        let _ = elapsed;
    }
}

/// A store's listener, shared by its threads.
pub type SharedStoreEvents = Arc<dyn StoreEvents>;

struct Unheard;

impl StoreEvents for Unheard {}

static UNHEARD: LazyLock<SharedStoreEvents> = LazyLock::new(|| Arc::new(Unheard));

/// A listener that does nothing: what a store has when nobody listens.
pub fn unheard() -> SharedStoreEvents {
    UNHEARD.clone()
}

impl std::fmt::Debug for dyn StoreEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreEvents")
    }
}
