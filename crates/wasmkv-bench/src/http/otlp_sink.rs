//! Somewhere for the traced rows' spans to go: an HTTP server on a free
//! loopback port that answers every OTLP export with 200 and keeps
//! nothing, on a thread (and runtime) of its own, so the server under load
//! pays the full cost of exporting without a collector's.

use std::convert::Infallible;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;

/// Starts the sink; returns its `HOST:PORT`. It runs until the process ends.
pub fn start() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("otlp-sink".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((stream, _)) = listener.accept().await {
                    let service = hyper::service::service_fn(
                        |request: hyper::Request<hyper::body::Incoming>| async move {
                            // Read the export whole, as a collector would.
                            let _ = request.into_body().collect().await;
                            Ok::<_, Infallible>(hyper::Response::new(Empty::<Bytes>::new()))
                        },
                    );
                    tokio::spawn(
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                    );
                }
            })
        })?;
    Ok(addr)
}
