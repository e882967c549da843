//! The listener: HTTP/1.1 with keep-alive on every accepted connection, at
//! most `--max-concurrent-connections` at once, each closed when idle or
//! slow to send a request (see `connections`), until SIGINT or SIGTERM;
//! then no new connections, in-flight requests and the work of reused
//! instances finish (bounded by `--shutdown-timeout`), and the stores are
//! closed.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

use crate::exit;
use crate::serve::connections::{Activity, ConnectionLimits, Watched};
use crate::serve::handler::{Handler, Instances};

/// Serves `listener` until a signal, then shuts down; returns the exit code.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    limits: ConnectionLimits,
    shutdown_timeout: Duration,
) -> i32 {
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            exit::report(&anyhow::Error::new(e).context("cannot watch SIGINT and SIGTERM"));
            return exit::SETUP_FAILED;
        }
    };
    match listener.local_addr() {
        Ok(addr) => announce(&format!("wasmkv: serving HTTP on http://{addr}/")),
        Err(e) => {
            exit::report(&anyhow::Error::new(e).context("cannot read the listening address"));
            return exit::SETUP_FAILED;
        }
    }

    let graceful = GracefulShutdown::new();
    let connection_slots = Arc::new(Semaphore::new(limits.max_connections));
    let signal_name = loop {
        // At the cap, further connections wait in the kernel's accept queue.
        let slot = tokio::select! {
            slot = connection_slots.clone().acquire_owned() => slot,
            _ = interrupt.recv() => break "SIGINT",
            _ = terminate.recv() => break "SIGTERM",
        };
        let Ok(slot) = slot else { break "shutdown" };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, go on.
                        tracing::warn!(target: "wasmkv::serve", "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let open = handler.metrics().map(|m| OpenConnection::new(&m.http.connections));
                let activity = Activity::new();
                let service = {
                    let (handler, activity) = (handler.clone(), activity.clone());
                    hyper::service::service_fn(move |request| {
                        let in_flight = activity.request_begins();
                        let handler = handler.clone();
                        async move {
                            let response = handler.handle(request).await?;
                            // The connection is busy until this body is done.
                            Ok::<_, std::convert::Infallible>(response.map(|body| {
                                body.map_frame(move |frame| {
                                    let _until_the_body_is_dropped = &in_flight;
                                    frame
                                })
                            }))
                        }
                    })
                };
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(Watched::new(stream, activity.clone())), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let (_slot, _open) = (slot, open);
                    tokio::select! {
                        result = connection => {
                            if let Err(e) = result {
                                tracing::debug!(target: "wasmkv::serve", "connection from {peer}: {e}");
                            }
                        }
                        _ = activity.expired(limits) => {
                            tracing::debug!(target: "wasmkv::serve", "connection from {peer}: closed, idle or slow to send its request past --idle-timeout/--header-read-timeout");
                        }
                    }
                });
            }
            _ = interrupt.recv() => break "SIGINT",
            _ = terminate.recv() => break "SIGTERM",
        }
    };
    drop(listener);
    tracing::info!(
        target: "wasmkv::serve",
        "{signal_name}: no longer accepting; waiting up to {} for in-flight requests",
        humantime::format_duration(shutdown_timeout)
    );
    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    let connections_done = tokio::time::timeout_at(deadline, graceful.shutdown())
        .await
        .is_ok();
    // A handler may go on working after its response has been sent.
    let busy = handler.admission().drain(deadline).await;
    let instances = match handler.instances() {
        Instances::Reused(reused) => reused.drain(deadline).await,
        Instances::Fresh(_) => 0,
    };
    if !connections_done || busy > 0 || instances > 0 {
        let also = if instances > 0 {
            format!(" and {instances} reused instance(s) still working")
        } else {
            String::new()
        };
        tracing::warn!(
            target: "wasmkv::serve",
            "--shutdown-timeout passed with {busy} request(s) still running{also}; they were stopped (their writes were not acknowledged)"
        );
    }
    // The last reference to the keyvalue engine goes with the handler:
    // every store is closed and pending writes are committed before exit.
    drop(handler);
    tracing::info!(target: "wasmkv::serve", "stopped");
    0
}

/// Counts a connection open until it is dropped.
struct OpenConnection(prometheus::IntGauge);

impl OpenConnection {
    fn new(gauge: &prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Prints a startup line; a closed stderr is not a reason to stop.
pub fn announce(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
    let _ = stderr.flush();
}
