//! The metrics listener: `GET /metrics` answers the Prometheus text format;
//! anything else is 404. Its own port, so the application's port never
//! exposes it, and its own task, so a slow scraper never holds a request.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Binds `addr` for the metrics, or says why it cannot.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics {addr}: cannot listen there"))
}

/// Serves `metrics` on `listener` until the process ends.
pub fn spawn(listener: TcpListener, metrics: Arc<Metrics>) {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(target: "wasmkv::metrics", "accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            let service = hyper::service::service_fn(move |request: Request<_>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(answer(&request, &metrics)) }
            });
            tokio::spawn(async move {
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = connection.await {
                    tracing::debug!(target: "wasmkv::metrics", "scrape from {peer}: {e}");
                }
            });
        }
    });
}

fn answer<B>(request: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let found = request.uri().path() == "/metrics"
        && matches!(*request.method(), Method::GET | Method::HEAD);
    let (status, kind, body) = if found {
        (
            StatusCode::OK,
            prometheus::TEXT_FORMAT,
            Bytes::from(metrics.render()),
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"not found: metrics are at /metrics\n"),
        )
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(kind) = hyper::header::HeaderValue::from_str(kind) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, kind);
    }
    response
}
