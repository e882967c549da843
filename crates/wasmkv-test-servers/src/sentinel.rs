//! One primary, one replica and three sentinels watching them, on loopback
//! ports, stopped by pid when dropped; in plain TCP, or with everything
//! (clients, replication, sentinels' links) over mutual TLS.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::certs::TestPki;
use crate::ports::free_port;
use crate::redis::{RedisServer, ServerTls, redis_cli, try_redis_cli};
use crate::wait::wait_until;

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "wasmkv-primary";

/// How long the sentinels may take to find each other and the replica, or
/// a failover to finish.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// How long the sentinels wait for a server's answer before they call it
/// down. Long enough that a machine busy with builds does not make them
/// fail over a primary that is only slow (one run did, at 1 s, and the
/// restarted old primary was never made a replica).
const DOWN_AFTER_MS: u64 = 3000;

/// A primary and a replica watched by three sentinels (quorum two).
pub struct RedisSentinels {
    servers: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
    tls: bool,
}

struct SentinelProcess {
    /// The plain port, for `redis-cli` checks.
    port: u16,
    /// The TLS port clients use, in a TLS set.
    tls_port: Option<u16>,
    _dir: TempDir,
    child: Child,
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisSentinels {
    /// Starts everything and waits until every sentinel knows the replica
    /// and the two other sentinels, so that a failover can happen.
    pub fn start() -> Self {
        let primary = RedisServer::start();
        let replica = RedisServer::start_replica_of(primary.port());
        let sentinels = (0..3)
            .map(|_| SentinelProcess::start(primary.port(), None))
            .collect();
        Self::ready(vec![primary, replica], sentinels, false)
    }

    /// The same set over TLS: every process asks clients for a certificate
    /// of `pki`'s CA, replicas replicate over TLS and the sentinels reach
    /// the servers and each other over TLS. The sentinels' certificates
    /// name 127.0.0.1; the two servers' name only
    /// [`crate::NAMED_SERVER`], so clients must be told that name. Each
    /// process keeps a plain port for `redis-cli` checks.
    pub fn start_tls(pki: &TestPki) -> Self {
        let server_tls = || ServerTls::new(pki, pki.named_server(), true);
        let primary = RedisServer::start_tls(server_tls());
        let replica = RedisServer::start_tls_replica_of(primary.tls_port(), server_tls());
        let sentinel_tls = || ServerTls::new(pki, pki.server(), true);
        let sentinels = (0..3)
            .map(|_| SentinelProcess::start(primary.tls_port(), Some(sentinel_tls())))
            .collect();
        Self::ready(vec![primary, replica], sentinels, true)
    }

    fn ready(servers: Vec<RedisServer>, sentinels: Vec<SentinelProcess>, tls: bool) -> Self {
        let set = RedisSentinels {
            servers,
            sentinels,
            tls,
        };
        set.wait_until_ready();
        set
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        for sentinel in &self.sentinels {
            wait_until(deadline, Duration::from_millis(200), || {
                let replicas = redis_cli(sentinel.port, &["SENTINEL", "REPLICAS", MASTER_NAME]);
                let peers = redis_cli(sentinel.port, &["SENTINEL", "SENTINELS", MASTER_NAME]);
                let peer_count = peers.lines().filter(|l| *l == "name").count();
                if replicas.lines().any(|l| l == "slave") && peer_count >= 2 {
                    return Ok(());
                }
                Err(format!(
                    "sentinel {} never saw the replica and its peers:\n{replicas}\n{peers}",
                    sentinel.port
                ))
            });
        }
    }

    /// `redis-sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/MASTER_NAME`,
    /// or `rediss-sentinel://` with the sentinels' TLS ports in a TLS set
    /// (without parameters).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.tls_port.unwrap_or(s.port)))
            .collect();
        let scheme = if self.tls {
            "rediss-sentinel"
        } else {
            "redis-sentinel"
        };
        format!("{scheme}://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// The port of the server the sentinels name as primary now (its TLS
    /// port in a TLS set).
    pub fn primary_port(&self) -> u16 {
        let addr = redis_cli(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
        );
        addr.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no primary address from the sentinels: {addr:?}"))
    }

    /// The server on `port` (plain or TLS).
    pub fn server(&self, port: u16) -> &RedisServer {
        self.servers
            .iter()
            .find(|s| s.port() == port || (self.tls && s.tls_port() == port))
            .expect("a server of this set")
    }

    /// The port the sentinels and clients know `server` by.
    fn known_port(&self, server: &RedisServer) -> u16 {
        if self.tls {
            server.tls_port()
        } else {
            server.port()
        }
    }

    /// An unplanned failover: the primary is killed (SIGKILL, so whatever
    /// it had not replicated is lost), the sentinels promote the replica,
    /// and the old primary is started again, empty, for the sentinels to
    /// make it the new primary's replica. Returns the new primary's port
    /// once the old one replicates from it.
    pub fn kill_primary(&mut self) -> u16 {
        let old = self.primary_port();
        let index = self
            .servers
            .iter()
            .position(|s| self.known_port(s) == old)
            .expect("the primary is one of the set");
        self.servers[index].stop();
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut new = old;
        wait_until(deadline, Duration::from_millis(50), || {
            new = self.primary_port();
            if new != old && self.server(new).cli(&["ROLE"]).starts_with("master") {
                Ok(())
            } else {
                Err("the sentinels never promoted the replica".into())
            }
        });
        self.servers[index].restart();
        wait_until(deadline, Duration::from_millis(50), || {
            let info = self.servers[index].cli(&["INFO", "REPLICATION"]);
            if info.contains("role:slave") && info.contains("master_link_status:up") {
                Ok(())
            } else {
                Err(format!(
                    "the old primary never became a replica again:\n{info}"
                ))
            }
        });
        new
    }

    /// A failover that loses no acknowledged write, as an operator does it:
    /// writes on the primary are paused, the replica catches up, the
    /// sentinels promote it, the old primary is made its replica, and the
    /// pause ends (the paused writes then get `READONLY`, so the clients
    /// send them to the new primary). Returns the new primary's port.
    pub fn failover(&self) -> u16 {
        let old = self.primary_port();
        let new = self
            .servers
            .iter()
            .map(|s| self.known_port(s))
            .find(|&p| p != old)
            .expect("a replica");
        let old_server = self.server(old);
        old_server.cli(&["CLIENT", "PAUSE", "30000", "WRITE"]);
        let deadline = Instant::now() + SETTLE_LIMIT;
        let offset = |port: u16| -> Option<u64> {
            let info = self.server(port).cli(&["INFO", "REPLICATION"]);
            let key = if port == old {
                "master_repl_offset:"
            } else {
                "slave_repl_offset:"
            };
            info.lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .and_then(|v| v.parse().ok())
        };
        wait_until(deadline, Duration::from_millis(20), || {
            if offset(old).is_some() && offset(old) == offset(new) {
                Ok(())
            } else {
                Err("the replica never caught up".into())
            }
        });
        redis_cli(
            self.sentinels[0].port,
            &["SENTINEL", "FAILOVER", MASTER_NAME],
        );
        wait_until(deadline, Duration::from_millis(50), || {
            if self.primary_port() == new && self.server(new).cli(&["ROLE"]).starts_with("master") {
                Ok(())
            } else {
                Err("the failover never finished".into())
            }
        });
        old_server.cli(&["REPLICAOF", "127.0.0.1", &new.to_string()]);
        old_server.cli(&["CLIENT", "UNPAUSE"]);
        new
    }
}

impl SentinelProcess {
    /// A sentinel watching the primary on `primary_port`, reached (and
    /// reaching the servers) over TLS when `tls` is given.
    fn start(primary_port: u16, tls: Option<ServerTls>) -> Self {
        let port = free_port(false);
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        let conf = dir.path().join("sentinel.conf");
        let mut text = String::new();
        if let Some(tls) = &tls {
            text = format!(
                "tls-port {}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients yes\ntls-replication yes\n",
                tls.port,
                tls.cert.display(),
                tls.key.display(),
                tls.ca.display()
            );
        }
        text += &format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            dir = dir.path().display()
        );
        std::fs::write(&conf, text).expect("cannot write sentinel.conf");
        let log = File::create(dir.path().join("sentinel.log")).expect("sentinel log");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(log)
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server --sentinel ({e})"));
        wait_until(
            Instant::now() + SETTLE_LIMIT,
            Duration::from_millis(20),
            || match try_redis_cli(port, &["PING"]).as_deref() {
                Some("PONG") => Ok(()),
                _ => Err(format!("sentinel on port {port} did not come up")),
            },
        );
        SentinelProcess {
            port,
            tls_port: tls.map(|t| t.port),
            _dir: dir,
            child,
        }
    }
}
