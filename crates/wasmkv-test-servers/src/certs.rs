//! A private PKI made fresh for each test: a CA, a server certificate for
//! 127.0.0.1 and localhost signed by it, one for a name only, a client certificate signed by it,
//! an expired server certificate, and a second CA that signed none of them.
//! Nothing is checked in; the files live in a temp dir.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

/// The only name in [`TestPki::named_server`]'s certificate: not an
/// address the test connects to.
pub const NAMED_SERVER: &str = "redis.internal";

/// PEM files of one test PKI.
pub struct TestPki {
    dir: TempDir,
}

/// A certificate and its key, as files.
pub struct CertFiles {
    /// The PEM certificate.
    pub cert: PathBuf,
    /// The PEM private key.
    pub key: PathBuf,
}

struct Authority {
    cert: Certificate,
    key: KeyPair,
}

impl TestPki {
    /// Generates every certificate and writes them out.
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temp dir for certificates");
        let ca = authority("wasmkv test CA");
        let other_ca = authority("some other CA");
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("cannot write a certificate");
        };
        write("ca.crt", ca.cert.pem());
        write("other-ca.crt", other_ca.cert.pem());
        let now = time::OffsetDateTime::now_utc();
        let leaves = [
            (
                "server",
                true,
                now - time::Duration::days(1),
                now + time::Duration::days(30),
            ),
            (
                "expired",
                true,
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            ),
            (
                "named",
                true,
                now - time::Duration::days(1),
                now + time::Duration::days(30),
            ),
            (
                "client",
                false,
                now - time::Duration::days(1),
                now + time::Duration::days(30),
            ),
        ];
        for (name, server, not_before, not_after) in leaves {
            let names = match (server, name) {
                (true, "named") => vec![NAMED_SERVER.to_string()],
                (true, _) => vec!["127.0.0.1".to_string(), "localhost".to_string()],
                (false, _) => Vec::new(),
            };
            let mut params = CertificateParams::new(names).expect("certificate names");
            params
                .distinguished_name
                .push(DnType::CommonName, format!("wasmkv test {name}"));
            params.not_before = not_before;
            params.not_after = not_after;
            // Cluster nodes show their server certificate as clients of
            // each other's bus, so it serves both purposes.
            params.extended_key_usages = if server {
                vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ]
            } else {
                vec![ExtendedKeyUsagePurpose::ClientAuth]
            };
            let key = KeyPair::generate().expect("cannot generate a key");
            let cert = params
                .signed_by(&key, &ca.cert, &ca.key)
                .expect("cannot sign a certificate");
            write(&format!("{name}.crt"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        TestPki { dir }
    }

    /// The CA that signed the server and client certificates.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// A CA that signed nothing here: trusting it alone must fail.
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.crt")
    }

    /// The server's certificate, valid for 127.0.0.1 and localhost.
    pub fn server(&self) -> CertFiles {
        self.pair("server")
    }

    /// A server certificate that names only [`NAMED_SERVER`], not the
    /// address it is served on.
    pub fn named_server(&self) -> CertFiles {
        self.pair("named")
    }

    /// A server certificate that expired yesterday.
    pub fn expired_server(&self) -> CertFiles {
        self.pair("expired")
    }

    /// A client certificate the server's CA signed.
    pub fn client(&self) -> CertFiles {
        self.pair("client")
    }

    fn pair(&self, name: &str) -> CertFiles {
        CertFiles {
            cert: self.path(&format!("{name}.crt")),
            key: self.path(&format!("{name}.key")),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `tls_ca_file=…&tls_cert_file=…&tls_key_file=…`: wasmkv's URL
    /// parameters for mutual TLS with this PKI, percent-encoded.
    pub fn mutual_tls_query(&self) -> String {
        let client = self.client();
        let files = [
            ("tls_ca_file", self.ca()),
            ("tls_cert_file", client.cert),
            ("tls_key_file", client.key),
        ];
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(files.iter().map(|(k, v)| (*k, v.display().to_string())))
            .finish()
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("cannot generate a CA key");
    let cert = params.self_signed(&key).expect("cannot sign the CA");
    Authority { cert, key }
}
