//! The exporter, from the standard environment: `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`http/protobuf`, the default, or `grpc`), `OTEL_SERVICE_NAME` (default
//! `wasmkv`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, and
//! the batch processor's `OTEL_BSP_*` and the sampler's
//! `OTEL_TRACES_SAMPLER`, all read by the OpenTelemetry SDK.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use std::time::Duration;

use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData};

use super::Traces;

/// The OTLP exporter, driven on the server's tokio runtime (its HTTP and
/// gRPC clients need one) from the batch processor's own thread. That
/// thread collects ended spans without being woken for each: a span costs
/// the request a channel send, not a task wake-up, and a batch goes out
/// every `OTEL_BSP_SCHEDULE_DELAY` or when `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`
/// spans wait.
#[derive(Debug)]
struct OnRuntime<E> {
    inner: E,
    runtime: tokio::runtime::Handle,
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for OnRuntime<E>
{
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.runtime.block_on(self.inner.export(batch)))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The tracer the environment asks for, `None` when no endpoint is set.
/// Call on the runtime the spans are sent from.
pub fn from_env() -> anyhow::Result<Option<Arc<Traces>>> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol_var = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .into_iter()
    .find(|name| set(name));
    let protocol = protocol_var
        .and_then(|name| std::env::var(name).ok())
        .unwrap_or_else(|| "http/protobuf".into());
    let builder = SpanExporter::builder();
    let exporter = match protocol.trim() {
        "http/protobuf" => builder.with_http().build(),
        "grpc" => builder.with_tonic().build(),
        other => bail!(
            "{}={other:?}: wasmkv exports traces over http/protobuf (the default) or grpc",
            protocol_var.unwrap_or("OTEL_EXPORTER_OTLP_PROTOCOL")
        ),
    }
    .context("cannot set up the OTLP trace exporter (OTEL_EXPORTER_OTLP_*)")?;
    let mut resource = Resource::builder();
    if !set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name("wasmkv");
    }
    let exporter = OnRuntime {
        inner: exporter,
        runtime: tokio::runtime::Handle::current(),
    };
    let processor = BatchSpanProcessor::builder(exporter).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource.build())
        .build();
    Ok(Some(Arc::new(Traces::new(provider))))
}
