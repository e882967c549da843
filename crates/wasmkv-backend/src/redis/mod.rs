//! The Redis backend: one server (`redis://`, `rediss://`) or a Redis Cluster
//! (`redis-cluster://`).
//!
//! Every operation is one round trip, done atomically by Redis itself:
//! increment and compare-and-swap are Lua scripts, batches are single MGET /
//! MSET / DEL commands. Counters stay plain decimal strings (`redis-cli GET`
//! shows them). On a cluster the client splits MGET / MSET / DEL by hash slot
//! and sends the groups concurrently; each group is atomic on its own, the
//! batch as a whole is not.

pub mod url;

#[cfg(feature = "redis")]
mod backend;
#[cfg(feature = "redis")]
mod connection;
#[cfg(feature = "redis")]
mod keyspace;

#[cfg(feature = "redis")]
pub use backend::RedisBackend;
