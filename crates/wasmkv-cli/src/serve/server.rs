//! The listener: HTTP/1.1 with keep-alive on every accepted connection,
//! until SIGINT or SIGTERM; then no new connections, in-flight requests
//! finish (bounded by `--shutdown-timeout`), and the stores are closed.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::exit;
use crate::serve::handler::Handler;

/// Serves `listener` until a signal, then shuts down; returns the exit code.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
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
    let signal_name = loop {
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
                let handler = handler.clone();
                let service = hyper::service::service_fn(move |request| handler.clone().handle(request));
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(target: "wasmkv::serve", "connection from {peer}: {e}");
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
    if !connections_done || busy > 0 {
        tracing::warn!(
            target: "wasmkv::serve",
            "--shutdown-timeout passed with {busy} request(s) still running; they were stopped (their writes were not acknowledged)"
        );
    }
    // The last reference to the keyvalue engine goes with the handler:
    // every store is closed and pending writes are committed before exit.
    drop(handler);
    tracing::info!(target: "wasmkv::serve", "stopped");
    0
}

/// Prints the startup line; a closed stderr is not a reason to stop.
fn announce(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
    let _ = stderr.flush();
}
