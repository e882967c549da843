//! Redis store URLs: `redis://`, `rediss://`, `redis-cluster://`,
//! `rediss-cluster://`, `redis-sentinel://` and `rediss-sentinel://`, plus wasmkv's own query parameters (`prefix`,
//! `timeout_ms`, `password_env`, `password_file`, and the `tls_*` ones of
//! [`super::tls`]), which are taken off before the URL reaches the Redis
//! client. `password_env` and `password_file` keep the password out of the
//! command line, where `ps` shows it to every user of the machine.

use std::fmt;
use std::time::Duration;

use super::tls::{TlsParams, TlsSettings};
use crate::store_url::UrlParameter;

/// The key prefix used when a URL names none: every key wasmkv writes starts
/// with it, so a Redis shared with other applications stays tidy.
pub const DEFAULT_PREFIX: &str = "wasmkv:";

/// How long one Redis round trip (or connection attempt) may take by default
/// before the operation fails with an error.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `timeout_ms`: a day. Longer is a typo, and near 2^64 ms the
/// deadline arithmetic would overflow.
const MAX_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;

/// The most replicas `wait_replicas` may ask for; more is a typo.
const MAX_WAIT_REPLICAS: u32 = 100;

/// Whether the URL names one server or a cluster's seed nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One server (`redis://`, `rediss://`).
    Single,
    /// A Redis Cluster (`redis-cluster://`, `rediss-cluster://`), reached
    /// through any of its nodes.
    Cluster,
    /// A primary that Redis Sentinel names (`redis-sentinel://`,
    /// `rediss-sentinel://`), found through any of the sentinels and found
    /// again after a failover.
    Sentinel,
}

/// The primary of a Sentinel-managed store, as the URL names it.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelService {
    /// The name the sentinels monitor the primary under.
    pub master: String,
    /// The database number on the primary.
    pub db: i64,
    /// The ACL user for the primary.
    pub username: Option<String>,
    /// The password for the primary (the sentinels are asked without one).
    pub password: Option<String>,
}

impl fmt::Debug for SentinelService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelService")
            .field("master", &self.master)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A parsed Redis store URL.
///
/// `Debug` and `Display` never show the password: both end up in logs and in
/// error traces a guest can read.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Single server or cluster.
    pub topology: Topology,
    /// What every Redis key of this store starts with.
    pub prefix: String,
    /// The bound on each round trip and connection attempt.
    pub timeout: Duration,
    /// `wait_replicas=N`: a write is acknowledged only once N replicas have
    /// it (0: once the primary has it, Redis's own default).
    pub wait_replicas: u32,
    /// Set for the TLS schemes.
    pub tls: Option<TlsSettings>,
    /// Set for the Sentinel schemes.
    pub sentinel: Option<SentinelService>,
    /// Client URLs, one per node, without wasmkv's parameters.
    nodes: Vec<String>,
    /// The URL as written, password replaced by `***`.
    redacted: String,
}

/// Why a Redis URL was refused; a short reason without the URL itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrlError(pub String);

impl RedisUrl {
    /// Parses `scheme` (`redis`, `rediss`, `redis-cluster`,
    /// `rediss-cluster`, `redis-sentinel` or `rediss-sentinel`) and the text
    /// after its colon. Reads the files that
    /// parameters name (password, certificates) now.
    pub fn parse(scheme: &str, rest: &str) -> Result<Self, RedisUrlError> {
        let fail = |reason: &str| Err(RedisUrlError(reason.to_string()));
        let Some(body) = rest.strip_prefix("//") else {
            return fail("expected SCHEME://HOST:PORT");
        };
        let (authority_and_path, query) = match body.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (body, None),
        };
        let (topology, node_scheme) = match scheme {
            "redis" => (Topology::Single, "redis"),
            "rediss" => (Topology::Single, "rediss"),
            "redis-cluster" => (Topology::Cluster, "redis"),
            "rediss-cluster" => (Topology::Cluster, "rediss"),
            "redis-sentinel" => (Topology::Sentinel, "redis"),
            "rediss-sentinel" => (Topology::Sentinel, "rediss"),
            _ => return fail("not a Redis scheme"),
        };
        let mut params = parse_params(query)?;
        let tls = params.tls.load(node_scheme == "rediss", scheme)?;
        let mut sentinel = None;
        let mut nodes = match topology {
            Topology::Single => vec![single_node(node_scheme, authority_and_path)?],
            Topology::Cluster => cluster_nodes(scheme, node_scheme, authority_and_path)?,
            Topology::Sentinel => {
                let (sentinels, service) =
                    sentinel_parts(node_scheme, authority_and_path, params.password.take())?;
                sentinel = Some(service);
                sentinels
            }
        };
        if tls.as_ref().is_some_and(|tls| tls.insecure) {
            // The Redis client's own spelling of "check no certificate".
            nodes = nodes.into_iter().map(|n| format!("{n}#insecure")).collect();
        }
        if let Some(password) = params.password {
            nodes = nodes
                .iter()
                .map(|node| with_password(node, &password))
                .collect::<Result<_, _>>()?;
        }
        let (prefix, timeout, wait_replicas) =
            (params.prefix, params.timeout, params.wait_replicas);
        let mut redacted = crate::redact_secrets(&format!("{scheme}:{rest}"));
        if tls.as_ref().is_some_and(|tls| tls.insecure) {
            redacted.push_str(" [TLS INSECURE: certificates not checked]");
        }
        Ok(RedisUrl {
            topology,
            prefix,
            timeout,
            wait_replicas,
            tls,
            sentinel,
            nodes,
            redacted,
        })
    }

    /// The client URLs (one for a single server, the seed nodes for a cluster).
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }
}

/// wasmkv's own URL parameters, which `wasmkv.toml` takes as keys of a
/// Redis store's table too.
pub const PARAMETERS: &[UrlParameter] = &[
    parameter("prefix"),
    parameter("timeout_ms"),
    parameter("wait_replicas"),
    parameter("password_env"),
    file("password_file"),
    file("tls_ca_file"),
    file("tls_cert_file"),
    file("tls_key_file"),
    parameter("tls_server_name"),
    parameter("tls_insecure"),
    parameter("tls_system_roots"),
];

const fn parameter(name: &'static str) -> UrlParameter {
    UrlParameter { name, file: false }
}

const fn file(name: &'static str) -> UrlParameter {
    UrlParameter { name, file: true }
}

/// wasmkv's own parameters, taken off the URL.
struct Params {
    prefix: String,
    timeout: Duration,
    wait_replicas: u32,
    /// Read from `password_env` or `password_file`, never from the URL text.
    password: Option<String>,
    tls: TlsParams,
}

fn parse_params(query: Option<&str>) -> Result<Params, RedisUrlError> {
    let mut prefix = DEFAULT_PREFIX.to_string();
    let mut timeout = DEFAULT_TIMEOUT;
    let mut wait_replicas = 0;
    let mut password = None;
    let mut tls = TlsParams::default();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let secret = match &*name {
            "password_env" => Some(std::env::var(&*value).map_err(|_| {
                RedisUrlError(format!(
                    "password_env: the environment variable {value:?} is not set (or not UTF-8)"
                ))
            })?),
            "password_file" => Some(
                std::fs::read_to_string(&*value)
                    .map_err(|e| {
                        RedisUrlError(format!("password_file: cannot read {value:?}: {e}"))
                    })?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(secret) = secret {
            if password.replace(secret).is_some() {
                return Err(RedisUrlError(
                    "give one of password_env and password_file, not both".into(),
                ));
            }
            continue;
        }
        if tls.take(&name, &value)? {
            continue;
        }
        match &*name {
            "prefix" => prefix = value.into_owned(),
            "timeout_ms" => {
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                    .ok_or_else(|| {
                        RedisUrlError(format!(
                            "timeout_ms must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS} (a day), not {value:?}"
                        ))
                    })?;
                timeout = Duration::from_millis(ms);
            }
            "wait_replicas" => {
                wait_replicas = value
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_WAIT_REPLICAS)
                    .ok_or_else(|| {
                        RedisUrlError(format!(
                            "wait_replicas must be a number of replicas from 0 to {MAX_WAIT_REPLICAS}, not {value:?}"
                        ))
                    })?;
            }
            other => {
                let known: Vec<&str> = PARAMETERS.iter().map(|p| p.name).collect();
                return Err(RedisUrlError(format!(
                    "unknown parameter {other:?} (known: {})",
                    known.join(", ")
                )));
            }
        }
    }
    Ok(Params {
        prefix,
        timeout,
        wait_replicas,
        password,
        tls,
    })
}

/// `node` with `password` set, refused when the URL has one already.
fn with_password(node: &str, password: &str) -> Result<String, RedisUrlError> {
    let mut url = url::Url::parse(node).map_err(|e| RedisUrlError(e.to_string()))?;
    if url.password().is_some() {
        return Err(RedisUrlError(
            "the URL has a password already; give it there or by password_env/password_file, not both"
                .into(),
        ));
    }
    url.set_password(Some(password))
        .map_err(|()| RedisUrlError("cannot set a password on this URL".into()))?;
    Ok(url.to_string())
}

fn single_node(scheme: &str, authority_and_path: &str) -> Result<String, RedisUrlError> {
    let text = format!("{scheme}://{authority_and_path}");
    let parsed = url::Url::parse(&text).map_err(|e| {
        let hint = if authority_and_path.contains('@') {
            " (in a password, / ? # @ must be percent-encoded, e.g. %2F; or keep it out of the URL with password_env or password_file)"
        } else {
            ""
        };
        RedisUrlError(format!("{e}{hint}"))
    })?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(RedisUrlError(
            "needs a host, e.g. redis://127.0.0.1:6379".into(),
        ));
    }
    let db = parsed.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return Err(RedisUrlError(format!(
            "the path must be a database number, not {db:?}"
        )));
    }
    Ok(text)
}

/// The sentinels' URLs and the primary's name, database and credentials,
/// from `[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]`. A password
/// from `password_env`/`password_file` is the primary's.
fn sentinel_parts(
    node_scheme: &str,
    authority_and_path: &str,
    password_param: Option<String>,
) -> Result<(Vec<String>, SentinelService), RedisUrlError> {
    let usage = || {
        RedisUrlError(format!(
            "expected {node_scheme}-sentinel://HOST:PORT[,HOST:PORT...]/MASTER-NAME[/DB], with USER:PASSWORD@ before the hosts when the primary needs them"
        ))
    };
    let (authority, path) = authority_and_path.split_once('/').ok_or_else(usage)?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (Some(user), hosts),
        None => (None, authority),
    };
    // Percent-decoding as in any URL's user info: `+` stays `+`.
    let decode = |text: &str, what: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| RedisUrlError(format!("the {what} is not UTF-8 once percent-decoded")))
    };
    let (username, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
        Some((user, password)) => (
            Some(decode(user, "user")?).filter(|u| !u.is_empty()),
            Some(decode(password, "password")?).filter(|p| !p.is_empty()),
        ),
        None => (None, None),
    };
    let password = match (password, password_param) {
        (Some(_), Some(_)) => {
            return Err(RedisUrlError(
                "the URL has a password already; give it there or by password_env/password_file, not both".into(),
            ));
        }
        (a, b) => a.or(b),
    };
    let (master, db) = match path.split_once('/') {
        Some((master, db)) => (
            master,
            db.parse::<i64>().map_err(|_| {
                RedisUrlError(format!(
                    "the database after the master name must be a number, not {db:?}"
                ))
            })?,
        ),
        None => (path, 0),
    };
    if master.is_empty() || hosts.is_empty() {
        return Err(usage());
    }
    Ok((
        node_urls(node_scheme, "", hosts, usage)?,
        SentinelService {
            master: decode(master, "master name")?,
            db,
            username,
            password,
        },
    ))
}

fn cluster_nodes(
    scheme: &str,
    node_scheme: &str,
    authority_and_path: &str,
) -> Result<Vec<String>, RedisUrlError> {
    let (userinfo, hosts) = match authority_and_path.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority_and_path),
    };
    if hosts.contains('/') {
        return Err(RedisUrlError(
            "a cluster has no database number; drop the /PATH".into(),
        ));
    }
    node_urls(node_scheme, &userinfo, hosts, || {
        RedisUrlError(format!("expected {scheme}://HOST:PORT[,HOST:PORT...]"))
    })
}

/// A client URL for each of the comma-separated `HOST:PORT`s in `hosts`,
/// each with `userinfo` (`USER:PASSWORD@`, or empty); an empty entry is
/// `usage`'s error.
fn node_urls(
    node_scheme: &str,
    userinfo: &str,
    hosts: &str,
    usage: impl Fn() -> RedisUrlError,
) -> Result<Vec<String>, RedisUrlError> {
    hosts
        .split(',')
        .map(|host| {
            if host.is_empty() {
                return Err(usage());
            }
            single_node(node_scheme, &format!("{userinfo}{host}"))
        })
        .collect()
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("url", &self.redacted)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("wait_replicas", &self.wait_replicas)
            .field("tls", &self.tls)
            .field("sentinel", &self.sentinel)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_with_db_and_params() {
        let url = RedisUrl::parse(
            "redis",
            "//127.0.0.1:6380/2?prefix=app%3A&timeout_ms=250&wait_replicas=1",
        )
        .unwrap();
        assert_eq!(url.topology, Topology::Single);
        assert_eq!(url.nodes(), ["redis://127.0.0.1:6380/2"]);
        assert_eq!(url.prefix, "app:");
        assert_eq!(url.timeout, Duration::from_millis(250));
        assert_eq!(url.wait_replicas, 1);
    }

    #[test]
    fn defaults_without_params() {
        let url = RedisUrl::parse("rediss", "//cache.example:6379").unwrap();
        assert_eq!(url.nodes(), ["rediss://cache.example:6379"]);
        assert_eq!(url.prefix, DEFAULT_PREFIX);
        assert_eq!(url.timeout, DEFAULT_TIMEOUT);
        assert_eq!(url.wait_replicas, 0);
    }

    #[test]
    fn cluster_seed_nodes_share_the_credentials() {
        let url =
            RedisUrl::parse("redis-cluster", "//:s3cret@10.0.0.1:7000,10.0.0.2:7001").unwrap();
        assert_eq!(url.topology, Topology::Cluster);
        assert_eq!(
            url.nodes(),
            [
                "redis://:s3cret@10.0.0.1:7000",
                "redis://:s3cret@10.0.0.2:7001"
            ]
        );
    }

    #[test]
    fn password_never_shown() {
        let url = RedisUrl::parse("redis", "//user:s3cret@h:1/0?prefix=x").unwrap();
        assert_eq!(url.to_string(), "redis://user:***@h:1/0?prefix=x");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url = RedisUrl::parse("redis-cluster", "//:s3cret@a:1,b:2").unwrap();
        assert_eq!(url.to_string(), "redis-cluster://:***@a:1,b:2");
    }

    #[test]
    fn password_comes_from_a_file_and_is_never_shown() {
        let dir = std::env::temp_dir().join(format!("wasmkv-pw-{}", std::process::id()));
        std::fs::write(&dir, "s3/cr@t\n").unwrap();
        let rest = format!(
            "//10.0.0.1:7000,10.0.0.2:7001?password_file={}",
            dir.display()
        );
        let url = RedisUrl::parse("redis-cluster", &rest).unwrap();
        std::fs::remove_file(&dir).unwrap();
        for node in url.nodes() {
            let parsed = url::Url::parse(node).unwrap();
            let password = parsed.password().unwrap();
            assert_eq!(
                url::form_urlencoded::parse(format!("p={password}").as_bytes())
                    .next()
                    .unwrap()
                    .1,
                "s3/cr@t"
            );
        }
        assert!(!url.to_string().contains("s3"));
        assert!(!format!("{url:?}").contains("s3"));
        let both = RedisUrl::parse("redis", "//:x@h:1?password_env=HOME");
        assert!(both.unwrap_err().0.contains("not both"));
        let unset = RedisUrl::parse("redis", "//h:1?password_env=WASMKV_SURELY_UNSET_VAR");
        assert!(unset.unwrap_err().0.contains("not set"));
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_and_the_primary() {
        let url = RedisUrl::parse(
            "redis-sentinel",
            "//app:s3cret@10.0.0.1:26379,10.0.0.2:26379/mymaster/2?prefix=x",
        )
        .unwrap();
        assert_eq!(url.topology, Topology::Sentinel);
        assert_eq!(
            url.nodes(),
            ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"]
        );
        let service = url.sentinel.as_ref().unwrap();
        assert_eq!(service.master, "mymaster");
        assert_eq!(service.db, 2);
        assert_eq!(service.username.as_deref(), Some("app"));
        assert_eq!(service.password.as_deref(), Some("s3cret"));
        let encoded = RedisUrl::parse("redis-sentinel", "//:p+w%2F%40x@h:1/m").unwrap();
        let service = encoded.sentinel.as_ref().unwrap();
        assert_eq!(service.password.as_deref(), Some("p+w/@x"));
        assert!(!url.to_string().contains("s3cret"), "{url}");
        assert!(!format!("{url:?}").contains("s3cret"), "{url:?}");
        for bad in ["//h:1", "//h:1/", "///m", "//h:1/m/x", "//h:1,/m"] {
            assert!(
                RedisUrl::parse("redis-sentinel", bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn refuses_with_a_reason() {
        for (scheme, rest) in [
            ("redis", "127.0.0.1:6379"),
            ("redis", "//h:1/notanumber"),
            ("redis", "//h:1?prefx=a"),
            ("redis", "//h:1?timeout_ms=0"),
            ("redis", "//h:1?wait_replicas=-1"),
            ("redis", "//h:1?wait_replicas=101"),
            ("redis-cluster", "//a:1,,b:2"),
            ("redis-cluster", "//a:1/0"),
            ("redis", "//"),
        ] {
            assert!(
                RedisUrl::parse(scheme, rest).is_err(),
                "{scheme}:{rest} was accepted"
            );
        }
    }
}
