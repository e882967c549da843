//! One access-log line per request (method, path, status, bytes, duration),
//! written when the response body has been sent or abandoned, so the
//! duration and byte count are what the client actually got.

use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::metrics::http::RequestSeries;
use crate::traces::RequestTrace;

/// The target access lines are logged under; `WASMKV_LOG` filters it.
pub const TARGET: &str = "wasmkv::access";

/// What is known of a request when it arrives.
pub struct AccessLog {
    method: String,
    path: String,
    started: Instant,
}

impl AccessLog {
    /// Notes the request line and the time.
    pub fn start<B>(request: &Request<B>) -> Self {
        Self {
            method: request.method().to_string(),
            path: request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".to_string()),
            started: Instant::now(),
        }
    }

    /// The request method, for other log lines about this request.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request path and query.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// A response body that counts what it sends and logs the request's line
/// when it is finished or dropped.
pub struct LoggedBody {
    inner: HyperOutgoingBody,
    log: Option<AccessLog>,
    status: StatusCode,
    /// The `content-length` of the response, when it has one: hyper stops
    /// polling once that many bytes are out, without waiting for the end.
    expected: Option<u64>,
    bytes: u64,
    failed: bool,
    series: Option<RequestSeries>,
    trace: Option<Arc<RequestTrace>>,
}

impl LoggedBody {
    /// Wraps `inner`, the body of a response with `status` and
    /// `content_length`.
    pub fn new(
        inner: HyperOutgoingBody,
        status: StatusCode,
        content_length: Option<u64>,
        log: AccessLog,
        series: Option<RequestSeries>,
        trace: Option<Arc<RequestTrace>>,
    ) -> Self {
        Self {
            inner,
            log: Some(log),
            status,
            expected: content_length,
            bytes: 0,
            failed: false,
            series,
            trace,
        }
    }

    /// Counts the request in the metrics, when they are on, and writes the
    /// line in the log's own format (`TIME  INFO
    /// wasmkv::access: GET /path 200 2B 1.600ms`), formatted here and
    /// queued to the log's writer: `tracing`'s formatter cost more than the
    /// rest of a small request's host work. `WASMKV_LOG` still decides
    /// whether it is written.
    fn write_line(&mut self) {
        let Some(log) = self.log.take() else {
            return;
        };
        let elapsed = log.started.elapsed();
        if let Some(series) = &self.series {
            series.finished(self.status.as_u16(), elapsed.as_secs_f64());
        }
        if let Some(trace) = self.trace.take() {
            trace.finish(self.status.as_u16());
        }
        if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        let micros = elapsed.as_micros();
        let outcome = if self.failed { " (body aborted)" } else { "" };
        let mut line = String::with_capacity(80 + log.path.len());
        let _ = writeln!(
            line,
            "{}  INFO {TARGET}: {} {} {} {}B {}.{:03}ms{outcome}",
            humantime::format_rfc3339_micros(std::time::SystemTime::now()),
            log.method,
            log.path,
            self.status.as_u16(),
            self.bytes,
            micros / 1000,
            micros % 1000,
        );
        crate::output::log_line(line.as_bytes());
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = <HyperOutgoingBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => {
                self.failed = true;
                self.write_line();
            }
            Poll::Ready(None) => self.write_line(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream() || self.expected == Some(self.bytes);
        if self.log.is_some() && !complete {
            self.failed = true;
        }
        self.write_line();
    }
}
