//! The engine's one observer: every key-value call goes to the metrics
//! (`serve --metrics`) and to the traces (`OTEL_EXPORTER_OTLP_ENDPOINT`),
//! whichever are on; the stores' own events go to the metrics.

use std::sync::Arc;

use wasmkv_engine::{Call, KvObserver, SharedObserver, SharedStoreEvents};

use crate::metrics::kv::KvMetrics;
use crate::traces::Traces;

struct Observers {
    metrics: Option<Arc<KvMetrics>>,
    traces: Option<Arc<Traces>>,
}

impl KvObserver for Observers {
    fn call(&self, call: &Call<'_>) {
        if let Some(metrics) = &self.metrics {
            metrics.call(call);
        }
        if let Some(traces) = &self.traces {
            traces.call(call);
        }
    }

    fn store_events(&self, store: &str) -> Option<SharedStoreEvents> {
        self.metrics.as_ref()?.store_events(store)
    }
}

/// The observer for what is on; `None` when neither is, so the engine
/// times nothing.
pub fn of(metrics: Option<Arc<KvMetrics>>, traces: Option<Arc<Traces>>) -> Option<SharedObserver> {
    if metrics.is_none() && traces.is_none() {
        return None;
    }
    Some(Arc::new(Observers { metrics, traces }))
}
