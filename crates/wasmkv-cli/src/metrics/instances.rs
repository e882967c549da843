//! Instance metrics of `wasmkv serve`: instances made, requests served by
//! an instance that had served one before (0.3 reuse), instances live, and
//! instances stopped, by cause.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Why an instance was stopped before its natural end.
#[derive(Clone, Copy, Debug)]
pub enum StopCause {
    /// The guest trapped.
    Trap,
    /// It reached `--max-memory`.
    MemoryLimit,
    /// It held more than `--max-resources` resources.
    ResourceLimit,
    /// A request on it ran past `--timeout`.
    Timeout,
}

impl StopCause {
    fn name(self) -> &'static str {
        match self {
            StopCause::Trap => "trap",
            StopCause::MemoryLimit => "memory_limit",
            StopCause::ResourceLimit => "resource_limit",
            StopCause::Timeout => "timeout",
        }
    }

    /// The cause of a guest's failure `e` (a trap unless it names a limit).
    pub fn of(e: &wasmtime::Error) -> Self {
        if e.downcast_ref::<crate::guest_limits::MemoryLimitExceeded>()
            .is_some()
        {
            StopCause::MemoryLimit
        } else if let Some(wasmtime::component::ResourceTableError::Full) =
            e.downcast_ref::<wasmtime::component::ResourceTableError>()
        {
            StopCause::ResourceLimit
        } else {
            StopCause::Trap
        }
    }
}

/// One live instance in [`InstanceMetrics::live`], until dropped.
pub struct LiveInstance(IntGauge);

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The instance side of one server.
pub struct InstanceMetrics {
    /// Instances made.
    pub created: IntCounter,
    /// Requests served by an instance that had served another before.
    pub reused: IntCounter,
    /// Instances alive now.
    pub live: IntGauge,
    stopped: IntCounterVec,
}

impl InstanceMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let created = IntCounter::new(
            "wasmkv_instances_created_total",
            "Instances of the component made (one per request for WASI 0.2 handlers)",
        )?;
        let reused = IntCounter::new(
            "wasmkv_instance_reused_requests_total",
            "Requests served by an instance that had served an earlier request (WASI 0.3 reuse)",
        )?;
        let live = IntGauge::new("wasmkv_instances_live", "Instances alive now")?;
        let stopped = IntCounterVec::new(
            Opts::new(
                "wasmkv_instances_stopped_total",
                "Instances stopped by a failure, by cause: trap, memory_limit (--max-memory), resource_limit (--max-resources), timeout (--timeout)",
            ),
            &["cause"],
        )?;
        for cause in [
            StopCause::Trap,
            StopCause::MemoryLimit,
            StopCause::ResourceLimit,
            StopCause::Timeout,
        ] {
            stopped.with_label_values(&[cause.name()]);
        }
        registry.register(Box::new(created.clone()))?;
        registry.register(Box::new(reused.clone()))?;
        registry.register(Box::new(live.clone()))?;
        registry.register(Box::new(stopped.clone()))?;
        Ok(Self {
            created,
            reused,
            live,
            stopped,
        })
    }

    /// Counts a new instance, live until the returned guard drops.
    pub fn born(&self) -> LiveInstance {
        self.created.inc();
        self.live.inc();
        LiveInstance(self.live.clone())
    }

    /// An instance was stopped for `cause`.
    pub fn stopped(&self, cause: StopCause) {
        self.stopped.with_label_values(&[cause.name()]).inc();
    }
}
