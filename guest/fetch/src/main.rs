//! `fetch URL`: GETs `http://HOST:PORT/PATH` through
//! `wasi:http/outgoing-handler@0.2` and prints `STATUS BODY`, or `error:
//! CODE` and exits 1. A command importing `wasi:http` 0.2.x, as the
//! commands componentize-js builds by default do.

use std::io::Read;
use std::process::ExitCode;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

fn fetch(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let future = outgoing_handler::handle(request, None).map_err(|code| format!("{code:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(format!("{code:?}")),
        other => return Err(format!("{other:?}")),
    };
    let status = response.status();
    let mut body = Vec::new();
    if let Ok(incoming) = response.consume()
        && let Ok(mut stream) = incoming.stream()
    {
        let _ = (&mut stream).take(1 << 20).read_to_end(&mut body);
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&body)))
}

pub fn main() -> ExitCode {
    let url = std::env::args().nth(1).unwrap_or_default();
    match fetch(&url) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
