//! TLS to Redis: the CA to trust, the client certificate to show, and the
//! explicitly named way to turn certificate checks off, all read from files
//! when the store URL is parsed (at startup), so a missing or malformed file
//! is a startup error naming the file, never a failure at the first call.
//!
//! URL parameters (`wasmkv.toml` has the same names as keys):
//!
//! - `tls_ca_file=PATH`: PEM certificates of the CA(s) that signed the
//!   server's certificate, trusted *instead of* the system's roots (a private
//!   CA is the usual reason to give one; a managed Redis with a public
//!   certificate needs none), or *as well as* them with
//!   `tls_system_roots=true`;
//! - `tls_cert_file=PATH` and `tls_key_file=PATH`: the client certificate
//!   chain and its private key, for servers that check clients
//!   (`tls-auth-clients yes`, redis-server's default);
//! - `tls_server_name=NAME`: the name the server's certificate must carry,
//!   when it does not name the address connected to (an IP address, a load
//!   balancer's name). Single servers and Sentinel-named primaries (the
//!   sentinels themselves are checked against their addresses); a
//!   cluster's nodes are checked against the addresses they announce;
//! - `tls_insecure=true`: no certificate or host name check at all. For tests
//!   only; every mention of the store says so.

use std::fmt;
use std::net::SocketAddr;

use ::redis::io::AsyncDNSResolver;
use ::redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, IntoConnectionInfo,
    RedisFuture, RedisResult, TlsCertificates,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::connection::readdressed;
use super::url::RedisUrlError;

/// What a `rediss://`, `rediss-cluster://` or `rediss-sentinel://` store
/// trusts and shows.
///
/// `Debug` shows file names only: a key file's bytes are a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM bytes of `tls_ca_file`, and its name.
    ca: Option<PemFile>,
    /// PEM bytes of `tls_cert_file` and `tls_key_file`.
    client: Option<(PemFile, PemFile)>,
    /// `tls_insecure=true`.
    pub insecure: bool,
    /// `tls_system_roots=true`: the system's CAs are trusted beside `ca`.
    system_roots: bool,
    /// `tls_server_name`: checked instead of the host connected to.
    pub server_name: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
struct PemFile {
    path: String,
    bytes: Vec<u8>,
}

/// The URL parameters this module takes, as they were given.
#[derive(Default)]
pub(super) struct TlsParams {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub insecure: bool,
    pub system_roots: bool,
    pub server_name: Option<String>,
}

impl TlsParams {
    /// Takes `name=value` if it is a TLS parameter; `Ok(false)` if it is not.
    pub fn take(&mut self, name: &str, value: &str) -> Result<bool, RedisUrlError> {
        if name == "tls_server_name" {
            if rustls::pki_types::ServerName::try_from(value).is_err() {
                return Err(RedisUrlError(format!(
                    "tls_server_name must be a DNS name or an IP address, not {value:?}"
                )));
            }
            self.server_name = Some(value.to_string());
            return Ok(true);
        }
        let slot = match name {
            "tls_ca_file" => &mut self.ca_file,
            "tls_cert_file" => &mut self.cert_file,
            "tls_key_file" => &mut self.key_file,
            "tls_insecure" | "tls_system_roots" => {
                let on = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => {
                        return Err(RedisUrlError(format!(
                            "{name} must be true or false, not {other:?}"
                        )));
                    }
                };
                if name == "tls_insecure" {
                    self.insecure = on;
                } else {
                    self.system_roots = on;
                }
                return Ok(true);
            }
            _ => return Ok(false),
        };
        if value.is_empty() {
            return Err(RedisUrlError(format!("{name} needs a file path")));
        }
        *slot = Some(value.to_string());
        Ok(true)
    }

    fn given(&self) -> bool {
        self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.insecure
            || self.system_roots
            || self.server_name.is_some()
    }

    /// Reads and checks the files. `tls` says whether the scheme is a TLS
    /// one; TLS parameters on a plain scheme are a mistake worth naming.
    pub fn load(self, tls: bool, scheme: &str) -> Result<Option<TlsSettings>, RedisUrlError> {
        if !tls {
            if self.given() {
                return Err(RedisUrlError(format!(
                    "tls_* parameters need a TLS scheme: rediss://, rediss-cluster:// or rediss-sentinel://, not {scheme}://"
                )));
            }
            return Ok(None);
        }
        if self.insecure && (self.ca_file.is_some() || self.cert_file.is_some()) {
            return Err(RedisUrlError(
                "tls_insecure=true checks no certificate, so tls_ca_file and tls_cert_file would be ignored; give one or the other".into(),
            ));
        }
        if self.insecure && self.server_name.is_some() {
            return Err(RedisUrlError(
                "tls_insecure=true checks no name, so tls_server_name would be ignored; give one or the other".into(),
            ));
        }
        if self.server_name.is_some() && scheme == "rediss-cluster" {
            return Err(RedisUrlError(
                "tls_server_name is for rediss:// and rediss-sentinel://: a cluster's nodes are checked against the addresses they announce (announce names with cluster-announce-hostname and cluster-preferred-endpoint-type hostname, or give the certificates those addresses)".into(),
            ));
        }
        let ca = self
            .ca_file
            .map(|path| {
                let file = PemFile::read("tls_ca_file", path)?;
                file.certificates("tls_ca_file")?;
                Ok::<_, RedisUrlError>(file)
            })
            .transpose()?;
        let client = match (self.cert_file, self.key_file) {
            (Some(cert), Some(key)) => {
                let cert = PemFile::read("tls_cert_file", cert)?;
                cert.certificates("tls_cert_file")?;
                let key = PemFile::read("tls_key_file", key)?;
                if PrivateKeyDer::from_pem_slice(&key.bytes).is_err() {
                    return Err(RedisUrlError(format!(
                        "tls_key_file {:?}: no private key in it (expected a PEM \"-----BEGIN PRIVATE KEY-----\" block)",
                        key.path
                    )));
                }
                Some((cert, key))
            }
            (None, None) => None,
            _ => {
                return Err(RedisUrlError(
                    "a client certificate needs both tls_cert_file and tls_key_file".into(),
                ));
            }
        };
        if self.system_roots && ca.is_none() {
            return Err(RedisUrlError(
                "tls_system_roots=true adds the system's CAs to tls_ca_file's; without tls_ca_file they are trusted anyway".into(),
            ));
        }
        Ok(Some(TlsSettings {
            ca,
            client,
            insecure: self.insecure,
            system_roots: self.system_roots,
            server_name: self.server_name,
        }))
    }
}

impl PemFile {
    fn read(param: &str, path: String) -> Result<Self, RedisUrlError> {
        match std::fs::read(&path) {
            Ok(bytes) => Ok(PemFile { path, bytes }),
            Err(e) => Err(RedisUrlError(format!("{param}: cannot read {path:?}: {e}"))),
        }
    }

    /// Fails unless the file holds at least one well-formed certificate.
    fn certificates(&self, param: &str) -> Result<(), RedisUrlError> {
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&self.bytes).collect();
        match certs {
            Ok(certs) if !certs.is_empty() => Ok(()),
            Ok(_) => Err(RedisUrlError(format!(
                "{param} {:?}: no certificate in it (expected a PEM \"-----BEGIN CERTIFICATE-----\" block)",
                self.path
            ))),
            Err(e) => Err(RedisUrlError(format!(
                "{param} {:?}: not a readable PEM certificate: {e}",
                self.path
            ))),
        }
    }
}

impl TlsSettings {
    /// The certificates for the Redis client, when any were given (without
    /// any, the client trusts the system's roots and shows none).
    pub fn certificates(&self) -> Option<TlsCertificates> {
        if self.ca.is_none() && self.client.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.bytes.clone(),
                client_key: key.bytes.clone(),
            }),
            root_cert: self.ca.as_ref().map(|ca| {
                let mut roots = ca.bytes.clone();
                if self.system_roots {
                    roots.extend(system_roots_pem());
                }
                roots
            }),
        })
    }

    /// What to add to an error from connecting, so the line says how to fix
    /// it; empty when there is nothing to add.
    pub fn hint(&self, error: &str) -> String {
        // rustls words one cause differently in `Display` and `Debug`, so
        // the needles are lowercase and without spaces.
        let raw = error;
        let error: String = error
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .collect::<String>()
            .to_lowercase();
        let has = |needle: &str| error.contains(needle);
        let ca = match &self.ca {
            Some(ca) => format!("the CA in tls_ca_file {:?}", ca.path),
            None => "the system's CAs (no tls_ca_file given)".to_string(),
        };
        if has("unknownissuer") || has("badsignature") {
            format!(
                " (the server's certificate is not signed by {ca}: give the CA that signed it with tls_ca_file=PATH)"
            )
        } else if has("expired") || has("notvalidyet") {
            " (the server's certificate has expired or is not yet valid: renew it, or check this machine's clock)".into()
        } else if has("notvalidforname") {
            match &self.server_name {
                Some(name) if raw.contains(&format!("{name:?}")) => format!(
                    " (the server's certificate does not name {name:?}, the tls_server_name given)"
                ),
                // A sentinel: its certificate is checked against its address.
                Some(_) => " (the certificate does not name the address connected to; tls_server_name applies to the servers, not to sentinels, whose certificates must name the addresses in the URL)".into(),
                None => " (the server's certificate does not name the host in the URL: connect by a name the certificate lists, or give that name as tls_server_name=NAME)".into(),
            }
        } else if has("certificaterequired") || (has("handshakefailure") && self.client.is_none()) {
            " (the server asks for a client certificate: give tls_cert_file=PATH and tls_key_file=PATH)".into()
        } else if has("badcertificate") || has("unknownca") || has("certificateunknown") {
            " (the server refused wasmkv's client certificate: it must be signed by a CA the server trusts, tls-ca-cert-file)".into()
        } else if has("invalidcontenttype") || has("corruptmessage") {
            " (the server does not speak TLS on this port: use redis:// or its TLS port)".into()
        } else {
            String::new()
        }
    }
}

/// The system's CA certificates as PEM, to go beside `tls_ca_file`'s (the
/// Redis client takes one PEM list of roots). Unreadable ones are skipped,
/// as the client does when it loads them itself.
fn system_roots_pem() -> Vec<u8> {
    use base64::Engine;
    let mut pem = Vec::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"\n-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_file", &self.ca.as_ref().map(|c| &c.path))
            .field("cert_file", &self.client.as_ref().map(|(c, _)| &c.path))
            .field("key_file", &self.client.as_ref().map(|(_, k)| &k.path))
            .field("insecure", &self.insecure)
            .field("system_roots", &self.system_roots)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// A Redis client of `info` that trusts and shows `certificates` when
/// given ([`TlsSettings::certificates`]), as every single-server and
/// Sentinel connection is made.
pub fn client(
    info: impl IntoConnectionInfo,
    certificates: Option<TlsCertificates>,
) -> RedisResult<Client> {
    match certificates {
        Some(certificates) => Client::build_with_tls(info, certificates),
        None => Client::open(info),
    }
}

/// `client` re-aimed so that the server's certificate is checked against
/// `name`, while the connection still goes to the address `client` names:
/// the client checks the host it is given, so it is given `name`, and a
/// resolver that answers every lookup with the real address.
pub fn aim_at_name(
    client: &Client,
    name: &str,
    config: AsyncConnectionConfig,
) -> RedisResult<(Client, AsyncConnectionConfig)> {
    let info = client.get_connection_info().clone();
    let ConnectionAddr::TcpTls { host, port, .. } = info.addr().clone() else {
        // Only TLS URLs take tls_server_name.
        return Ok((client.clone(), config));
    };
    let aimed_at = readdressed(info.addr(), name.to_string(), port);
    let aimed = info.set_addr(aimed_at);
    let resolver = RealAddress { host, port };
    Ok((Client::open(aimed)?, config.set_dns_resolver(resolver)))
}

/// Resolves any name to one host and port: see [`aim_at_name`].
struct RealAddress {
    host: String,
    port: u16,
}

impl AsyncDNSResolver for RealAddress {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        _name: &'b str,
        _port: u16,
    ) -> RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((self.host.as_str(), self.port)).await?;
            Ok(Box::new(addrs) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
