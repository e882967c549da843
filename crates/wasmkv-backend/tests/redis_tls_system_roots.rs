//! `tls_system_roots=true` trusts the system's CAs beside `tls_ca_file`'s.
//! The "system" roots are this test's own CA, through `SSL_CERT_FILE`
//! (which the system-roots loader honours), in a test binary of its own
//! because the variable is process-wide.

use std::time::Duration;

use wasmkv_backend::{Bytes, StoreUrl};
use wasmkv_test_servers::{RedisServer, ServerTls, TestPki};

#[tokio::test]
async fn the_system_roots_are_trusted_beside_the_given_ca_only_when_asked() {
    let pki = TestPki::generate();
    // SAFETY: the only test in this binary, set before anything reads it.
    unsafe { std::env::set_var("SSL_CERT_FILE", pki.ca()) };
    let server = RedisServer::start_tls(ServerTls::new(&pki, pki.server(), false));
    let other: String =
        url::form_urlencoded::byte_serialize(pki.other_ca().display().to_string().as_bytes())
            .collect();
    let base = format!("{}?timeout_ms=3000&tls_ca_file={other}", server.tls_url());
    let open = |url: String| async move {
        let url: StoreUrl = url.parse().map_err(|e| format!("{e}"))?;
        match tokio::time::timeout(Duration::from_secs(30), url.open()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => panic!("opening {url} hung"),
        }
    };

    let err = open(base.clone())
        .await
        .err()
        .expect("tls_ca_file alone must replace the system roots");
    assert!(err.contains("not signed by the CA in tls_ca_file"), "{err}");

    let kv = open(format!("{base}&tls_system_roots=true")).await.unwrap();
    kv.set("roots", "k", Bytes::from_static(b"v"))
        .await
        .unwrap();
    assert_eq!(server.cli(&["GET", "wasmkv:5:roots:k"]), "v");

    let err = open(format!("{}?tls_system_roots=true", server.tls_url()))
        .await
        .err()
        .expect("tls_system_roots without tls_ca_file was accepted");
    assert!(err.contains("without tls_ca_file"), "{err}");
}
