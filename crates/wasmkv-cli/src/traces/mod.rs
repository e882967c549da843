//! OpenTelemetry traces over OTLP, on when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set: a span per served request (continuing an incoming W3C
//! `traceparent`), or per `wasmkv run`, with a child span per key-value
//! call. Unset, no tracer exists and nothing is paid.
//!
//! A key-value call knows its request through the [`CallScope`] its
//! instance carries ([`InstanceRequests`]): a 0.2 instance serves one
//! request; a reused 0.3 instance may serve several at once, and then a
//! call made while more than one is in flight is exported as a span of its
//! own, linked to each of them, since the engine cannot tell which asked.

mod export;

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use wasmkv_engine::{Call, CallScope};

pub use export::from_env;

/// Most requests a call made on a busy 0.3 instance links to.
const MOST_LINKS: usize = 16;

/// The tracer of one `wasmkv` process.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl Traces {
    fn new(provider: SdkTracerProvider) -> Self {
        Self {
            tracer: provider.tracer("wasmkv"),
            provider,
            propagator: TraceContextPropagator::new(),
        }
    }

    /// Starts the span of a request with `headers` (a `traceparent` there
    /// continues the caller's trace).
    pub fn request(&self, method: &str, path: &str, headers: &http::HeaderMap) -> RequestTrace {
        use opentelemetry::propagation::TextMapPropagator;
        let parent = self
            .propagator
            .extract(&opentelemetry_http::HeaderExtractor(headers));
        let path = path.split('?').next().unwrap_or(path);
        let span = self
            .tracer
            .span_builder(method.to_string())
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_string()),
            ])
            .start_with_context(&self.tracer, &parent);
        RequestTrace {
            context: parent.with_span(span),
        }
    }

    /// Starts the span of a `wasmkv run` of `component`.
    pub fn run(&self, component: &str) -> RequestTrace {
        let span = self
            .tracer
            .span_builder("wasmkv run")
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("wasmkv.component", component.to_string())])
            .start(&self.tracer);
        RequestTrace {
            context: Context::new().with_span(span),
        }
    }

    /// Exports the span of one key-value call, under the request its
    /// instance serves when that is known.
    pub fn call(&self, call: &Call<'_>) {
        let (parent, links) = match call
            .scope
            .and_then(|s| s.downcast_ref::<InstanceRequests>())
        {
            Some(requests) => requests.parent_and_links(),
            None => (Context::new(), Vec::new()),
        };
        let outcome = match call.outcome {
            Ok(()) => "ok",
            Err(kind) => kind.name(),
        };
        let end = SystemTime::now();
        let mut span = self
            .tracer
            .span_builder(format!("kv {}", call.op.name()))
            .with_kind(SpanKind::Internal)
            .with_start_time(end - call.elapsed)
            .with_links(links)
            .with_attributes([
                KeyValue::new("wasmkv.kv.store", call.store.to_string()),
                KeyValue::new("wasmkv.kv.interface", call.interface.name()),
                KeyValue::new("wasmkv.kv.operation", call.op.name()),
                KeyValue::new("wasmkv.kv.outcome", outcome),
            ])
            .start_with_context(&self.tracer, &parent);
        if call.outcome.is_err() {
            span.set_status(Status::error(outcome));
        }
        span.end_with_timestamp(end);
    }

    /// Sends what is still queued, waiting at most `limit`; called once,
    /// at exit.
    pub async fn shutdown(self: Arc<Self>, limit: Duration) {
        let provider = self.provider.clone();
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown());
        match tokio::time::timeout(limit, flushed).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(target: "wasmkv::traces", "cannot send the last spans: {e}")
            }
            _ => tracing::warn!(
                target: "wasmkv::traces",
                "the last spans were not sent within {}",
                humantime::format_duration(limit)
            ),
        }
    }
}

/// The span of one request (or run), ended by [`RequestTrace::finish`] or
/// when dropped.
pub struct RequestTrace {
    context: Context,
}

impl RequestTrace {
    /// Ends the span with the response's `status`.
    pub fn finish(&self, status: u16) {
        let span = self.context.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(format!("answered {status}")));
        }
        span.end();
    }

    /// Ends the span of a run with its exit code.
    pub fn finish_run(&self, code: i32) {
        let span = self.context.span();
        span.set_attribute(KeyValue::new("process.exit.code", i64::from(code)));
        if code != 0 {
            span.set_status(Status::error(format!("exit code {code}")));
        }
        span.end();
    }
}

/// The requests one instance is serving now, as its key-value calls'
/// [`CallScope`]. Requests are held weakly: one that has finished drops out.
#[derive(Default)]
pub struct InstanceRequests {
    requests: Mutex<Vec<Weak<RequestTrace>>>,
}

impl InstanceRequests {
    /// A scope for an instance serving nothing yet.
    pub fn scope() -> Arc<Self> {
        Arc::default()
    }

    /// As a [`CallScope`] for the instance's key-value context.
    pub fn as_call_scope(self: &Arc<Self>) -> CallScope {
        self.clone()
    }

    /// `request` is now served by this instance.
    pub fn begin(&self, request: &Arc<RequestTrace>) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.retain(|r| r.strong_count() > 0);
        requests.push(Arc::downgrade(request));
    }

    /// The parent of a call made now: the one request in flight, else none
    /// and a link to each (at most [`MOST_LINKS`]).
    fn parent_and_links(&self) -> (Context, Vec<Link>) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        requests.retain(|r| r.strong_count() > 0);
        let live: Vec<Arc<RequestTrace>> = requests.iter().filter_map(Weak::upgrade).collect();
        match live.as_slice() {
            [only] => (only.context.clone(), Vec::new()),
            many => (
                Context::new(),
                many.iter()
                    .take(MOST_LINKS)
                    .map(|r| Link::with_context(r.context.span().span_context().clone()))
                    .collect(),
            ),
        }
    }
}
