use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use ::redis::cluster_routing::Slot;
use ::redis::{Cmd, RedisError, RedisResult, Value, cmd};
use async_trait::async_trait;
use bytes::Bytes;

use super::connection::{Connection, Delivery, Node};
use super::keyspace::Keyspace;
use super::lua::Lua;
use super::replicated::{Replication, Unconfirmed, operation_id};
use super::url::{RedisUrl, Topology};
use crate::backend::{Backend, Entry, KeyPage, SetOptions, Swap, SwapCondition};
use crate::counter::{self, CounterRange};
use crate::error::{BackendError, BackendResult};
use crate::events::SharedStoreEvents;
use crate::expiry::{Clock, Expiry, SystemClock};

/// The least time the startup checks (the kind of server, its replicas)
/// are given, whatever `timeout_ms` says.
const STARTUP_CHECK: Duration = Duration::from_secs(5);

/// How much longer than the store's timeout a round trip may take before
/// it is given up as unanswered: see [`RedisBackend::bounded`].
const RESPONSE_MARGIN: Duration = Duration::from_millis(50);

/// A store in Redis or Redis Cluster, shared by every process that uses the
/// same URL and prefix.
pub struct RedisBackend {
    url: RedisUrl,
    keyspace: Keyspace,
    conn: Connection,
    increment: Lua,
    compare_and_swap: Lua,
    write: Lua,
    current: Lua,
    swap: Lua,
    /// Set by `wait_replicas`: every write goes through it.
    replication: Option<Replication>,
}

impl RedisBackend {
    /// Connects now, so a wrong address or a server that is down fails at
    /// startup rather than at a guest's first call.
    pub async fn open(url: RedisUrl) -> BackendResult<Self> {
        Self::open_with_events(url, crate::events::unheard()).await
    }

    /// As [`RedisBackend::open`], telling `events` of lost connections,
    /// redirects, resends, failovers and `WAIT`s.
    pub async fn open_with_events(url: RedisUrl, events: SharedStoreEvents) -> BackendResult<Self> {
        let fail = |cause: String| BackendError::unavailable(url.to_string(), cause);
        let opened = Connection::open(&url, events);
        let conn = match tokio::time::timeout(url.timeout, opened).await {
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
                // A plain port answers nothing to a TLS handshake (Redis
                // waits for the end of a command line that never comes).
                let hint = if url.tls.is_some() {
                    " (a port that does not speak TLS gives no answer to a TLS handshake: is this the server's TLS port? For its plain port use redis://)"
                } else {
                    ""
                };
                return Err(fail(format!(
                    "cannot connect: no answer within {} ms{hint}",
                    url.timeout.as_millis()
                )));
            }
        };
        if url.topology == Topology::Single
            && let Some(wrong) = wrong_scheme(&conn, url.timeout).await
        {
            return Err(fail(wrong));
        }
        let replication =
            (url.wait_replicas > 0).then(|| Replication::new(url.wait_replicas, url.timeout));
        let backend = Self {
            keyspace: Keyspace::new(url.prefix.clone()),
            replication,
            url,
            conn,
            increment: Lua::new(include_str!("increment.lua")),
            compare_and_swap: Lua::new(include_str!("compare_and_swap.lua")),
            write: Lua::new(include_str!("write.lua")),
            current: Lua::new(concat!(
                include_str!("version.lua"),
                include_str!("current.lua")
            )),
            swap: Lua::new(concat!(
                include_str!("version.lua"),
                include_str!("swap.lua")
            )),
        };
        backend.warn_of_missing_replicas().await;
        // Every write names a version key, found through a table of hash
        // tags built on first use: build it now, not in the first write.
        backend.keyspace.version_key("");
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
        // A startup check, so not bound by a tight timeout_ms: a busy
        // machine must not skip the warning.
        let limit = self.url.timeout.max(STARTUP_CHECK);
        let Ok(Ok(nodes)) = tokio::time::timeout(limit, self.conn.primaries()).await else {
            return;
        };
        for node in nodes {
            let info = cmd("INFO").arg("replication").clone();
            let answer = self.conn.query_node::<String>(&node, info);
            let Ok(Ok(info)) = tokio::time::timeout(limit, answer).await else {
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
        // A little past the connection's own response timeout (the same
        // duration), so a command that reached a slow server ends as that
        // timeout (`timeout` to a guest), and this one, with the message
        // below, only when no connection could be had in time (`store
        // unavailable`).
        let outcome = tokio::time::timeout(self.url.timeout + RESPONSE_MARGIN, request).await;
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
        let store = self.url.to_string();
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if e.is_timeout() => {
                Err(BackendError::timed_out(store, format_args!("{e}{unsure}")))
            }
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

    /// Runs `lua` on `keys` with `args` in one round trip.
    async fn script<T: ::redis::FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: &[Vec<u8>],
        delivery: Delivery,
    ) -> BackendResult<T> {
        let mut call = lua.script.prepare_invoke();
        for key in keys {
            call.key(key);
        }
        for arg in args {
            call.arg(arg);
        }
        let eval = || lua.call(true, keys, args);
        self.bounded(delivery, self.conn.invoke(&call, eval, delivery))
            .await
    }

    /// A write script on `keys` with `args`: under `wait_replicas` its
    /// `recorded` twin, confirmed by replicas and safe to resend; else
    /// `plain`, sent once as `delivery` says.
    async fn write_script<T: ::redis::FromRedisValue>(
        &self,
        plain: &Lua,
        recorded: impl FnOnce(&Replication) -> &Lua,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
        delivery: Delivery,
    ) -> BackendResult<T> {
        match &self.replication {
            Some(replication) => {
                self.replicated(replication, recorded(replication), keys, args)
                    .await
            }
            None => self.script(plain, &keys, &args, delivery).await,
        }
    }

    /// A data key and its version key, as the scripts take them.
    fn with_version(&self, key: String) -> [String; 2] {
        let version = self.keyspace.version_key(&key);
        [key, version]
    }

    /// Stores every pair (with `ttl`) and deletes their version keys,
    /// atomically: on one server as a `MULTI`/`EXEC` transaction of plain
    /// commands (a third of a script's cost to Redis), on a cluster and
    /// under `wait_replicas` through `write.lua`.
    async fn store(&self, items: Vec<(String, Bytes)>, ttl: Option<Duration>) -> BackendResult<()> {
        if self.replication.is_none() && self.url.topology != Topology::Cluster {
            let mut transaction = ::redis::pipe();
            transaction.atomic();
            let mut versions = cmd("DEL");
            for (key, value) in &items {
                let set = transaction.cmd("SET").arg(key).arg(&value[..]);
                if let Some(ttl) = ttl {
                    set.arg("PX").arg(crate::expiry::ttl_ms(ttl));
                }
                set.ignore();
                versions.arg(self.keyspace.version_key(key));
            }
            transaction.add_command(versions).ignore();
            let sent = async {
                match self.conn.transaction(&transaction).await {
                    Some(sent) => sent,
                    None => Err(RedisError::from((
                        ::redis::ErrorKind::Client,
                        "a transaction was sent to a cluster",
                    ))),
                }
            };
            return self.bounded(Delivery::Idempotent, sent).await;
        }
        let (keys, values) = items.into_iter().unzip();
        self.write_keys("set", keys, values, ttl, Delivery::Idempotent)
            .await
            .map(drop)
    }

    /// Deletes `keys` and their version keys: one DEL (split by hash slot
    /// on a cluster, where a key and its version key share one), or
    /// `write.lua` under `wait_replicas`.
    async fn remove(&self, keys: Vec<String>) -> BackendResult<()> {
        if self.replication.is_some() {
            return self
                .write_keys("del", keys, Vec::new(), None, Delivery::Idempotent)
                .await
                .map(drop);
        }
        let mut del = cmd("DEL");
        for key in keys {
            del.arg(self.keyspace.version_key(&key)).arg(key);
        }
        self.query::<i64>(Delivery::Idempotent, &del)
            .await
            .map(drop)
    }

    /// `write.lua`'s `verb` (`set`, `del`, `create`) on the data keys
    /// `keys`, each with its version key, storing `values` with `ttl`:
    /// recorded and confirmed by replicas under `wait_replicas`; one script
    /// call for all the keys, or on a cluster one per hash slot (a script's
    /// keys share a slot), run at once. The reply of the last call.
    async fn write_keys(
        &self,
        verb: &str,
        keys: Vec<String>,
        values: Vec<Bytes>,
        ttl: Option<Duration>,
        delivery: Delivery,
    ) -> BackendResult<i64> {
        let ttl = ttl.map_or(0, crate::expiry::ttl_ms);
        let groups: Vec<Vec<(String, Option<Bytes>)>> = {
            let mut values = values.into_iter();
            let pairs = keys.into_iter().map(|k| (k, values.next()));
            if self.url.topology == Topology::Cluster {
                let mut by_slot: HashMap<Slot, Vec<_>> = HashMap::new();
                for (key, value) in pairs {
                    by_slot
                        .entry(Slot::for_key(&key))
                        .or_default()
                        .push((key, value));
                }
                by_slot.into_values().collect()
            } else {
                vec![pairs.collect()]
            }
        };
        let calls = groups.into_iter().map(|group| {
            let mut args = vec![verb.as_bytes().to_vec(), ttl.to_string().into_bytes()];
            let mut keys = Vec::with_capacity(group.len() * 2);
            for (key, value) in group {
                keys.extend(self.with_version(key));
                args.extend(value.map(|v| v.to_vec()));
            }
            async move {
                self.write_script(&self.write, |r| &r.write, keys, args, delivery)
                    .await
            }
        });
        let replies = futures::future::try_join_all(calls).await?;
        Ok(replies.last().copied().unwrap_or(1))
    }

    /// An entry from `current.lua`'s or `swap.lua`'s `{value, version}`;
    /// `None` for an empty reply (absent).
    fn entry_of(&self, reply: Vec<Vec<u8>>) -> BackendResult<Option<Entry>> {
        let mut reply = reply.into_iter();
        match (reply.next(), reply.next()) {
            (None, _) => Ok(None),
            (Some(value), Some(version)) => Ok(Some(Entry {
                value: Bytes::from(value),
                version: String::from_utf8(version)
                    .map_err(|_| self.error("a version key holds text that is not UTF-8"))?,
            })),
            (Some(_), None) => Err(self.error("an entry came back without its version")),
        }
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

/// Why a `redis://` URL names the wrong kind of server, if it does: a
/// Redis Cluster node (keys in other nodes' slots would fail with MOVED,
/// and listings would show one node's keys) or a Sentinel (no data at all).
async fn wrong_scheme(conn: &Connection, timeout: Duration) -> Option<String> {
    let info = cmd("INFO").arg("server").arg("cluster").clone();
    let limit = timeout.max(STARTUP_CHECK);
    let answer = tokio::time::timeout(limit, conn.query::<String>(&info, Delivery::Idempotent));
    let info = answer.await.ok()?.ok()?;
    let has = |line: &str| info.lines().any(|l| l.trim() == line);
    if has("redis_mode:sentinel") {
        Some("this server is a Redis Sentinel, which holds no data: give its address as redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME".into())
    } else if has("cluster_enabled:1") {
        Some("this server is a Redis Cluster node: use redis-cluster://HOST:PORT[,HOST:PORT...] (with redis:// keys in other nodes' slots would fail with MOVED)".into())
    } else {
        None
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
        let key = self.keyspace.key(namespace, key);
        self.store(vec![(key, value)], None).await
    }

    async fn delete(&self, namespace: &str, key: &str) -> BackendResult<()> {
        let key = self.keyspace.key(namespace, key);
        self.remove(vec![key]).await
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

    /// Exact decimal arithmetic and range checks inside Redis, in a Lua
    /// script that also keeps the entry's TTL and drops its version.
    async fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i128,
        range: CounterRange,
    ) -> BackendResult<i128> {
        let keys = self
            .with_version(self.keyspace.key(namespace, key))
            .to_vec();
        let args: Vec<Vec<u8>> = [delta, range.min, range.max]
            .map(|n| counter::encode(n).into_bytes())
            .to_vec();
        let at_most_once = Delivery::AtMostOnce;
        let reply = self
            .write_script(&self.increment, |r| &r.increment, keys, args, at_most_once)
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
        let Some(expected) = expected else {
            let created = self
                .write_keys("create", vec![key], vec![new], None, Delivery::AtMostOnce)
                .await?;
            return Ok(created == 1);
        };
        let keys = self.with_version(key).to_vec();
        let args = vec![expected.to_vec(), new.to_vec()];
        let (plain, at_most_once) = (&self.compare_and_swap, Delivery::AtMostOnce);
        let swapped: i64 = self
            .write_script(plain, |r| &r.compare_and_swap, keys, args, at_most_once)
            .await?;
        Ok(swapped == 1)
    }

    async fn set_with(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        options: SetOptions,
    ) -> BackendResult<bool> {
        let key = self.keyspace.key(namespace, key);
        if !options.if_absent {
            return self
                .store(vec![(key, value)], options.ttl)
                .await
                .map(|()| true);
        }
        let created = self
            .write_keys(
                "create",
                vec![key],
                vec![value],
                options.ttl,
                Delivery::AtMostOnce,
            )
            .await?;
        Ok(created == 1)
    }

    /// Reading a version may give the entry one (`current.lua`): run
    /// again, it finds that one, so this is safe to send twice.
    async fn get_entry(&self, namespace: &str, key: &str) -> BackendResult<Option<Entry>> {
        let keys = self.with_version(self.keyspace.key(namespace, key));
        let args = [operation_id().into_bytes()];
        let reply: Vec<Vec<u8>> = self
            .script(&self.current, &keys, &args, Delivery::Idempotent)
            .await?;
        self.entry_of(reply)
    }

    async fn swap(
        &self,
        namespace: &str,
        key: &str,
        value: Bytes,
        condition: &SwapCondition,
    ) -> BackendResult<Swap> {
        let keys = self
            .with_version(self.keyspace.key(namespace, key))
            .to_vec();
        let flag = |given: bool| if given { b"1".to_vec() } else { b"0".to_vec() };
        let args = vec![
            value.to_vec(),
            operation_id().into_bytes(),
            flag(condition.version.is_some()),
            condition.version.clone().unwrap_or_default().into_bytes(),
            flag(condition.value.is_some()),
            condition.value.as_deref().unwrap_or_default().to_vec(),
        ];
        let reply: Vec<Value> = self
            .write_script(&self.swap, |r| &r.swap, keys, args, Delivery::AtMostOnce)
            .await?;
        let mut reply = reply.into_iter();
        let swapped: i64 = match reply.next() {
            Some(first) => ::redis::from_redis_value(first).map_err(|e| self.error(e))?,
            None => return Err(self.error("the swap script gave no reply")),
        };
        if swapped == 1 {
            return Ok(Swap::Swapped);
        }
        let rest: Vec<Vec<u8>> = reply
            .map(::redis::from_redis_value)
            .collect::<Result<_, _>>()
            .map_err(|e| self.error(e))?;
        Ok(Swap::Stale(self.entry_of(rest)?))
    }

    async fn expiry(&self, namespace: &str, key: &str) -> BackendResult<Option<Expiry>> {
        let left: i64 = self
            .query(
                Delivery::Idempotent,
                cmd("PTTL").arg(self.keyspace.key(namespace, key)),
            )
            .await?;
        Ok(match left {
            -2 => None,
            -1 => Some(Expiry::Never),
            ms => Some(Expiry::At(
                SystemClock.now_ms().saturating_add(ms.max(0) as u64),
            )),
        })
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
        let items = items
            .into_iter()
            .map(|(key, value)| (self.keyspace.key(namespace, &key), value))
            .collect();
        self.store(items, None).await
    }

    async fn delete_many(&self, namespace: &str, keys: &[String]) -> BackendResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.remove(self.keyspace.keys(namespace, keys)).await
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
