//! Real servers for wasmkv's tests, started on free loopback ports and
//! stopped by their own pid when dropped.
//!
//! A server that cannot be started fails the test loudly, naming what is
//! missing: a backend test must never pass because its server was absent.

#![deny(missing_docs)]

mod ports;
mod redis;

pub use redis::{RedisCluster, RedisServer, redis_cli};
