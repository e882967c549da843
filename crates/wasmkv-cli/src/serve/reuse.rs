//! 0.3 handlers (`wasi:http/handler@0.3.x`): instances reused for many
//! requests, several at once, as `wasmtime serve` reuses them
//! (`wasmtime-wasi-http`'s `ProxyHandler` does the dispatching; this module
//! says when an instance takes a request, when it expires, and what a
//! failure means for each request on it).
//!
//! - An instance takes at most `--max-instance-reuse-count` requests in
//!   all and `--max-instance-concurrent-reuse-count` at once, and is
//!   dropped after `--idle-instance-timeout` with nothing to do.
//! - A request past `--timeout` gets 504; its instance takes no new
//!   requests. The others on it go on; once the most recent of them has
//!   also run for `--timeout`, or the instance is stuck (a guest spinning,
//!   a synchronous host call), the instance is stopped and every request
//!   still on it gets 503: none of them was answered, so nothing they did
//!   was acknowledged.
//! - A trap (or `--max-memory`, `--max-resources`) stops the instance:
//!   every request still on it gets 500, and the next request gets a
//!   fresh instance.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, Proxy, ProxyHandler, ShouldAccept,
    TrapOrPanicError, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::host::Host;
use crate::metrics::Metrics;
use crate::metrics::instances::{LiveInstance, StopCause};
use crate::serve::handler::{Failure, log_trap};
use crate::serve::instance_setup::InstanceSetup;
use crate::traces::RequestTrace;

/// How far an instance is reused (the flags of the same names).
#[derive(Debug, Clone, Copy)]
pub struct ReusePolicy {
    /// Requests an instance takes in all.
    pub max_requests: usize,
    /// Requests an instance handles at once.
    pub max_concurrent: usize,
    /// How long an instance with nothing to do is kept.
    pub idle_timeout: Duration,
}

/// 0.3 instances, reused.
pub struct ReusedInstances {
    dispatcher: ProxyHandler<Workers>,
    shutdown: CancellationToken,
    live: watch::Receiver<usize>,
}

/// What `ProxyHandler` asks of us: how to make an instance, and the state
/// each one's worker keeps.
struct Workers {
    pre: ServicePre<Host>,
    setup: Arc<InstanceSetup>,
    policy: ReusePolicy,
    timeout: Option<Duration>,
    shutdown: CancellationToken,
    live: watch::Sender<usize>,
}

/// What one request carries to the worker that takes it: its deadline, and
/// a slot for the worker's fate, so a request whose instance was stopped
/// can tell why.
struct Ticket {
    deadline: Option<Instant>,
    fate: Arc<OnceLock<Arc<Fate>>>,
    trace: Option<Arc<RequestTrace>>,
}

/// How an instance ended, as far as its requests care.
#[derive(Default)]
struct Fate {
    /// It was stopped because a request on it ran past `--timeout`.
    timed_out: AtomicBool,
}

impl ReusedInstances {
    /// Instances of `pre`, each set up by `setup`, reused as `policy` says.
    pub fn new(
        pre: ServicePre<Host>,
        setup: Arc<InstanceSetup>,
        policy: ReusePolicy,
        timeout: Option<Duration>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let (live_tx, live) = watch::channel(0);
        let workers = Workers {
            pre,
            setup,
            policy,
            timeout,
            shutdown: shutdown.clone(),
            live: live_tx,
        };
        Self {
            dispatcher: ProxyHandler::new(workers),
            shutdown,
            live,
        }
    }

    /// Hands `request` to an instance and waits for its response. `permit`
    /// is held until the response body has been sent.
    pub async fn respond(
        &self,
        request: Request<Incoming>,
        permit: OwnedSemaphorePermit,
        deadline: Option<Instant>,
        trace: Option<Arc<RequestTrace>>,
    ) -> Result<Response<WasiBody>, Failure> {
        let fate = Arc::new(OnceLock::new());
        let ticket = Ticket {
            deadline,
            fate: fate.clone(),
            trace,
        };
        let request =
            request.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
        let call = self.dispatcher.handle(ticket, request);
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call)
                .await
                .map_err(|_| Failure::TimedOut)?,
            None => call.await,
        };
        match outcome {
            Ok(response) => Ok(response.map(|body| {
                body.map_frame(move |frame| {
                    let _held_until_the_body_is_dropped = &permit;
                    frame
                })
                .boxed_unsync()
            })),
            Err(e) => Err(classify(e, &fate)),
        }
    }

    /// Lets idle instances go at once and takes no more requests, then
    /// waits until every instance has ended (its post-response work done)
    /// or `deadline` passes. Returns how many were still running.
    pub async fn drain(&self, deadline: Instant) -> usize {
        self.shutdown.cancel();
        let mut live = self.live.clone();
        match tokio::time::timeout_at(deadline, live.wait_for(|n| *n == 0)).await {
            Ok(_) => 0,
            Err(_) => *self.live.borrow(),
        }
    }
}

/// What a request that got no response ran into.
fn classify(e: wasmtime::Error, fate: &OnceLock<Arc<Fate>>) -> Failure {
    if e.downcast_ref::<ExpirationError>().is_some() {
        return Failure::TimedOut;
    }
    if let Some(failed) = e.downcast_ref::<InstantiationError<Ticket>>() {
        return Failure::Setup(anyhow::anyhow!(
            "cannot instantiate the component: {:#}",
            failed.error
        ));
    }
    if let Some(code) = e.downcast_ref::<wasmtime_wasi_http::p3::bindings::http::types::ErrorCode>()
    {
        return Failure::ErrorCode(format!("{code:?}"));
    }
    if e.downcast_ref::<TrapOrPanicError>().is_some() {
        let timed_out = fate
            .get()
            .is_some_and(|fate| fate.timed_out.load(Ordering::SeqCst));
        return if timed_out {
            Failure::InstanceStopped
        } else {
            Failure::InstanceFailed
        };
    }
    Failure::Trapped(e)
}

impl HandlerState for Workers {
    type StoreData = Host;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<Host, Expiry, Worker>> {
        let mut store = self
            .setup
            .new_store()
            .map_err(wasmtime::Error::from_anyhow)?;
        // A component whose start-up never ends must not hold a worker.
        let instantiate = self.pre.instantiate_async(&mut store);
        let service = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, instantiate)
                .await
                .map_err(|_| wasmtime::format_err!("instantiation ran past --timeout"))??,
            None => instantiate.await?,
        };
        let fate = Arc::new(Fate::default());
        self.live.send_modify(|n| *n += 1);
        let metrics = self.setup.metrics().cloned();
        let counted = metrics.as_ref().map(|m| m.instances.born());
        tracing::debug!(target: "wasmkv::serve", "a new instance; {} live", *self.live.borrow());
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: <Host as WasiHttpView>::http,
            expiration: Expiry {
                policy: self.policy,
                timeout: self.timeout,
                fate: fate.clone(),
                timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
                armed_for: None,
                shutdown: Box::pin(self.shutdown.clone().cancelled_owned()),
            },
            state: Worker {
                policy: self.policy,
                fate,
                shutdown: self.shutdown.clone(),
                live: self.live.clone(),
                served: AtomicUsize::new(0),
                metrics,
                _counted: counted,
            },
        })
    }
}

/// One instance's worker: which requests it takes, and its end.
struct Worker {
    policy: ReusePolicy,
    fate: Arc<Fate>,
    shutdown: CancellationToken,
    live: watch::Sender<usize>,
    /// Requests this instance has taken.
    served: AtomicUsize,
    metrics: Option<Arc<Metrics>>,
    _counted: Option<LiveInstance>,
}

impl WorkerState for Worker {
    type StoreData = Host;
    type RequestData = Ticket;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if self.shutdown.is_cancelled() || total >= self.policy.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.policy.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        store: StoreContextMut<'_, Host>,
        ticket: Ticket,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        let _ = ticket.fate.set(self.fate.clone());
        if let Some(trace) = &ticket.trace {
            InstanceSetup::begin_request(store.data(), trace);
        }
        if self.served.fetch_add(1, Ordering::Relaxed) > 0
            && let Some(metrics) = &self.metrics
        {
            metrics.instances.reused.inc();
        }
        match ticket.deadline {
            Some(deadline) => Box::pin(tokio::time::sleep_until(deadline)),
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, store: Store<Host>, result: wasmtime::Result<()>) {
        self.live.send_modify(|n| *n -= 1);
        if let Err(e) = result {
            if self.shutdown.is_cancelled() {
                tracing::warn!(
                    target: "wasmkv::serve",
                    "an instance still running at the end of --shutdown-timeout was stopped"
                );
            } else if self.fate.timed_out.load(Ordering::SeqCst) {
                tracing::warn!(
                    target: "wasmkv::serve",
                    "an instance was stopped: a request on it ran past --timeout"
                );
                if let Some(metrics) = &self.metrics {
                    metrics.instances.stopped(StopCause::Timeout);
                }
            } else {
                log_trap("an instance of the handler", &e);
                if let Some(metrics) = &self.metrics {
                    metrics.instances.stopped(StopCause::of(&e));
                }
            }
        }
        drop(store);
    }
}

/// When an instance is let go: idle past `--idle-instance-timeout` (at
/// once on shutdown), or busy past `--timeout` since its most recent
/// request started, which only a stuck instance reaches (see the module).
struct Expiry {
    policy: ReusePolicy,
    timeout: Option<Duration>,
    fate: Arc<Fate>,
    timer: Pin<Box<Sleep>>,
    armed_for: Option<(WorkerStatus, std::time::Instant)>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: std::time::Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        if status == WorkerStatus::Idle && this.shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        let limit = match status {
            WorkerStatus::Idle => Some(this.policy.idle_timeout),
            WorkerStatus::Requests | WorkerStatus::PostReturn => this.timeout,
        };
        let Some(limit) = limit else {
            return Poll::Pending;
        };
        if this.armed_for != Some((status, start)) {
            this.armed_for = Some((status, start));
            this.timer.as_mut().reset(Instant::from_std(start) + limit);
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if status != WorkerStatus::Idle {
            this.fate.timed_out.store(true, Ordering::SeqCst);
        }
        Poll::Ready(())
    }
}
