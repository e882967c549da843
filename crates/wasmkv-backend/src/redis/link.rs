//! A connection to one server that is found and connected again when it
//! fails: the primary that Redis Sentinel names (asked again after a
//! failover), or a `rediss://` server whose certificate is checked against
//! `tls_server_name` rather than the address (the Redis client's
//! self-reconnecting connection cannot be given another name to check).
//!
//! The server is found again whenever the connection to it fails or it
//! answers as a replica (`READONLY`): after a failover the old primary is
//! gone or has become a replica of the new one.
//!
//! A command is sent again, to the server found anew, only when the reply
//! says it did not run (a refused connection, `READONLY`, `MASTERDOWN`,
//! `LOADING`, `TRYAGAIN`) or when it is idempotent; an increment or
//! compare-and-swap whose reply was lost is reported, never repeated. The
//! pauses between attempts double (2 ms up to 200 ms) until the store's
//! timeout is nearly spent.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, RedisError, RedisResult};

use super::backoff::Backoff;
use super::connection::Delivery;
use super::sentinel;
use super::tls;
use super::url::RedisUrl;
use crate::events::SharedStoreEvents;

/// The longest pause between resends: a failover takes seconds.
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// The connection to the server, found again when it fails.
pub struct Link {
    locator: tokio::sync::Mutex<Locator>,
    /// The server's connection, and how many times it was found.
    current: Mutex<(u64, MultiplexedConnection)>,
    config: AsyncConnectionConfig,
    events: SharedStoreEvents,
    /// The address of the server in use, to tell a failover from a
    /// reconnection to the same primary.
    at: Mutex<String>,
    /// `tls_server_name`: the name the server's certificate must carry.
    server_name: Option<String>,
    timeout: Duration,
}

/// Where the server is.
enum Locator {
    /// Wherever the sentinels say the primary is now.
    Sentinels(sentinel::Sentinels),
    /// Always the URL's server.
    Fixed(Client),
}

impl Link {
    /// Finds the server and connects to it.
    pub async fn open(url: &RedisUrl, events: SharedStoreEvents) -> RedisResult<Self> {
        let locator = match url.sentinel {
            Some(_) => Locator::Sentinels(sentinel::Sentinels::new(url)?),
            None => {
                let certificates = url.tls.as_ref().and_then(|t| t.certificates());
                Locator::Fixed(tls::client(url.nodes()[0].as_str(), certificates)?)
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(url.timeout))
            .set_response_timeout(Some(url.timeout));
        let server_name = url.tls.as_ref().and_then(|t| t.server_name.clone());
        let (conn, at) = connect(&locator, &config, server_name.as_deref()).await?;
        Ok(Link {
            locator: tokio::sync::Mutex::new(locator),
            current: Mutex::new((0, conn)),
            config,
            events,
            at: Mutex::new(at),
            server_name,
            timeout: url.timeout,
        })
    }

    /// Runs `send` on the server's connection, finding the server again
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
                // the server; an error here leaves the old connection.
                let _ = self.find_again(generation).await;
            }
            if !again || !backoff.pause().await {
                return Err(error);
            }
            self.events.resent();
        }
    }

    fn current(&self) -> (u64, MultiplexedConnection) {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (guard.0, guard.1.clone())
    }

    /// Finds and connects to the server again, unless another call already
    /// did since `seen` was current.
    async fn find_again(&self, seen: u64) -> RedisResult<()> {
        let locator = self.locator.lock().await;
        if self.current().0 != seen {
            return Ok(());
        }
        let (conn, at) = connect(&locator, &self.config, self.server_name.as_deref()).await?;
        self.events.reconnected();
        let before = std::mem::replace(
            &mut *self.at.lock().unwrap_or_else(|p| p.into_inner()),
            at.clone(),
        );
        if before != at {
            self.events.failover();
        }
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        *guard = (seen + 1, conn);
        Ok(())
    }
}

/// Connects to the server `locator` names now (and says its address), checking its certificate
/// against `server_name` when given; through Sentinel, only if it answers
/// as a primary.
async fn connect(
    locator: &Locator,
    config: &AsyncConnectionConfig,
    server_name: Option<&str>,
) -> RedisResult<(MultiplexedConnection, String)> {
    let client = match locator {
        Locator::Sentinels(sentinels) => sentinels.primary(config).await?,
        Locator::Fixed(client) => client.clone(),
    };
    let at = client.get_connection_info().addr().to_string();
    let (client, config) = match server_name {
        Some(name) => tls::aim_at_name(&client, name, config.clone())?,
        None => (client, config.clone()),
    };
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    if let Locator::Sentinels(_) = locator {
        sentinel::check_primary(&mut conn).await?;
    }
    Ok((conn, at))
}

/// Replies that say the command did not run, so it may be sent again.
pub(super) fn did_not_run(e: &RedisError) -> bool {
    e.is_connection_refusal()
        || matches!(
            e.code(),
            Some("READONLY" | "MASTERDOWN" | "LOADING" | "TRYAGAIN")
        )
}
