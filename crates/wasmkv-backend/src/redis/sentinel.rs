//! A primary found through Redis Sentinel, and found again after a failover.
//!
//! The sentinels are asked for the primary's address at startup, and again
//! whenever the connection to it fails or it answers as a replica
//! (`READONLY`): after a failover the old primary is gone or has become a
//! replica of the new one. Every address the sentinels give is checked with
//! `ROLE` before it is used, because sentinels may still name the old
//! primary for a moment.
//!
//! A command is sent again, to the primary found anew, only when the reply
//! says it did not run (a refused connection, `READONLY`, `MASTERDOWN`,
//! `LOADING`, `TRYAGAIN`) or when it is idempotent; an increment or
//! compare-and-swap whose reply was lost is reported, never repeated. The
//! pauses between attempts double (2 ms up to 200 ms) until the store's
//! timeout is nearly spent.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{AsyncConnectionConfig, IntoConnectionInfo, RedisError, RedisResult, TlsMode};

use super::backoff::Backoff;
use super::connection::Delivery;
use super::url::RedisUrl;

/// The longest pause between resends: a failover takes seconds.
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// The connection to the primary the sentinels name.
pub struct SentinelLink {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The primary's connection, and how many times it was found.
    primary: Mutex<(u64, MultiplexedConnection)>,
    config: AsyncConnectionConfig,
    timeout: Duration,
}

impl SentinelLink {
    /// Asks the sentinels for the primary and connects to it.
    pub async fn open(url: &RedisUrl) -> RedisResult<Self> {
        let service = url.sentinel.as_ref().expect("a sentinel URL");
        let mut sentinels = Vec::new();
        for node in url.nodes() {
            sentinels.push(node.as_str().into_connection_info()?.addr().clone());
        }
        let mut builder =
            SentinelClientBuilder::new(sentinels, &service.master, SentinelServerType::Master)?
                .set_client_to_redis_db(service.db);
        if let Some(user) = &service.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &service.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(tls) = &url.tls {
            let mode = if tls.insecure {
                TlsMode::Insecure
            } else {
                TlsMode::Secure
            };
            builder = builder
                .set_client_to_redis_tls_mode(mode)
                .set_client_to_sentinel_tls_mode(mode);
            if let Some(certificates) = tls.certificates() {
                builder = builder
                    .set_client_to_redis_certificates(certificates.clone())
                    .set_client_to_sentinel_certificates(certificates);
            }
        }
        let mut client = builder.build()?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(url.timeout))
            .set_response_timeout(Some(url.timeout));
        let primary = connect_primary(&mut client, &config).await?;
        Ok(SentinelLink {
            sentinels: tokio::sync::Mutex::new(client),
            primary: Mutex::new((0, primary)),
            config,
            timeout: url.timeout,
        })
    }

    /// Runs `send` on the primary's connection, finding the primary again
    /// and resending while the reply allows (see the module docs).
    pub async fn send<T, F, Fut>(&self, delivery: Delivery, mut send: F) -> RedisResult<T>
    where
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut backoff = Backoff::new(self.timeout, LONGEST_PAUSE);
        loop {
            let (generation, conn) = self.current();
            let error = match send(conn).await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let connection_lost = error.is_io_error() || error.is_connection_dropped();
            let again =
                did_not_run(&error) || (delivery == Delivery::Idempotent && connection_lost);
            if connection_lost || error.code() == Some("READONLY") {
                // Whatever happens to this call, the next one should find
                // the primary; an error here leaves the old connection.
                let _ = self.find_primary(generation).await;
            }
            if !again || !backoff.pause().await {
                return Err(error);
            }
        }
    }

    fn current(&self) -> (u64, MultiplexedConnection) {
        let guard = self.primary.lock().unwrap_or_else(|p| p.into_inner());
        (guard.0, guard.1.clone())
    }

    /// Asks the sentinels again, unless another call already did since
    /// `seen` was current.
    async fn find_primary(&self, seen: u64) -> RedisResult<()> {
        let mut sentinels = self.sentinels.lock().await;
        if self.current().0 != seen {
            return Ok(());
        }
        let conn = connect_primary(&mut sentinels, &self.config).await?;
        let mut guard = self.primary.lock().unwrap_or_else(|p| p.into_inner());
        *guard = (seen + 1, conn);
        Ok(())
    }
}

/// Connects to the address the sentinels give, if it answers `ROLE` as a
/// primary.
async fn connect_primary(
    sentinels: &mut SentinelClient,
    config: &AsyncConnectionConfig,
) -> RedisResult<MultiplexedConnection> {
    let client = sentinels.async_get_client().await?;
    let mut conn = client
        .get_multiplexed_async_connection_with_config(config)
        .await?;
    let role: Vec<::redis::Value> = ::redis::cmd("ROLE").query_async(&mut conn).await?;
    let is_primary = matches!(
        role.first(),
        Some(::redis::Value::BulkString(kind)) if kind == b"master"
    );
    if !is_primary {
        return Err(RedisError::from((
            ::redis::ErrorKind::Io,
            "the sentinels named a server that is not (or no longer) the primary",
        )));
    }
    Ok(conn)
}

/// Replies that say the command did not run, so it may be sent again.
fn did_not_run(e: &RedisError) -> bool {
    e.is_connection_refusal()
        || matches!(
            e.code(),
            Some("READONLY" | "MASTERDOWN" | "LOADING" | "TRYAGAIN")
        )
}
