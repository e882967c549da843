//! Connections to a single Redis server or a Redis Cluster, behind one type.
//!
//! Both reconnect by themselves when the server comes back. Every round trip
//! is bounded by the store's timeout, so a dead server gives an error, not a
//! hang.
//!
//! A cluster gets two connections. Commands that are safe to repeat (reads,
//! plain writes, deletes) go through one that follows redirects and retries
//! after a dropped connection. Increment and compare-and-swap go through one
//! that never retries: if the connection drops after the command was sent,
//! the client cannot know whether it ran, and sending it again could count an
//! increment twice. That uncertainty is reported as an error instead.
//!
//! A MOVED or ASK reply is different: it says the command did *not* run,
//! because the slot is (being) moved to another node. The never-retrying
//! connection follows those itself (redis-rs stops redirects along with
//! retries), so an increment works while a cluster reshards. So are
//! `TRYAGAIN` and `CLUSTERDOWN` (the cluster refused the command for now)
//! and a refused connection (nothing was sent): the command is sent again
//! after a pause that doubles, until the store's timeout is nearly spent.
//! During a reshard the slot's owners may briefly point at each other
//! (the source already names the destination while the destination still
//! sends the command back); the pauses outlast that.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use ::redis::{
    Cmd, ConnectionAddr, FromRedisValue, Pipeline, RedisError, RedisResult, ScriptInvocation, Value,
};

use super::backoff::Backoff;
use super::link::Link;
use super::tls;
use super::url::{RedisUrl, Topology};
use crate::events::{SharedStoreEvents, StoreEvents};

/// Whether a command may be sent again after a dropped connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Repeating it changes nothing (GET, SET, DEL, MGET, ...).
    Idempotent,
    /// It must run at most once (increment, compare-and-swap).
    AtMostOnce,
}

/// An open connection to a Redis store, and who hears of its lost
/// connections, redirects and resends; cheap to clone.
#[derive(Clone)]
pub struct Connection {
    route: Route,
    events: SharedStoreEvents,
}

/// How commands reach the store.
#[derive(Clone)]
enum Route {
    /// One server.
    Single(ConnectionManager),
    /// The primary Sentinel names, or one server whose certificate is
    /// checked against `tls_server_name`.
    Link(Arc<Link>),
    /// A cluster: see the module docs for why there are two.
    Cluster {
        /// Follows redirects and retries.
        retrying: ClusterConnection,
        /// Never retries.
        at_most_once: ClusterConnection,
        /// The store's timeout, which bounds the resends too.
        timeout: Duration,
    },
}

/// How often a single server's connection is re-dialled before a command
/// gives up; the store's timeout bounds the wait in any case.
const RECONNECT_ATTEMPTS: usize = 2;
/// Retries of idempotent cluster commands (redirects, dropped connections).
const CLUSTER_RETRIES: u32 = 3;
/// Redirects one at-most-once cluster command follows at once; after these
/// it pauses before each resend (see the module docs).
const IMMEDIATE_REDIRECTS: u32 = 3;
/// The longest pause between resends.
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

impl Connection {
    /// Connects, failing if the server (or no seed node) answers in time.
    pub async fn open(url: &RedisUrl, events: SharedStoreEvents) -> RedisResult<Self> {
        let route = Self::route(url, &events).await?;
        Ok(Connection { route, events })
    }

    /// Who hears of this connection's work.
    pub fn events(&self) -> &dyn StoreEvents {
        &*self.events
    }

    /// Counts a lost connection in `result`: the client makes a new one.
    fn noted<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result
            && (e.is_io_error() || e.is_connection_dropped())
        {
            self.events.reconnected();
        }
        result
    }

    async fn route(url: &RedisUrl, events: &SharedStoreEvents) -> RedisResult<Route> {
        let timeout = url.timeout;
        match url.topology {
            Topology::Single if url.tls.as_ref().is_some_and(|t| t.server_name.is_some()) => Ok(
                Route::Link(Arc::new(Link::open(url, events.clone()).await?)),
            ),
            Topology::Single => {
                let certificates = url.tls.as_ref().and_then(|tls| tls.certificates());
                let client = tls::client(url.nodes()[0].as_str(), certificates)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(RECONNECT_ATTEMPTS)
                    .set_max_delay(Duration::from_millis(500));
                let manager = ConnectionManager::new_with_config(client, config).await?;
                // A command now, so a server that needs a password (or a
                // wrong one) is a startup error, not the first call's.
                ::redis::cmd("PING")
                    .query_async::<()>(&mut manager.clone())
                    .await?;
                Ok(Route::Single(manager))
            }
            Topology::Sentinel => Ok(Route::Link(Arc::new(
                Link::open(url, events.clone()).await?,
            ))),
            Topology::Cluster => {
                let connect = |retries: u32| async move {
                    let mut builder =
                        ClusterClientBuilder::new(url.nodes().iter().map(String::as_str))
                            .connection_timeout(timeout)
                            .response_timeout(timeout)
                            .retries(retries);
                    if let Some(certificates) = url.tls.as_ref().and_then(|tls| tls.certificates())
                    {
                        builder = builder.certs(certificates);
                    }
                    builder.build()?.get_async_connection().await
                };
                Ok(Route::Cluster {
                    retrying: connect(CLUSTER_RETRIES).await?,
                    at_most_once: connect(0).await?,
                    timeout,
                })
            }
        }
    }

    /// Sends one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd, delivery: Delivery) -> RedisResult<T> {
        match &self.route {
            Route::Single(conn) => self.noted(cmd.query_async(&mut conn.clone()).await),
            Route::Link(link) => {
                link.send(delivery, |mut conn| async move {
                    cmd.query_async(&mut conn).await
                })
                .await
            }
            Route::Cluster { .. } => {
                let first = self.noted(cmd.query_async(&mut self.cluster(delivery)).await);
                let value = self.after_redirects(first, cmd).await?;
                Ok(::redis::from_redis_value(value)?)
            }
        }
    }

    /// Runs a Lua script (EVALSHA, loading it on first use). `eval` makes
    /// the same call as a plain EVAL, which a cluster redirect resends (the
    /// node the slot moved to may not have the script loaded); it is made
    /// only then.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
        eval: impl FnOnce() -> Cmd,
        delivery: Delivery,
    ) -> RedisResult<T> {
        match &self.route {
            Route::Single(conn) => self.noted(script.invoke_async(&mut conn.clone()).await),
            Route::Link(link) => {
                link.send(delivery, |mut conn| async move {
                    script.invoke_async(&mut conn).await
                })
                .await
            }
            Route::Cluster { .. } => {
                let first = self.noted(script.invoke_async(&mut self.cluster(delivery)).await);
                let value = match first {
                    Ok(value) => value,
                    failed => self.after_redirects(failed, &eval()).await?,
                };
                Ok(::redis::from_redis_value(value)?)
            }
        }
    }

    /// Sends `transaction` (a `MULTI … EXEC` pipeline) to the one server;
    /// `None` on a cluster, where writes go through scripts, which the
    /// redirect handling above resends whole.
    pub async fn transaction(&self, transaction: &Pipeline) -> Option<RedisResult<()>> {
        Some(match &self.route {
            Route::Single(conn) => self.noted(transaction.query_async(&mut conn.clone()).await),
            Route::Link(link) => {
                link.send(Delivery::Idempotent, |mut conn| async move {
                    transaction.query_async(&mut conn).await
                })
                .await
            }
            Route::Cluster { .. } => return None,
        })
    }

    /// Sends a cluster command again while the reply says it did not run:
    /// to the node a MOVED or ASK names, or after a pause for `TRYAGAIN`,
    /// `CLUSTERDOWN` or a refused connection. Anything else (a value,
    /// another error) is the outcome. An idempotent command comes here once
    /// the retrying connection's own few retries are spent; the resends go
    /// through the never-retrying connection either way.
    async fn after_redirects(
        &self,
        mut outcome: RedisResult<Value>,
        cmd: &Cmd,
    ) -> RedisResult<Value> {
        let Route::Cluster { timeout, .. } = &self.route else {
            return outcome;
        };
        let mut backoff = Backoff::new(*timeout, LONGEST_PAUSE);
        let mut redirects = 0;
        loop {
            let resend = match &outcome {
                Ok(_) => return outcome,
                Err(e) => match Resend::after(e) {
                    Some(resend) => resend,
                    None => return outcome,
                },
            };
            let redirect = matches!(resend, Resend::To { .. });
            if (!redirect || redirects >= IMMEDIATE_REDIRECTS) && !backoff.pause().await {
                return outcome;
            }
            if redirect {
                self.events.redirected();
            } else {
                self.events.resent();
            }
            redirects += u32::from(redirect);
            let mut conn = self.cluster(Delivery::AtMostOnce);
            outcome = match resend {
                Resend::To { ask, host, port } => {
                    redirected(&mut conn, ask, host, port, std::slice::from_ref(cmd))
                        .await
                        .and_then(|values| {
                            values
                                .into_iter()
                                .next()
                                .ok_or_else(|| unexpected("no reply after a redirect"))
                        })
                        .and_then(Value::extract_error)
                }
                Resend::Again => cmd.query_async(&mut conn).await,
            };
        }
    }

    /// Sends `write`, then `wait` (a WAIT), in one pipeline on one
    /// connection, so that WAIT counts the replicas that have this write.
    /// One attempt, to the slot's owner or where `to` says: the caller
    /// (`super::replicated`) decides what to resend.
    pub async fn send_with_wait(
        &self,
        write: &Cmd,
        wait: &Cmd,
        to: Option<&Resend>,
    ) -> RedisResult<(Value, i64)> {
        let mut pipe = ::redis::pipe();
        pipe.add_command(write.clone()).add_command(wait.clone());
        let values: Vec<Value> = match &self.route {
            Route::Single(conn) => pipe.query_async(&mut conn.clone()).await?,
            Route::Link(link) => {
                let pipe = &pipe;
                link.send(Delivery::Idempotent, |mut conn| async move {
                    pipe.query_async(&mut conn).await
                })
                .await?
            }
            Route::Cluster { retrying, .. } => {
                let mut conn = retrying.clone();
                match to {
                    Some(Resend::To { ask, host, port }) => {
                        let cmds = [write.clone(), wait.clone()];
                        redirected(&mut conn, *ask, host.clone(), *port, &cmds).await?
                    }
                    Some(Resend::Again) | None => pipe.query_async(&mut conn).await?,
                }
            }
        };
        let mut values = values.into_iter().map(Value::extract_error);
        match (values.next(), values.next()) {
            (Some(reply), Some(acked)) => Ok((reply?, ::redis::from_redis_value(acked?)?)),
            _ => Err(unexpected("no WAIT reply after a write")),
        }
    }

    fn cluster(&self, delivery: Delivery) -> ClusterConnection {
        match (&self.route, delivery) {
            (Route::Cluster { retrying, .. }, Delivery::Idempotent) => retrying.clone(),
            (Route::Cluster { at_most_once, .. }, Delivery::AtMostOnce) => at_most_once.clone(),
            (Route::Single(_) | Route::Link(_), _) => {
                unreachable!("only called on a cluster")
            }
        }
    }

    /// The servers that own keys: the server itself, or every cluster primary.
    pub async fn primaries(&self) -> RedisResult<Vec<Node>> {
        let Route::Cluster { retrying, .. } = &self.route else {
            return Ok(vec![Node::Only]);
        };
        let slots: Value = retrying
            .clone()
            .route_command(
                ::redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        // Each entry: [first slot, last slot, [host, port, id], replicas...].
        let entries: Vec<Vec<Value>> = ::redis::from_redis_value(slots)?;
        let mut primaries = BTreeSet::new();
        for entry in entries {
            let Some(primary) = entry.into_iter().nth(2) else {
                continue;
            };
            let (host, port): (String, u16) = match primary {
                Value::Array(fields) if fields.len() >= 2 => (
                    ::redis::from_redis_value(fields[0].clone())?,
                    ::redis::from_redis_value(fields[1].clone())?,
                ),
                _ => return Err(unexpected("CLUSTER SLOTS entry without a primary")),
            };
            primaries.insert((host, port));
        }
        Ok(primaries
            .into_iter()
            .map(|(host, port)| Node::Primary { host, port })
            .collect())
    }

    /// Sends a command to one node (for SCAN, whose cursor is per node).
    pub async fn query_node<T: FromRedisValue>(&self, node: &Node, cmd: Cmd) -> RedisResult<T> {
        match (&self.route, node) {
            (Route::Single(conn), _) => cmd.query_async(&mut conn.clone()).await,
            (Route::Link(link), _) => {
                let cmd = &cmd;
                link.send(Delivery::Idempotent, |mut conn| async move {
                    cmd.query_async(&mut conn).await
                })
                .await
            }
            (Route::Cluster { retrying, .. }, Node::Primary { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = retrying.clone().route_command(cmd, routing).await?;
                Ok(::redis::from_redis_value(value)?)
            }
            (Route::Cluster { .. }, Node::Only) => {
                Err(unexpected("a cluster command needs a node address"))
            }
        }
    }
}

/// A server that holds part of the keyspace.
#[derive(Debug, Clone)]
pub enum Node {
    /// The single server.
    Only,
    /// A cluster primary.
    Primary {
        /// As the cluster announces it.
        host: String,
        /// As the cluster announces it.
        port: u16,
    },
}

/// How a command the cluster did not run is sent again.
pub(super) enum Resend {
    /// To the node a MOVED or ASK reply names.
    To { ask: bool, host: String, port: u16 },
    /// The same way, after a pause.
    Again,
}

impl Resend {
    /// `None` when the error does not say the command did not run.
    pub fn after(e: &RedisError) -> Option<Self> {
        if let Some((addr, _slot)) = e.redirect_node() {
            let (host, port) = addr.rsplit_once(':')?;
            return Some(Resend::To {
                ask: e.code() == Some("ASK"),
                host: host.to_string(),
                port: port.parse().ok()?,
            });
        }
        let refused = matches!(e.code(), Some("TRYAGAIN" | "CLUSTERDOWN"));
        (refused || e.is_connection_refusal()).then_some(Resend::Again)
    }
}

/// Sends `cmds` to the node a MOVED or ASK reply named, in one pipeline
/// (after `ASKING` for an ASK, which lets the importing node serve them),
/// and returns their replies.
async fn redirected(
    conn: &mut ClusterConnection,
    ask: bool,
    host: String,
    port: u16,
    cmds: &[Cmd],
) -> RedisResult<Vec<Value>> {
    let mut pipe = ::redis::pipe();
    if ask {
        pipe.cmd("ASKING");
    }
    for cmd in cmds {
        pipe.add_command(cmd.clone());
    }
    let node = SingleNodeRoutingInfo::ByAddress { host, port };
    conn.route_pipeline(pipe, usize::from(ask), cmds.len(), node)
        .await
}

/// `addr` with another host and port, keeping its scheme, TLS settings
/// and insecure switch: a primary named by Sentinel, or a host given as
/// `tls_server_name`.
pub(super) fn readdressed(addr: &ConnectionAddr, host: String, port: u16) -> ConnectionAddr {
    match addr.clone() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            tls_params,
        },
        _ => ConnectionAddr::Tcp(host, port),
    }
}

fn unexpected(what: &'static str) -> RedisError {
    RedisError::from((::redis::ErrorKind::Client, what))
}
