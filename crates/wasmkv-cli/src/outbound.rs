//! `--allow-outbound`: which hosts a component's outgoing HTTP requests
//! (`wasi:http/outgoing-handler` 0.2.x, `client` 0.3.x) may reach. Denied by default, so a component served on a
//! machine cannot probe the network behind it unless the operator says so.

use std::future::Future;
use std::sync::Arc;

use anyhow::bail;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination: a host, optionally one port of it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Any,
    Host { host: String, port: Option<u16> },
}

/// The allowed destinations, shared by every instance of a server.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    rules: Arc<Vec<Rule>>,
}

impl OutboundPolicy {
    /// Parses the `--allow-outbound` values: `*`, `HOST`, `HOST:PORT`,
    /// `[IPV6]` or `[IPV6]:PORT`.
    pub fn parse(flags: &[String]) -> anyhow::Result<Self> {
        let rules = flags
            .iter()
            .map(|flag| parse_rule(flag))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            rules: Arc::new(rules),
        })
    }

    /// Whether a request to `host` on `port` may go out. `host` is as the
    /// URI gives it (IPv6 in brackets); names compare case-insensitively.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.rules.iter().any(|rule| match rule {
            Rule::Any => true,
            Rule::Host {
                host: allowed,
                port: allowed_port,
            } => *allowed == host && allowed_port.is_none_or(|p| p == port),
        })
    }
}

fn parse_rule(flag: &str) -> anyhow::Result<Rule> {
    if flag == "*" {
        return Ok(Rule::Any);
    }
    let (host, port) = if let Some(rest) = flag.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, "")) => (format!("[{ip}]"), None),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(port) => (format!("[{ip}]"), Some(port)),
                None => bail!("--allow-outbound {flag:?}: expected [IPV6] or [IPV6]:PORT"),
            },
            None => bail!("--allow-outbound {flag:?}: missing ] after an IPv6 address"),
        }
    } else {
        match flag.split_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (flag.to_string(), None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ', '*']) {
        bail!("--allow-outbound {flag:?}: expected *, HOST or HOST:PORT, e.g. api.example.com:443");
    }
    let port = match port {
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    anyhow::anyhow!("--allow-outbound {flag:?}: {port:?} is not a port (1-65535)")
                })?,
        ),
        None => None,
    };
    Ok(Rule::Host {
        host: host.to_ascii_lowercase(),
        port,
    })
}

type Response = http::Response<WasiBody>;
type IoDriver = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoDriver,
    ) -> Box<dyn Future<Output = Result<(Response, IoDriver), HttpError>> + Send> {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        if !self.allows(&host, port) {
            tracing::warn!(
                target: "wasmkv::outbound",
                "denied an outgoing request to {host}:{port}; allow it with --allow-outbound {host}:{port}"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoDriver,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(flags: &[&str]) -> OutboundPolicy {
        OutboundPolicy::parse(&flags.iter().map(|f| f.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!OutboundPolicy::default().allows("127.0.0.1", 80));
    }

    #[test]
    fn a_host_allows_every_port_and_a_port_only_itself() {
        let p = policy(&["Example.com", "127.0.0.1:8080", "[::1]:9000"]);
        assert!(p.allows("example.com", 443));
        assert!(p.allows("EXAMPLE.com", 80));
        assert!(p.allows("127.0.0.1", 8080));
        assert!(!p.allows("127.0.0.1", 8081));
        assert!(p.allows("[::1]", 9000));
        assert!(!p.allows("[::1]", 9001));
        assert!(!p.allows("other.example.com", 443));
    }

    #[test]
    fn star_allows_anything() {
        assert!(policy(&["*"]).allows("10.0.0.1", 22));
    }

    #[test]
    fn bad_rules_are_refused_with_the_flag() {
        for bad in [
            "",
            "host:0",
            "host:http",
            "[::1",
            "[::1]x",
            "a/b",
            "*.example.com",
        ] {
            let err = OutboundPolicy::parse(&[bad.to_string()]).unwrap_err();
            assert!(
                format!("{err}").contains("--allow-outbound"),
                "{bad}: {err}"
            );
        }
    }
}
