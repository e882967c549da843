//! `wasmkv serve --metrics ADDR`: Prometheus metrics on a listener of
//! their own, never on the application's port. Off by default; when off,
//! no metric exists and no call is timed.
//!
//! One [`Metrics`] per server holds its own registry (nothing process-wide):
//! HTTP requests ([`http`]), instances ([`instances`]), key-value calls
//! ([`kv`], the engine's observer), and at each scrape the gauges read from
//! their sources and the standard `process_*` metrics.

pub mod exporter;
pub mod http;
pub mod instances;
pub mod kv;
pub mod stores;

use std::sync::Arc;

use prometheus::{Encoder, IntGauge, Registry, TextEncoder};
use wasmkv_engine::Engine;

use crate::metrics::http::HttpMetrics;
use crate::metrics::instances::InstanceMetrics;
use crate::metrics::kv::KvMetrics;
use crate::metrics::stores::StoreMetrics;

/// Every metric of one `wasmkv serve`.
pub struct Metrics {
    registry: Registry,
    /// Requests, connections, admission.
    pub http: HttpMetrics,
    /// Instances made, reused, live and stopped.
    pub instances: InstanceMetrics,
    /// Key-value calls, by store, interface, operation and outcome.
    pub kv: Arc<KvMetrics>,
    host_held_bytes: IntGauge,
    instance_held_limit: IntGauge,
    /// Read at each scrape, once the engine exists.
    engine: std::sync::OnceLock<Engine>,
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let host_held_bytes = IntGauge::new(
            "wasmkv_kv_host_held_bytes",
            "Bytes the host holds for guests now (value bodies, stream buffers, batch results), counted against max_instance_bytes per instance",
        )?;
        registry.register(Box::new(host_held_bytes.clone()))?;
        let instance_held_limit = IntGauge::new(
            "wasmkv_kv_instance_held_bytes_limit",
            "max_instance_bytes: the most bytes the host holds for one instance",
        )?;
        registry.register(Box::new(instance_held_limit.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            http: HttpMetrics::new(&registry)?,
            instances: InstanceMetrics::new(&registry)?,
            kv: Arc::new(KvMetrics::new(
                &registry,
                Arc::new(StoreMetrics::new(&registry)?),
            )?),
            host_held_bytes,
            instance_held_limit,
            engine: std::sync::OnceLock::new(),
            registry,
        })
    }

    /// Lets each scrape read the engine's gauges.
    pub fn watch_engine(&self, engine: &Engine) {
        let limit = engine.limits().max_instance_bytes;
        self.instance_held_limit
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
        let _ = self.engine.set(engine.clone());
    }

    /// The text exposition format, as a scrape gets it.
    pub fn render(&self) -> Vec<u8> {
        if let Some(engine) = self.engine.get() {
            self.host_held_bytes
                .set(i64::try_from(engine.host_held_bytes()).unwrap_or(i64::MAX));
        }
        self.kv.stores().measure();
        let mut text = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::warn!(target: "wasmkv::metrics", "cannot encode the metrics: {e}");
        }
        text
    }
}
