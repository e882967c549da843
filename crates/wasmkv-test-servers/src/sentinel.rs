//! One primary, one replica and three sentinels watching them, on loopback
//! ports, stopped by pid when dropped.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ports::free_port;
use crate::redis::{RedisServer, redis_cli, try_redis_cli};
use crate::wait::wait_until;

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "wasmkv-primary";

/// How long the sentinels may take to find each other and the replica, or
/// a failover to finish.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// A primary and a replica watched by three sentinels (quorum two).
pub struct RedisSentinels {
    servers: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
}

struct SentinelProcess {
    port: u16,
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
            .map(|_| SentinelProcess::start(primary.port()))
            .collect();
        let set = RedisSentinels {
            servers: vec![primary, replica],
            sentinels,
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

    /// `redis-sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/MASTER_NAME`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis-sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// The port of the server the sentinels name as primary now.
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

    /// The server on `port`.
    pub fn server(&self, port: u16) -> &RedisServer {
        self.servers
            .iter()
            .find(|s| s.port() == port)
            .expect("a server of this set")
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
            .map(RedisServer::port)
            .find(|&p| p != old)
            .expect("a replica");
        let old_server = self.server(old);
        old_server.cli(&["CLIENT", "PAUSE", "30000", "WRITE"]);
        let deadline = Instant::now() + SETTLE_LIMIT;
        let offset = |port: u16| -> Option<u64> {
            let info = redis_cli(port, &["INFO", "REPLICATION"]);
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
            if self.primary_port() == new && role(new).starts_with("master") {
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

fn role(port: u16) -> String {
    redis_cli(port, &["ROLE"])
}

impl SentinelProcess {
    fn start(primary_port: u16) -> Self {
        let port = free_port(false);
        let dir = tempfile::tempdir().expect("cannot create a temp dir");
        let conf = dir.path().join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
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
            _dir: dir,
            child,
        }
    }
}
