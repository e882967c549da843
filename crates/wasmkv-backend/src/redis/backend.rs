use std::future::Future;

use ::redis::{Cmd, RedisError, RedisResult, cmd};
use async_trait::async_trait;
use bytes::Bytes;

use super::connection::{Connection, Delivery, Node};
use super::keyspace::Keyspace;
use super::lua::Lua;
use super::replicated::{Replication, Unconfirmed};
use super::url::{RedisUrl, Topology};
use crate::backend::{Backend, KeyPage};
use crate::counter::{self, CounterRange};
use crate::error::{BackendError, BackendResult};

/// A store in Redis or Redis Cluster, shared by every process that uses the
/// same URL and prefix.
pub struct RedisBackend {
    url: RedisUrl,
    keyspace: Keyspace,
    conn: Connection,
    increment: Lua,
    compare_and_swap: Lua,
    /// Set by `wait_replicas`: every write goes through it.
    replication: Option<Replication>,
}

impl RedisBackend {
    /// Connects now, so a wrong address or a server that is down fails at
    /// startup rather than at a guest's first call.
    pub async fn open(url: RedisUrl) -> BackendResult<Self> {
        let fail = |cause: String| BackendError::unavailable(url.to_string(), cause);
        let conn = match tokio::time::timeout(url.timeout, Connection::open(&url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                let hint = if refused_credentials(&e) {
                    " (the server refused the user or password: check USER:PASSWORD in the URL, or password_env / password_file)".to_string()
                } else {
                    let tls = url.tls.as_ref().map(|tls| tls.hint(&format!("{e} {e:?}")));
                    tls.unwrap_or_default()
                };
                return Err(fail(format!("cannot connect: {e}{hint}")));
            }
            Err(_) => {
                return Err(fail(format!(
                    "cannot connect: no answer within {} ms",
                    url.timeout.as_millis()
                )));
            }
        };
        let replication =
            (url.wait_replicas > 0).then(|| Replication::new(url.wait_replicas, url.timeout));
        let backend = Self {
            keyspace: Keyspace::new(url.prefix.clone()),
            replication,
            url,
            conn,
            increment: Lua::new(include_str!("increment.lua")),
            compare_and_swap: Lua::new(include_str!("compare_and_swap.lua")),
        };
        backend.warn_of_missing_replicas().await;
        Ok(backend)
    }

    /// Says at startup when a primary has fewer replicas than
    /// `wait_replicas` asks for: its writes would all wait and then fail.
    /// Only a warning, since replicas may be on their way.
    async fn warn_of_missing_replicas(&self) {
        let wanted = self.url.wait_replicas;
        if wanted == 0 {
            return;
        }
        let Ok(Ok(nodes)) = tokio::time::timeout(self.url.timeout, self.conn.primaries()).await
        else {
            return;
        };
        for node in nodes {
            let info = cmd("INFO").arg("replication").clone();
            let answer = self.conn.query_node::<String>(&node, info);
            let Ok(Ok(info)) = tokio::time::timeout(self.url.timeout, answer).await else {
                continue;
            };
            // `slaveN:ip=…,state=online,…`: a replica still syncing does
            // not acknowledge writes yet.
            let replicas = info
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .count() as u32;
            if replicas < wanted {
                let at = match &node {
                    Node::Primary { host, port } => format!(" {host}:{port}"),
                    Node::Only => String::new(),
                };
                tracing::warn!(
                    "{}: the primary{at} has {replicas} replica(s) online and wait_replicas={wanted}: its writes will wait up to timeout_ms and fail until {wanted} replica(s) are online",
                    self.url
                );
            }
        }
    }

    fn error(&self, cause: impl std::fmt::Display) -> BackendError {
        BackendError::unavailable(self.url.to_string(), cause)
    }

    /// Awaits one round trip within the store's timeout.
    async fn bounded<T>(
        &self,
        delivery: Delivery,
        request: impl Future<Output = RedisResult<T>>,
    ) -> BackendResult<T> {
        let outcome = tokio::time::timeout(self.url.timeout, request).await;
        self.settle(delivery, outcome)
    }

    /// Turns a round trip's outcome into a result. For at-most-once commands
    /// a lost reply is reported as such: the change may have happened.
    fn settle<T>(
        &self,
        delivery: Delivery,
        outcome: Result<RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> BackendResult<T> {
        let unsure = match delivery {
            Delivery::Idempotent => "",
            Delivery::AtMostOnce => "; it may or may not have been applied",
        };
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if lost_in_flight(&e) => Err(self.error(format_args!("{e}{unsure}"))),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(self.error(format_args!(
                "no reply within {} ms{unsure}",
                self.url.timeout.as_millis()
            ))),
        }
    }

    async fn query<T: ::redis::FromRedisValue>(
        &self,
        delivery: Delivery,
        command: &Cmd,
    ) -> BackendResult<T> {
        self.bounded(delivery, self.conn.query(command, delivery))
            .await
    }

    /// Runs a write through `replication`, which the caller has checked is
    /// set.
    async fn replicated<T: ::redis::FromRedisValue>(
        &self,
        replication: &Replication,
        script: &Lua,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
    ) -> BackendResult<T> {
        match replication
            .run(&self.conn, &self.keyspace, script, keys, args)
            .await
        {
            Ok(reply) => ::redis::from_redis_value(reply).map_err(|e| self.error(e)),
            Err(Unconfirmed::Refused(e)) => Err(self.error(e)),
            Err(Unconfirmed::Unknown(why)) => Err(self.error(why)),
        }
    }

    /// Plain writes (`set` with values, `del` without) under
    /// `wait_replicas`: one recorded script for all the keys, or on a
    /// cluster one per key (a script's keys share a slot), run at once.
    async fn write_replicated(
        &self,
        replication: &Replication,
        keys: Vec<String>,
        values: Option<Vec<Bytes>>,
    ) -> BackendResult<()> {
        let args = |values: &[Bytes]| -> Vec<Vec<u8>> {
            let verb: &[u8] = if values.is_empty() { b"del" } else { b"set" };
            std::iter::once(verb.to_vec())
                .chain(values.iter().map(|v| v.to_vec()))
                .collect()
        };
        let values = values.unwrap_or_default();
        let script = &replication.write;
        if self.url.topology != Topology::Cluster || keys.len() == 1 {
            let args = args(&values);
            return self
                .replicated::<i64>(replication, script, keys, args)
                .await
                .map(drop);
        }
        let writes = keys.into_iter().enumerate().map(|(i, key)| {
            let value = values.get(i).cloned().into_iter().collect::<Vec<_>>();
            self.replicated::<i64>(replication, script, vec![key], args(&value))
        });
        futures::future::try_join_all(writes).await.map(drop)
    }

    /// INCRBY, for signed 64-bit counters: Redis's own rules (canonical
    /// decimal, i64 range, overflow refused with the value unchanged) are
    /// exactly wasmkv's there. `None` when Redis refused.
    async fn increment_by(&self, key: &str, delta: i64) -> BackendResult<Option<i64>> {
        let incrby = cmd("INCRBY").arg(key).arg(delta).clone();
        let request = self.conn.query(&incrby, Delivery::AtMostOnce);
        let outcome = tokio::time::timeout(self.url.timeout, request).await;
        if let Ok(Err(e)) = &outcome
            && is_counter_refusal(e)
        {
            return Ok(None);
        }
        self.settle(Delivery::AtMostOnce, outcome).map(Some)
    }

    /// The counter from `increment.lua`'s reply, or its refusal worded.
    fn increment_reply(
        &self,
        (applied, value): (i64, Vec<u8>),
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128> {
        if applied == 1 {
            counter::parse_canonical(&value)
                .ok_or_else(|| self.error("increment script returned a non-decimal result"))
        } else {
            Err(self.refusal(Some(&value), delta, range))
        }
    }

    /// Words a refused increment with the same rules every backend uses,
    /// from the value Redis saw.
    fn refusal(&self, stored: Option<&[u8]>, delta: i128, range: CounterRange) -> BackendError {
        match counter::next_value(stored, delta, range) {
            Err(e) => e.into(),
            Ok(_) => self.error("Redis refused an increment that wasmkv's counter rules allow"),
        }
    }
}

/// Whether the server said no to the user or password (or wants one).
fn refused_credentials(e: &RedisError) -> bool {
    e.kind() == ::redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}

/// Whether the command may have reached the server before the failure.
fn lost_in_flight(e: &RedisError) -> bool {
    e.is_timeout() || (e.is_io_error() && !e.is_connection_refusal())
}

fn is_counter_refusal(e: &RedisError) -> bool {
    let detail = e.detail().unwrap_or_default();
    e.code() == Some("ERR") && (detail.contains("not an integer") || detail.contains("overflow"))
}

#[async_trait]
impl Backend for RedisBackend {
    fn describe(&self) -> String {
        self.url.to_string()
    }

    async fn get(&self, namespace: &str, key: &str) -> BackendResult<Option<Bytes>> {
        let value: Option<Vec<u8>> = self
            .query(
                Delivery::Idempotent,
                cmd("GET").arg(self.keyspace.key(namespace, key)),
            )
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, namespace: &str, key: &str, value: Bytes) -> BackendResult<()> {
        if let Some(replication) = &self.replication {
            let key = self.keyspace.key(namespace, key);
            return self
                .write_replicated(replication, vec![key], Some(vec![value]))
                .await;
        }
        self.query(
            Delivery::Idempotent,
            cmd("SET")
                .arg(self.keyspace.key(namespace, key))
                .arg(&value[..]),
        )
        .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> BackendResult<()> {
        if let Some(replication) = &self.replication {
            let key = self.keyspace.key(namespace, key);
            return self.write_replicated(replication, vec![key], None).await;
        }
        self.query::<i64>(
            Delivery::Idempotent,
            cmd("DEL").arg(self.keyspace.key(namespace, key)),
        )
        .await
        .map(drop)
    }

    async fn exists(&self, namespace: &str, key: &str) -> BackendResult<bool> {
        let found: i64 = self
            .query(
                Delivery::Idempotent,
                cmd("EXISTS").arg(self.keyspace.key(namespace, key)),
            )
            .await?;
        Ok(found > 0)
    }

    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128> {
        let key = self.keyspace.key(namespace, key);
        let args = [delta, range.min, range.max].map(counter::encode);
        if let Some(replication) = &self.replication {
            let args = args.iter().map(|a| a.clone().into_bytes()).collect();
            let reply = self
                .replicated(replication, &replication.increment, vec![key], args)
                .await?;
            return self.increment_reply(reply, delta, range);
        }
        if let (true, Ok(delta64)) = (range == CounterRange::I64, i64::try_from(delta)) {
            return match self.increment_by(&key, delta64).await? {
                Some(next) => Ok(next.into()),
                None => {
                    let stored: Option<Vec<u8>> = self
                        .query(Delivery::Idempotent, cmd("GET").arg(&key))
                        .await?;
                    Err(self.refusal(stored.as_deref(), delta, range))
                }
            };
        }
        // The u64 range (and anything INCRBY cannot express) needs exact
        // decimal arithmetic and range checks inside Redis: a Lua script.
        let mut call = self.increment.script.key(&key);
        call.arg(&args);
        let eval = self.increment.eval(&key, &args);
        let reply = self
            .bounded(
                Delivery::AtMostOnce,
                self.conn.invoke(&call, &eval, Delivery::AtMostOnce),
            )
            .await?;
        self.increment_reply(reply, delta, range)
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Bytes,
    ) -> BackendResult<bool> {
        let key = self.keyspace.key(namespace, key);
        if let Some(replication) = &self.replication {
            let (script, args) = match expected {
                None => (&replication.write, vec![b"create".to_vec(), new.to_vec()]),
                Some(expected) => (
                    &replication.compare_and_swap,
                    vec![expected.to_vec(), new.to_vec()],
                ),
            };
            let swapped: i64 = self
                .replicated(replication, script, vec![key], args)
                .await?;
            return Ok(swapped == 1);
        }
        match expected {
            None => {
                let set: Option<String> = self
                    .query(
                        Delivery::AtMostOnce,
                        cmd("SET").arg(&key).arg(&new[..]).arg("NX"),
                    )
                    .await?;
                Ok(set.is_some())
            }
            Some(expected) => {
                let args = [expected, &new[..]];
                let mut call = self.compare_and_swap.script.key(&key);
                call.arg(&args);
                let eval = self.compare_and_swap.eval(&key, &args);
                let swapped: i64 = self
                    .bounded(
                        Delivery::AtMostOnce,
                        self.conn.invoke(&call, &eval, Delivery::AtMostOnce),
                    )
                    .await?;
                Ok(swapped == 1)
            }
        }
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[String],
        max_total: usize,
    ) -> BackendResult<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let redis_keys = self.keyspace.keys(namespace, keys);
        if max_total < usize::MAX {
            // STRLENs first (pipelined on the one connection), so an
            // oversized batch is refused before Redis sends the values.
            let strlens: Vec<Cmd> = redis_keys
                .iter()
                .map(|key| cmd("STRLEN").arg(key).clone())
                .collect();
            let lens = futures::future::try_join_all(
                strlens
                    .iter()
                    .map(|strlen| self.query::<usize>(Delivery::Idempotent, strlen)),
            )
            .await?;
            crate::check_total(lens, max_total)?;
        }
        let values: Vec<Option<Vec<u8>>> = self
            .query(Delivery::Idempotent, cmd("MGET").arg(redis_keys))
            .await?;
        if values.len() != keys.len() {
            return Err(self.error(format_args!(
                "MGET returned {} values for {} keys",
                values.len(),
                keys.len()
            )));
        }
        // A value may have grown between the STRLENs and the MGET.
        crate::check_total(values.iter().flatten().map(Vec::len), max_total)?;
        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
    }

    async fn set_many(&self, namespace: &str, items: Vec<(String, Bytes)>) -> BackendResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        if let Some(replication) = &self.replication {
            let (keys, values) = items
                .into_iter()
                .map(|(key, value)| (self.keyspace.key(namespace, &key), value))
                .unzip();
            return self.write_replicated(replication, keys, Some(values)).await;
        }
        let mut mset = cmd("MSET");
        for (key, value) in &items {
            mset.arg(self.keyspace.key(namespace, key)).arg(&value[..]);
        }
        self.query(Delivery::Idempotent, &mset).await
    }

    async fn delete_many(&self, namespace: &str, keys: &[String]) -> BackendResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        if let Some(replication) = &self.replication {
            let keys = self.keyspace.keys(namespace, keys);
            return self.write_replicated(replication, keys, None).await;
        }
        self.query::<i64>(
            Delivery::Idempotent,
            cmd("DEL").arg(self.keyspace.keys(namespace, keys)),
        )
        .await
        .map(drop)
    }

    /// Pages are SCAN calls; the cursor is `NODE:SCAN-CURSOR:SKIP`, walking
    /// the primaries in address order (one node on a single server). SCAN's
    /// COUNT is only a hint, so a batch larger than the page is cut, and the
    /// next page repeats that SCAN step and skips what was already returned
    /// (SCAN gives the same batch for the same cursor while nothing changes).
    async fn list_keys(
        &self,
        namespace: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> BackendResult<KeyPage> {
        let limit = limit.max(1);
        let (node_index, scan_cursor, skip) = match cursor {
            None => (0, 0, 0),
            Some(text) => parse_cursor(text)
                .ok_or_else(|| self.error(format_args!("not a listing cursor: {text:?}")))?,
        };
        let nodes: Vec<Node> = self
            .bounded(Delivery::Idempotent, self.conn.primaries())
            .await?;
        let Some(node) = nodes.get(node_index) else {
            return Err(self.error("the listing cursor names a node that is gone"));
        };
        let mut scan = cmd("SCAN");
        scan.arg(scan_cursor)
            .arg("MATCH")
            .arg(self.keyspace.scan_pattern(namespace))
            .arg("COUNT")
            .arg(limit);
        let (next, batch): (u64, Vec<Vec<u8>>) = self
            .bounded(Delivery::Idempotent, self.conn.query_node(node, scan))
            .await?;
        let mut keys: Vec<String> = batch
            .iter()
            .filter_map(|raw| self.keyspace.user_key(namespace, raw))
            .skip(skip)
            .collect();
        let cursor = if keys.len() > limit {
            keys.truncate(limit);
            Some(format!("{node_index}:{scan_cursor}:{}", skip + limit))
        } else if next != 0 {
            Some(format!("{node_index}:{next}:0"))
        } else if node_index + 1 < nodes.len() {
            Some(format!("{}:0:0", node_index + 1))
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }
}

fn parse_cursor(text: &str) -> Option<(usize, u64, usize)> {
    let mut parts = text.splitn(3, ':');
    let node = parts.next()?.parse().ok()?;
    let scan = parts.next()?.parse().ok()?;
    let skip = parts.next()?.parse().ok()?;
    Some((node, scan, skip))
}
