//! Key-value metrics: the engine's observer, counting every call by store,
//! interface, operation and outcome, and timing it by store and operation.
//! No bucket, key or value label: a granted `*` makes bucket names
//! unbounded.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::sync::Arc;

use wasmkv_engine::{Call, KvObserver, SharedStoreEvents};

use crate::metrics::stores::StoreMetrics;

/// Key-value call durations from 10 µs (memory, a cached SQLite page) to
/// 2.5 s (a store timing out).
const CALL_SECONDS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 1.0, 2.5,
];

/// The key-value side of one server.
pub struct KvMetrics {
    operations: IntCounterVec,
    duration: HistogramVec,
    stores: Arc<StoreMetrics>,
}

impl KvMetrics {
    pub(super) fn new(registry: &Registry, stores: Arc<StoreMetrics>) -> prometheus::Result<Self> {
        let operations = IntCounterVec::new(
            Opts::new(
                "wasmkv_kv_operations_total",
                "Key-value calls answered, by store, interface (seed, draft, draft2, wasmcloud, admin, host), operation and outcome (ok or the error kind)",
            ),
            &["store", "interface", "operation", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "wasmkv_kv_operation_duration_seconds",
                "Key-value call durations, validation included, by store and operation",
            )
            .buckets(CALL_SECONDS.to_vec()),
            &["store", "operation"],
        )?;
        registry.register(Box::new(operations.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            operations,
            duration,
            stores,
        })
    }

    /// The stores' own metrics.
    pub fn stores(&self) -> &StoreMetrics {
        &self.stores
    }
}

impl KvObserver for KvMetrics {
    fn call(&self, call: &Call<'_>) {
        let operation = call.op.name();
        let outcome = match call.outcome {
            Ok(()) => "ok",
            Err(kind) => kind.name(),
        };
        self.operations
            .with_label_values(&[call.store, call.interface.name(), operation, outcome])
            .inc();
        self.duration
            .with_label_values(&[call.store, operation])
            .observe(call.elapsed.as_secs_f64());
    }

    fn store_events(&self, store: &str) -> Option<SharedStoreEvents> {
        Some(self.stores.listener(store))
    }
}
