//! Real servers for wasmkv's tests, started on free loopback ports and
//! stopped by their own pid when dropped, and the certificates their TLS
//! needs, generated per test.
//!
//! A server that cannot be started fails the test loudly, naming what is
//! missing: a backend test must never pass because its server was absent.

#![deny(missing_docs)]

mod certs;
mod deadlines;
mod ports;
mod prometheus;
mod redis;
mod sentinel;
mod wait;

pub use certs::{CertFiles, NAMED_SERVER, TestPki};
pub use deadlines::shift_deadlines;
pub use ports::free_port;
pub use prometheus::PrometheusServer;
pub use redis::{RedisCluster, RedisServer, ServerTls, redis_cli};
pub use sentinel::{MASTER_NAME, RedisSentinels};
