//! What every instance `serve` makes gets, whichever generation: its WASI
//! context, the keyvalue engine, the outbound policy and the guest limits.

use std::sync::Arc;

use wasmkv_engine::Engine as KvEngine;
use wasmtime::{Engine, Store};

use crate::cli::InstanceArgs;
use crate::host::{self, Host};
use crate::metrics::Metrics;
use crate::outbound::OutboundPolicy;
use crate::traces::{InstanceRequests, RequestTrace};

/// Makes the store of one instance; shared by every request.
pub struct InstanceSetup {
    engine: Engine,
    kv: KvEngine,
    instance: InstanceArgs,
    outbound: OutboundPolicy,
    metrics: Option<Arc<Metrics>>,
    /// Whether instances carry their requests for traces.
    traced: bool,
}

impl InstanceSetup {
    /// Stores on `engine`, every one on the stores of `kv`.
    pub fn new(
        engine: Engine,
        kv: KvEngine,
        instance: InstanceArgs,
        outbound: OutboundPolicy,
        metrics: Option<Arc<Metrics>>,
        traced: bool,
    ) -> Self {
        Self {
            engine,
            kv,
            instance,
            outbound,
            metrics,
            traced,
        }
    }

    /// The server's metrics, when `--metrics` is on.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Counts `request` as served by the instance of `store` now, for the
    /// traces of its key-value calls.
    pub fn begin_request(store: &Host, request: &Arc<RequestTrace>) {
        if let Some(requests) = store
            .kv_scope()
            .and_then(|s| s.downcast_ref::<InstanceRequests>())
        {
            requests.begin(request);
        }
    }

    /// A fresh store for one instance, with the guest's limits applied.
    pub fn new_store(&self) -> anyhow::Result<Store<Host>> {
        let mut wasi = host::wasi_builder(&self.instance)?;
        wasi.inherit_stdout().inherit_stderr();
        let state = Host::new(
            self.kv.clone(),
            &self.instance,
            wasi.build(),
            self.outbound.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        if self.traced {
            store
                .data_mut()
                .set_kv_scope(InstanceRequests::scope().as_call_scope());
        }
        store.limiter(|host| &mut host.memory);
        // Each epoch tick ends the guest's slice, so a guest spinning in wasm
        // yields: its request's deadline, or shutdown, can then stop it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
    }
}
