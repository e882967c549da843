//! Where an HTTP request becomes an instance: a fresh store from the
//! pre-instantiated component, the request handed to the guest's
//! `incoming-handler`, and the guest's failures turned into 500, 503 or 504
//! without internals in the body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;
use wasmkv_engine::Engine as KvEngine;
use wasmtime::Store;
use wasmtime::component::ResourceTableError;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::cli::InstanceArgs;
use crate::guest_limits::MemoryLimitExceeded;
use crate::host::{self, Host};
use crate::outbound::OutboundPolicy;
use crate::serve::access_log::{AccessLog, LoggedBody};
use crate::serve::admission::Admission;

/// Everything a request needs, shared by all of them.
pub struct Handler {
    pre: ProxyPre<Host>,
    kv: KvEngine,
    instance: InstanceArgs,
    outbound: OutboundPolicy,
    timeout: Option<Duration>,
    admission: Admission,
}

/// Why a guest did not produce a response.
enum Failure {
    TimedOut,
    Trapped(wasmtime::Error),
}

impl Handler {
    /// A handler for `pre`'s component on the stores of `kv`.
    pub fn new(
        pre: ProxyPre<Host>,
        kv: KvEngine,
        instance: InstanceArgs,
        outbound: OutboundPolicy,
        timeout: Option<Duration>,
        admission: Admission,
    ) -> Self {
        Self {
            pre,
            kv,
            instance,
            outbound,
            timeout,
            admission,
        }
    }

    /// The admission control, so shutdown can wait for every instance.
    pub fn admission(&self) -> &Admission {
        &self.admission
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
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|host| &mut host.memory);
        // Each epoch tick ends the guest's slice, so a guest spinning in wasm
        // yields: its request's deadline, or shutdown, can then stop it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
    }

    /// Instantiates the component for a throwaway store, so a component
    /// that cannot be instantiated is a startup error, not a 500 on every
    /// request.
    pub async fn check_instantiates(&self) -> anyhow::Result<()> {
        let mut store = self.new_store()?;
        self.pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    /// Serves one request on a fresh instance and logs it when its
    /// response body has been sent.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<LoggedBody>, std::convert::Infallible> {
        let log = AccessLog::start(&request);
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let response = match self.admission.enter(deadline).await {
            Ok(permit) => self.run_guest(request, permit, deadline, &log).await,
            Err(refused) => {
                tracing::warn!(target: "wasmkv::serve", "{} {}: {refused}", log.method(), log.path());
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
        Ok(response.map(|body| LoggedBody::new(body, status, content_length, log)))
    }

    async fn run_guest(
        self: &Arc<Self>,
        request: Request<Incoming>,
        permit: tokio::sync::OwnedSemaphorePermit,
        deadline: Option<tokio::time::Instant>,
        log: &AccessLog,
    ) -> Response<HyperOutgoingBody> {
        let (sender, receiver) = oneshot::channel();
        let prepared = self.new_store().and_then(|mut store| {
            let request = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((store, request, out))
        });
        let (mut store, request, out) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::error!(target: "wasmkv::serve", "{} {}: cannot prepare the instance: {e:#}", log.method(), log.path());
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n");
            }
        };
        let pre = self.pre.clone();
        let label = format!("{} {}", log.method(), log.path());
        // The guest runs in a task of its own: it may go on streaming the
        // body, or working, after it has sent the response head.
        let task = tokio::spawn(async move {
            let _permit = permit;
            let call = async {
                let proxy = pre.instantiate_async(&mut store).await?;
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
            if let Err(failure) = &outcome {
                log_failure(&label, failure);
            }
            outcome
        });
        match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                tracing::warn!(target: "wasmkv::serve", "{} {}: the handler answered with error {code:?}", log.method(), log.path());
                plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
            }
            // The outparam was dropped unset: the task has ended.
            Err(_) => match task.await {
                Ok(Ok(())) => {
                    tracing::error!(target: "wasmkv::serve", "{} {}: the handler returned without setting a response", log.method(), log.path());
                    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
                }
                Ok(Err(Failure::TimedOut)) => {
                    plain(StatusCode::GATEWAY_TIMEOUT, "the request timed out\n")
                }
                Ok(Err(Failure::Trapped(_))) => {
                    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
                }
                Err(e) => {
                    tracing::error!(target: "wasmkv::serve", "{} {}: the handler task failed: {e}", log.method(), log.path());
                    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
                }
            },
        }
    }
}

/// Logs why a guest stopped, once, in the operator's terms.
fn log_failure(label: &str, failure: &Failure) {
    match failure {
        Failure::TimedOut => {
            tracing::warn!(target: "wasmkv::serve", "{label}: ran past --timeout and was stopped")
        }
        Failure::Trapped(e) => {
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
    }
}

/// A short plain-text response of wasmkv's own.
fn plain(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
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
