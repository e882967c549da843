//! The Redis backend over TLS, against real redis-server processes with
//! certificates the test generates: a private CA, mutual TLS, a TLS cluster,
//! and each way a handshake goes wrong giving its one-line fix.

use std::path::Path;
use std::time::Duration;

use wasmkv_backend::{Backend, Bytes, CounterRange, SharedBackend, StoreUrl};
use wasmkv_test_servers::{NAMED_SERVER, RedisCluster, RedisServer, ServerTls, TestPki};

fn param(path: &Path) -> String {
    url::form_urlencoded::byte_serialize(path.display().to_string().as_bytes()).collect()
}

/// `?tls_ca_file=CA` and, with `client`, the client certificate too.
fn tls_query(pki: &TestPki, ca: &Path, client: bool) -> String {
    let mut query = format!("?timeout_ms=3000&tls_ca_file={}", param(ca));
    if client {
        let c = pki.client();
        query += &format!(
            "&tls_cert_file={}&tls_key_file={}",
            param(&c.cert),
            param(&c.key)
        );
    }
    query
}

/// Opens `base` (a `rediss://` or `rediss-cluster://` URL) trusting `ca`,
/// showing `pki`'s client certificate when `client`.
async fn open_tls(
    base: &str,
    pki: &TestPki,
    ca: &Path,
    client: bool,
) -> Result<SharedBackend, String> {
    open(&format!("{base}{}", tls_query(pki, ca, client))).await
}

async fn open(url: &str) -> Result<SharedBackend, String> {
    let url: StoreUrl = url.parse().map_err(|e| format!("{e}"))?;
    match tokio::time::timeout(Duration::from_secs(30), url.open()).await {
        Ok(Ok(kv)) => Ok(kv),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => panic!("opening {url} hung"),
    }
}

/// A few writes and reads, and a counter, through `kv`.
async fn round_trip(kv: &dyn Backend) {
    kv.set("tls", "k", Bytes::from_static(b"v")).await.unwrap();
    assert_eq!(
        kv.get("tls", "k").await.unwrap(),
        Some(Bytes::from_static(b"v"))
    );
    for n in 1..=5 {
        assert_eq!(
            kv.increment("tls", "n", 1, CounterRange::I64)
                .await
                .unwrap(),
            n
        );
    }
}

#[tokio::test]
async fn a_private_ca_is_trusted_when_given() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), false));
    let kv = open_tls(&server.tls_url(), &pki, &pki.ca(), false)
        .await
        .unwrap();
    round_trip(&*kv).await;
    assert_eq!(server.cli(&["GET", "wasmkv:3:tls:n"]), "5");
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), true));
    let kv = open_tls(&server.tls_url(), &pki, &pki.ca(), true)
        .await
        .unwrap();
    round_trip(&*kv).await;

    let err = open_tls(&server.tls_url(), &pki, &pki.ca(), false)
        .await
        .err()
        .expect("connected without the client certificate the server asks for");
    assert!(
        err.contains("tls_cert_file=PATH and tls_key_file=PATH"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[tokio::test]
async fn a_server_signed_by_another_ca_is_refused_naming_the_fix() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), false));
    let other = pki.other_ca();
    let err = open_tls(&server.tls_url(), &pki, &other, false)
        .await
        .err()
        .expect("trusted a server its CA did not sign");
    assert!(err.contains("not signed by the CA in tls_ca_file"), "{err}");
    assert!(err.contains(&other.display().to_string()), "{err}");

    // Without tls_ca_file only the system's CAs are trusted.
    let err = open(&format!("{}?timeout_ms=3000", server.tls_url()))
        .await
        .err()
        .expect("trusted a private CA without being told to");
    assert!(err.contains("the system's CAs"), "{err}");
    assert!(err.contains("tls_ca_file=PATH"), "{err}");
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused_naming_the_cause() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.expired_server(), false));
    let err = open_tls(&server.tls_url(), &pki, &pki.ca(), false)
        .await
        .err()
        .expect("accepted an expired certificate");
    assert!(err.contains("has expired"), "{err}");
}

#[tokio::test]
async fn insecure_mode_checks_nothing_and_says_so() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.expired_server(), false));
    let kv = open(&format!("{}?tls_insecure=true", server.tls_url()))
        .await
        .unwrap();
    round_trip(&*kv).await;
    assert!(kv.describe().contains("TLS INSECURE"), "{}", kv.describe());
}

#[tokio::test]
async fn plain_tcp_to_a_tls_port_and_bad_files_are_one_line_errors() {
    let pki = TestPki::generate();
    let missing = pki.dir().join("nope.crt");
    for (url, needle) in [
        (
            format!("rediss://127.0.0.1:1?tls_ca_file={}", param(&missing)),
            "tls_ca_file: cannot read",
        ),
        (
            format!(
                "rediss://127.0.0.1:1?tls_ca_file={}",
                param(&pki.client().key)
            ),
            "no certificate in it",
        ),
        (
            format!(
                "rediss://127.0.0.1:1?tls_cert_file={}",
                param(&pki.client().cert)
            ),
            "needs both tls_cert_file and tls_key_file",
        ),
        (
            format!("redis://127.0.0.1:1?tls_ca_file={}", param(&pki.ca())),
            "need a TLS scheme",
        ),
    ] {
        let err = open(&url)
            .await
            .err()
            .expect("a bad TLS setting was accepted");
        assert!(err.contains(needle), "{url}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_with_client_certificates_serves_every_slot() {
    let pki = TestPki::generate();
    let cluster = RedisCluster::start_tls(&pki);
    let kv = open_tls(&cluster.tls_url(), &pki, &pki.ca(), true)
        .await
        .unwrap();
    round_trip(&*kv).await;
    let items: Vec<(String, Bytes)> = (0..50)
        .map(|i| (format!("k{i}"), Bytes::from(format!("v{i}"))))
        .collect();
    kv.set_many("batch", items.clone()).await.unwrap();
    let keys: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
    let values = kv.get_many("batch", &keys, usize::MAX).await.unwrap();
    for ((_, want), got) in items.iter().zip(values) {
        assert_eq!(got.as_ref(), Some(want));
    }
    // A page lists one node's keys at most: follow the cursors.
    let (mut listed, mut cursor) = (0, None::<String>);
    loop {
        let page = kv
            .list_keys("batch", cursor.as_deref(), 1000)
            .await
            .unwrap();
        listed += page.keys.len();
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, 50);
    assert_eq!(cluster.cli(&["GET", "wasmkv:3:tls:n"]), "5");
}

/// An ACL user over mutual TLS: the right password works, a wrong one or an
/// unknown user is a one-line startup error that never shows the password.
#[tokio::test]
async fn acl_users_over_tls_and_a_wrong_password_is_a_clear_error() {
    let pki = TestPki::generate();
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), true));
    server.cli(&["ACL", "SETUSER", "app", "on", ">Right-pw-1", "~*", "+@all"]);
    let with = |user: &str, password: &str| {
        format!(
            "rediss://{user}:{password}@127.0.0.1:{}?timeout_ms=3000&{}",
            server.tls_port(),
            pki.mutual_tls_query()
        )
    };
    let kv = open(&with("app", "Right-pw-1")).await.unwrap();
    round_trip(&*kv).await;
    for (user, password) in [("app", "Wrong-pw-2"), ("nobody", "Right-pw-1")] {
        let err = open(&with(user, password))
            .await
            .err()
            .expect("a wrong user or password was accepted");
        assert!(err.contains("refused the user or password"), "{err}");
        assert!(!err.contains(password), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

/// A certificate that names the server, not the address connected to:
/// refused by default with the fix named, accepted with `tls_server_name`,
/// and the connection made that way comes back after a restart.
#[tokio::test]
async fn tls_server_name_checks_the_certificate_against_another_name() {
    let pki = TestPki::generate();
    let mut server = RedisServer::start_tls(ServerTls::new(&pki, pki.named_server(), true));
    let base = format!("{}{}", server.tls_url(), tls_query(&pki, &pki.ca(), true));

    let err = open(&base)
        .await
        .err()
        .expect("a certificate for another name was accepted");
    assert!(
        err.contains("give that name as tls_server_name=NAME"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");

    let err = open(&format!("{base}&tls_server_name=other.internal"))
        .await
        .err()
        .expect("a certificate for another name was accepted");
    assert!(err.contains("does not name \"other.internal\""), "{err}");

    let kv = open(&format!("{base}&tls_server_name={NAMED_SERVER}"))
        .await
        .unwrap();
    round_trip(&*kv).await;
    assert!(kv.describe().contains("tls_server_name=redis.internal"));

    server.stop();
    assert!(
        kv.get("tls", "k").await.is_err(),
        "a stopped server answered"
    );
    server.restart();
    assert_eq!(
        kv.get("tls", "k").await.unwrap(),
        None,
        "the restarted server (which keeps nothing) was not reached"
    );
    kv.set("tls", "k", Bytes::from_static(b"again"))
        .await
        .unwrap();
    assert_eq!(server.cli(&["GET", "wasmkv:3:tls:k"]), "again");
}

#[tokio::test]
async fn tls_server_name_is_refused_where_it_cannot_apply() {
    for (url, needle) in [
        (
            "rediss-cluster://127.0.0.1:1?tls_server_name=a.internal",
            "a cluster's nodes are checked against the addresses they announce",
        ),
        (
            "rediss://127.0.0.1:1?tls_server_name=a.internal&tls_insecure=true",
            "tls_insecure=true checks no name",
        ),
        (
            "rediss://127.0.0.1:1?tls_server_name=not%20a%20name",
            "must be a DNS name or an IP address",
        ),
        (
            "redis://127.0.0.1:1?tls_server_name=a.internal",
            "tls_* parameters need a TLS scheme",
        ),
    ] {
        let err = open(url).await.err().expect(url);
        assert!(err.contains(needle), "{url}: {err}");
    }
}
