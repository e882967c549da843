//! redis-server, alone or as a 3-primary cluster (with or without a replica
//! per primary), in plain TCP or with TLS beside it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::certs::{CertFiles, TestPki};
use crate::ports::free_port;
use crate::wait::wait_until;

const INSTALL_HINT: &str =
    "install it with `apt-get install -y redis-server` (.ci/run does this on CI)";

/// How long a server may take to answer PING, or a cluster to agree.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// One redis-server process on a loopback port, without persistence.
///
/// A TLS server listens on a TLS port as well as on its plain one: the tests
/// talk TLS, and the plain port is for `redis-cli` checks.
pub struct RedisServer {
    port: u16,
    /// A cluster node's `cluster-node-timeout`; `None` for a standalone server.
    cluster: Option<Duration>,
    tls: Option<ServerTls>,
    /// The primary it replicates, if it is a replica.
    replica_of: Option<u16>,
    dir: TempDir,
    child: Option<Child>,
}

/// How a test server does TLS.
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) port: u16,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) ca: PathBuf,
    pub(crate) auth_clients: bool,
}

impl ServerTls {
    /// TLS on a free port with `cert`, trusting client certificates of
    /// `pki`'s CA, and asking clients for one when `auth_clients`.
    pub fn new(pki: &TestPki, cert: CertFiles, auth_clients: bool) -> Self {
        ServerTls {
            port: free_port(true),
            cert: cert.cert,
            key: cert.key,
            ca: pki.ca(),
            auth_clients,
        }
    }
}

impl RedisServer {
    /// Starts a standalone server and waits until it answers.
    pub fn start() -> Self {
        Self::launch(free_port(false), None, None)
    }

    /// Starts a replica of the server on `primary_port`.
    pub fn start_replica_of(primary_port: u16) -> Self {
        Self::start_replica(primary_port, None)
    }

    /// Starts a replica that speaks TLS as `tls` says and replicates over
    /// TLS from the primary's TLS port `primary_tls_port`.
    pub fn start_tls_replica_of(primary_tls_port: u16, tls: ServerTls) -> Self {
        Self::start_replica(primary_tls_port, Some(tls))
    }

    fn start_replica(primary_port: u16, tls: Option<ServerTls>) -> Self {
        let mut server = RedisServer {
            port: free_port(false),
            cluster: None,
            tls,
            replica_of: Some(primary_port),
            dir: tempfile::tempdir().expect("cannot create a temp dir"),
            child: None,
        };
        server.spawn();
        server
    }

    /// Starts a standalone server that also speaks TLS as `tls` says.
    pub fn start_tls(tls: ServerTls) -> Self {
        Self::launch(free_port(false), None, Some(tls))
    }

    fn launch(port: u16, cluster: Option<Duration>, tls: Option<ServerTls>) -> Self {
        let mut server = RedisServer {
            port,
            cluster,
            tls,
            replica_of: None,
            dir: tempfile::tempdir().expect("cannot create a temp dir"),
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = File::create(self.log_path()).expect("cannot create the server log");
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "no",
        ])
        .args(["--save", "", "--appendonly", "no", "--logfile", ""])
        .arg("--dir")
        .arg(self.dir.path());
        if let Some(node_timeout) = self.cluster {
            cmd.args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args([
                    "--cluster-node-timeout",
                    &node_timeout.as_millis().to_string(),
                ]);
        }
        if let Some(primary) = self.replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        if let Some(tls) = &self.tls {
            let auth = if tls.auth_clients { "yes" } else { "no" };
            cmd.args(["--tls-port", &tls.port.to_string()])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-auth-clients", auth])
                // Replicas (and a primary demoted by a failover) connect
                // to their primary's TLS port, and announce their own.
                .args(["--tls-replication", "yes"]);
            if self.cluster.is_some() {
                // The bus is found at the announced (TLS) port + 10000.
                let bus = (tls.port + 10_000).to_string();
                cmd.args(["--tls-cluster", "yes"])
                    .args(["--cluster-port", &bus]);
            }
        }
        let child = cmd
            .stdout(log)
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}); {INSTALL_HINT}"));
        self.child = Some(child);
        self.wait_until_ready();
    }

    fn wait_until_ready(&mut self) {
        let (port, log, child) = (self.port, self.log_path(), &mut self.child);
        let deadline = Instant::now() + STARTUP_LIMIT;
        wait_until(deadline, Duration::from_millis(20), || {
            if try_redis_cli(port, &["PING"]).as_deref() == Some("PONG") {
                return Ok(());
            }
            let exited = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            let why = format!(
                "redis-server on port {port} did not come up ({exited:?}); its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            // A server that exited will not come up: no point waiting.
            assert!(exited.is_none(), "{why}");
            Err(why)
        });
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TLS port; panics on a server started without TLS.
    pub fn tls_port(&self) -> u16 {
        self.tls.as_ref().expect("a server started with TLS").port
    }

    /// `rediss://127.0.0.1:TLS-PORT`, without parameters.
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port())
    }

    /// The running process's pid, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server by its pid and waits for it to exit. Data is lost:
    /// the server keeps nothing on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a replica of this server and waits until this server counts
    /// it online (it has acknowledged the sync, so `WAIT` counts it).
    pub fn start_online_replica(&self) -> RedisServer {
        let replica = Self::start_replica_of(self.port);
        wait_until(
            Instant::now() + STARTUP_LIMIT,
            Duration::from_millis(20),
            || {
                let info = self.cli(&["INFO", "REPLICATION"]);
                if info.contains("state=online") {
                    Ok(())
                } else {
                    Err(format!("the replica never came online:\n{info}"))
                }
            },
        );
        replica
    }

    /// Runs `redis-cli` against this server and returns its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three cluster-enabled primaries with all 16384 slots assigned, and
/// perhaps a replica of each.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// Replicas per primary.
    replicas: usize,
}

impl RedisCluster {
    /// Starts three nodes, joins them with `redis-cli --cluster create` and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        Self::start_with(None, 0)
    }

    /// Three primaries and a replica of each, which takes its primary's
    /// place one to three seconds after the primary dies
    /// (`cluster-node-timeout` 1000 ms).
    pub fn start_with_replicas() -> Self {
        Self::start_with(None, 1)
    }

    /// The same cluster speaking TLS, between nodes too (`tls-cluster`),
    /// every node with `pki`'s server certificate and asking clients for
    /// one. Each node keeps a plain port for `redis-cli` checks.
    pub fn start_tls(pki: &TestPki) -> Self {
        Self::start_with(Some(pki), 0)
    }

    fn start_with(pki: Option<&TestPki>, replicas: usize) -> Self {
        let node_timeout = Duration::from_millis(if replicas > 0 { 1000 } else { 5000 });
        let mut ports = Vec::new();
        while ports.len() < 3 * (1 + replicas) {
            let port = free_port(true);
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let mut nodes: Vec<RedisServer> = Vec::new();
        for &port in &ports {
            let tls = pki.map(|pki| {
                loop {
                    let tls = ServerTls::new(pki, pki.server(), true);
                    if !ports.contains(&tls.port) && nodes.iter().all(|n| n.tls_port() != tls.port)
                    {
                        break tls;
                    }
                }
            });
            nodes.push(RedisServer::launch(port, Some(node_timeout), tls));
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.tls.as_ref().map_or(n.port, |t| t.port)))
            .collect();
        let mut create = Command::new("redis-cli");
        if let Some(pki) = pki {
            let client = pki.client();
            create
                .args(["--tls", "--cacert"])
                .arg(pki.ca())
                .arg("--cert")
                .arg(client.cert)
                .arg("--key")
                .arg(client.key);
        }
        let out = create
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); {INSTALL_HINT}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes, replicas };
        cluster.wait_until_ok();
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok` and, in a
    /// cluster with replicas, every primary has its replicas in sync.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + STARTUP_LIMIT;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            wait_until(deadline, Duration::from_millis(50), || {
                let info = try_redis_cli(node.port, &["CLUSTER", "INFO"]).unwrap_or_default();
                let replication =
                    try_redis_cli(node.port, &["INFO", "REPLICATION"]).unwrap_or_default();
                let field = |name: &str| {
                    replication
                        .lines()
                        .find_map(|l| l.trim().strip_prefix(name))
                        .map(str::to_string)
                };
                // A primary counts a replica `online` once it has
                // acknowledged the sync: only then does WAIT count it.
                let online = replication
                    .lines()
                    .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                    .count();
                let in_sync = match field("role:").as_deref() {
                    Some("master") => online == self.replicas,
                    _ => field("master_link_status:").as_deref() == Some("up"),
                };
                if info.contains("cluster_state:ok") && in_sync {
                    return Ok(());
                }
                Err(format!(
                    "cluster node {} never reached cluster_state:ok with its replication up:\n{info}\n{replication}\nlog dir {}",
                    node.port,
                    node.dir().display()
                ))
            });
        }
    }

    /// The index of the node that is now the primary of `key`'s slot.
    pub fn primary_of(&self, key: &str) -> usize {
        let slot = self.cli(&["CLUSTER", "KEYSLOT", key]);
        self.nodes
            .iter()
            .position(|n| {
                n.child.is_some()
                    && n.cli(&["ROLE"]).starts_with("master")
                    && n.cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot]) != "0"
            })
            .unwrap_or_else(|| panic!("no primary holds a key of slot {slot} ({key})"))
    }

    /// Kills node `index` by its pid; its slots are unserved until restarted.
    pub fn stop_node(&mut self, index: usize) {
        self.nodes[index].stop();
    }

    /// Starts node `index` again (it keeps its cluster identity from
    /// `nodes.conf`) and waits until the whole cluster is `ok` again.
    pub fn restart_node(&mut self, index: usize) {
        self.nodes[index].restart();
        self.wait_until_ok();
    }

    /// `rediss-cluster://127.0.0.1:T1,127.0.0.1:T2,127.0.0.1:T3` (the TLS
    /// ports), without parameters.
    pub fn tls_url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.tls_port()))
            .collect();
        format!("rediss-cluster://{}", hosts.join(","))
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis-cluster://{}", hosts.join(","))
    }

    /// The nodes, for stopping one or asking one directly.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Runs `redis-cli -c` (following redirects) through the first running
    /// node.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut with_redirects = vec!["-c"];
        with_redirects.extend_from_slice(args);
        let node = self.nodes.iter().find(|n| n.child.is_some());
        redis_cli(node.expect("a running node").port, &with_redirects)
    }
}

/// Runs `redis-cli -h 127.0.0.1 -p PORT ARGS...`; panics if it cannot run.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    try_redis_cli(port, args).unwrap_or_else(|| {
        panic!("redis-cli -p {port} {args:?} failed or is not installed; {INSTALL_HINT}")
    })
}

pub(crate) fn try_redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
