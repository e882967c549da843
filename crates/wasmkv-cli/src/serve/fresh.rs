//! 0.2 handlers (`wasi:http/incoming-handler@0.2.x`): where an HTTP request
//! becomes a fresh instance of the pre-instantiated component, called in a
//! task of its own, which may go on working after it has answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::Instant;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::host::Host;
use crate::metrics::instances::StopCause;
use crate::serve::handler::{Failure, log_failure};
use crate::serve::instance_setup::InstanceSetup;
use crate::traces::RequestTrace;

/// A fresh instance per request.
pub struct FreshInstances {
    pre: ProxyPre<Host>,
    setup: Arc<InstanceSetup>,
}

impl FreshInstances {
    /// Instances of `pre`, each set up by `setup`.
    pub fn new(pre: ProxyPre<Host>, setup: Arc<InstanceSetup>) -> Self {
        Self { pre, setup }
    }

    /// Runs `request` on a fresh instance until it answers. The instance
    /// holds `permit` for as long as it runs, answered or not.
    pub async fn respond(
        &self,
        request: Request<Incoming>,
        permit: OwnedSemaphorePermit,
        deadline: Option<Instant>,
        label: &str,
        trace: Option<Arc<RequestTrace>>,
    ) -> Result<Response<WasiBody>, Failure> {
        let (sender, receiver) = oneshot::channel();
        // Set when the guest answers, before anything it does afterwards:
        // a failure after that is the task's to log, not the request's.
        let answered = Arc::new(AtomicBool::new(false));
        let prepared = self.setup.new_store().and_then(|mut store| {
            if let Some(trace) = &trace {
                InstanceSetup::begin_request(store.data(), trace);
            }
            let request = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let answered = answered.clone();
            let out = store
                .data_mut()
                .http()
                .new_response_outparam_from_callback(move |response| {
                    answered.store(true, Ordering::SeqCst);
                    let _ = sender.send(response);
                })?;
            Ok((store, request, out))
        });
        let (mut store, request, out) = prepared.map_err(Failure::Setup)?;
        let pre = self.pre.clone();
        let label = label.to_string();
        let metrics = self.setup.metrics().cloned();
        let task = tokio::spawn(async move {
            let _permit = permit;
            let call = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                let _live = metrics.as_ref().map(|m| m.instances.born());
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, request, out)
                    .await
            };
            let outcome = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, call).await {
                    Ok(result) => result.map_err(Failure::Trapped),
                    Err(_) => Err(Failure::TimedOut),
                },
                None => call.await.map_err(Failure::Trapped),
            };
            if let (Err(failure), Some(metrics)) = (&outcome, &metrics) {
                match failure {
                    Failure::TimedOut => metrics.instances.stopped(StopCause::Timeout),
                    Failure::Trapped(e) => metrics.instances.stopped(StopCause::of(e)),
                    _ => {}
                }
            }
            match outcome {
                Err(failure) if answered.load(Ordering::SeqCst) => {
                    log_failure(&label, &failure);
                    Ok(())
                }
                outcome => outcome,
            }
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(Failure::ErrorCode(format!("{code:?}"))),
            // The outparam was dropped unset: the task has ended.
            Err(_) => match task.await {
                Ok(Ok(())) => Err(Failure::NoResponse),
                Ok(Err(failure)) => Err(failure),
                Err(e) => Err(Failure::Setup(anyhow::anyhow!(
                    "the handler task failed: {e}"
                ))),
            },
        }
    }
}
