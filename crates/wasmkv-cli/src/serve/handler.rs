//! The one request path of `serve`, for 0.2 and 0.3 handlers alike: the
//! access log, admission (`--max-concurrency`, the queue, 503), the
//! request's deadline, and every way a guest can fail to answer turned
//! into 500, 503 or 504 without internals in the body. How an instance is
//! made and called is the generation's own module: [`fresh`] for 0.2 (an
//! instance per request), [`reuse`] for 0.3 (instances reused).
//!
//! [`fresh`]: crate::serve::fresh
//! [`reuse`]: crate::serve::reuse

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::time::Instant;
use wasmtime::component::ResourceTableError;
use wasmtime_wasi_http::WasiBody;

use crate::component::Generation;
use crate::guest_limits::MemoryLimitExceeded;
use crate::metrics::Metrics;
use crate::metrics::http::RequestSeries;
use crate::serve::access_log::{AccessLog, LoggedBody};
use crate::serve::admission::Admission;
use crate::serve::fresh::FreshInstances;
use crate::serve::reuse::ReusedInstances;
use crate::traces::Traces;

/// How a request gets an instance: the generation's own way.
pub enum Instances {
    /// 0.2 handlers: a fresh instance per request.
    Fresh(FreshInstances),
    /// 0.3 handlers: instances reused for many requests, several at once.
    Reused(ReusedInstances),
}

/// Everything a request needs, shared by all of them.
pub struct Handler {
    instances: Instances,
    timeout: Option<Duration>,
    admission: Admission,
    metrics: Option<Arc<Metrics>>,
    traces: Option<Arc<Traces>>,
    /// Where this server's requests are counted, when metrics are on.
    series: Option<RequestSeries>,
}

/// Why a guest did not produce a response; each becomes a status and one
/// log line.
pub enum Failure {
    /// The request ran past `--timeout`: 504.
    TimedOut,
    /// Another request on the same (0.3) instance ran past `--timeout`, and
    /// the instance was stopped before this one was answered: 503, since
    /// nothing it did was acknowledged and a retry is safe to make.
    InstanceStopped,
    /// The guest trapped or hit `--max-memory` or `--max-resources`: 500.
    Trapped(wasmtime::Error),
    /// The (0.3) instance the request was on trapped or hit a limit, in
    /// this request or another; the instance logged why: 500.
    InstanceFailed,
    /// The handler answered with a `wasi:http` error code: 500.
    ErrorCode(String),
    /// The handler returned without setting a response: 500.
    NoResponse,
    /// wasmkv could not make or reach an instance: 500.
    Setup(anyhow::Error),
}

impl Handler {
    /// A handler whose requests go to `instances`, each within `timeout`,
    /// at most as many at once as `admission` lets in.
    pub fn new(
        instances: Instances,
        timeout: Option<Duration>,
        admission: Admission,
        metrics: Option<Arc<Metrics>>,
        traces: Option<Arc<Traces>>,
        generation: Generation,
    ) -> Self {
        let series = metrics.as_ref().map(|m| m.http.for_generation(generation));
        Self {
            instances,
            timeout,
            admission,
            metrics,
            traces,
            series,
        }
    }

    /// The tracer, when OTLP traces are on.
    pub fn traces(&self) -> Option<&Arc<Traces>> {
        self.traces.as_ref()
    }

    /// The server's metrics, when `--metrics` is on.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_deref()
    }

    /// The admission control, so shutdown can wait for every request.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// The instances, so shutdown can wait for the reused ones.
    pub fn instances(&self) -> &Instances {
        &self.instances
    }

    /// Serves one request and logs it when its response body has been sent.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<LoggedBody>, std::convert::Infallible> {
        let log = AccessLog::start(&request);
        let trace = self
            .traces
            .as_ref()
            .map(|traces| Arc::new(traces.request(log.method(), log.path(), request.headers())));
        if let Some(series) = &self.series {
            series.started();
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let response = match self.admission.enter(deadline).await {
            Ok(permit) => {
                let label = format!("{} {}", log.method(), log.path());
                let answer = match &self.instances {
                    Instances::Fresh(fresh) => {
                        fresh
                            .respond(request, permit, deadline, &label, trace.clone())
                            .await
                    }
                    Instances::Reused(reused) => {
                        reused
                            .respond(request, permit, deadline, trace.clone())
                            .await
                    }
                };
                match answer {
                    Ok(response) => response,
                    Err(failure) => {
                        log_failure(&label, &failure);
                        if let (Failure::TimedOut, Some(metrics)) = (&failure, &self.metrics) {
                            metrics.http.timed_out.inc();
                        }
                        failure.response()
                    }
                }
            }
            Err(refused) => {
                tracing::warn!(target: "wasmkv::serve", "{} {}: {refused}", log.method(), log.path());
                if let Some(metrics) = &self.metrics {
                    metrics.http.refused.inc();
                }
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server busy, try again later\n",
                )
            }
        };
        let status = response.status();
        let content_length = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let series = self.series.clone();
        Ok(response.map(|body| LoggedBody::new(body, status, content_length, log, series, trace)))
    }
}

impl Failure {
    /// The answer the client gets.
    fn response(&self) -> Response<WasiBody> {
        match self {
            Failure::TimedOut => plain(StatusCode::GATEWAY_TIMEOUT, "the request timed out\n"),
            Failure::InstanceStopped => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the request was stopped before it was answered, try again\n",
            ),
            Failure::Trapped(_)
            | Failure::InstanceFailed
            | Failure::ErrorCode(_)
            | Failure::NoResponse
            | Failure::Setup(_) => {
                plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
            }
        }
    }
}

/// Logs why a guest stopped, once, in the operator's terms.
pub fn log_failure(label: &str, failure: &Failure) {
    match failure {
        Failure::TimedOut => {
            tracing::warn!(target: "wasmkv::serve", "{label}: ran past --timeout and was stopped")
        }
        Failure::InstanceStopped => tracing::warn!(
            target: "wasmkv::serve",
            "{label}: its instance was stopped (another request on it ran past --timeout) before it was answered; answered 503"
        ),
        Failure::Trapped(e) => log_trap(label, e),
        Failure::InstanceFailed => tracing::error!(
            target: "wasmkv::serve",
            "{label}: its instance was stopped before it answered (the instance's own line says why)"
        ),
        Failure::ErrorCode(code) => tracing::warn!(
            target: "wasmkv::serve",
            "{label}: the handler answered with error {code}"
        ),
        Failure::NoResponse => tracing::error!(
            target: "wasmkv::serve",
            "{label}: the handler returned without setting a response"
        ),
        Failure::Setup(e) => tracing::error!(
            target: "wasmkv::serve",
            "{label}: cannot prepare the instance: {e:#}"
        ),
    }
}

/// Logs a guest's trap, or the limit it hit, naming the flag.
pub fn log_trap(label: &str, e: &wasmtime::Error) {
    if let Some(hit) = e.downcast_ref::<MemoryLimitExceeded>() {
        tracing::error!(target: "wasmkv::serve", "{label}: {hit}; the instance was stopped");
    } else if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
        tracing::error!(target: "wasmkv::serve", "{label}: the instance held more than --max-resources live resources and was stopped");
    } else {
        tracing::error!(target: "wasmkv::serve", "{label}: the handler trapped: {}", e.root_cause());
        let backtrace = format!("{e:?}").replace('\n', " | ");
        tracing::debug!(target: "wasmkv::serve", "{label}: {backtrace}");
    }
}

/// A short plain-text response of wasmkv's own.
fn plain(status: StatusCode, body: &'static str) -> Response<WasiBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
    }
    response
}
