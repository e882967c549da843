//! What a connection may cost the server before it sends a request: a cap
//! on open connections, a bound on how long a request's headers may take
//! to arrive, and a bound on how long a keep-alive connection may sit idle.
//! Without them, clients that open connections and never finish a request
//! (slowloris) would hold file descriptors and memory forever.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The connection limits (`--max-concurrent-connections`,
/// `--header-read-timeout`, `--idle-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// From a request's first byte to the end of its headers.
    pub header_read_timeout: Duration,
    /// From a connection's start, or the end of its last response, to the
    /// first byte of its next request.
    pub idle_timeout: Duration,
}

/// Where one connection is between requests, as the watchdog sees it.
#[derive(Debug)]
struct Phase {
    /// Requests whose response has not been sent yet.
    in_flight: usize,
    /// When the connection last became idle (or was accepted).
    idle_since: Instant,
    /// When the first byte of the next request arrived, if it has.
    request_started: Option<Instant>,
}

/// One connection's activity, shared by its reader, its requests and its
/// watchdog. The watchdog wakes on its own at the earliest moment the
/// connection could be due and looks again; only a request that ends
/// while the watchdog waits for it wakes it, so a busy keep-alive
/// connection costs about one wake-up per `--idle-timeout`, not one per
/// request.
#[derive(Debug)]
pub struct Activity {
    phase: Mutex<Phase>,
    /// The watchdog waits for the requests in flight to end.
    parked: AtomicBool,
    ended: Notify,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase {
                in_flight: 0,
                idle_since: Instant::now(),
                request_started: None,
            }),
            parked: AtomicBool::new(false),
            ended: Notify::new(),
        })
    }

    fn update(&self, change: impl FnOnce(&mut Phase)) {
        if let Ok(mut phase) = self.phase.lock() {
            change(&mut phase);
        }
    }

    /// Bytes arrived: when none was expected, a request has begun.
    fn read_some(&self) {
        self.update(|phase| {
            if phase.in_flight == 0 && phase.request_started.is_none() {
                phase.request_started = Some(Instant::now());
            }
        });
    }

    /// A request's headers are in: it is now the handler's, and the
    /// connection waits for its response, however long that takes
    /// (`--timeout` bounds it).
    pub fn request_begins(self: &Arc<Self>) -> RequestInFlight {
        self.update(|phase| {
            phase.in_flight += 1;
            phase.request_started = None;
        });
        RequestInFlight(self.clone())
    }

    /// When the connection is to be closed, as things stand; `None` while
    /// a request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let phase = self.phase.lock().ok()?;
        if phase.in_flight > 0 {
            return None;
        }
        Some(match phase.request_started {
            Some(started) => started + limits.header_read_timeout,
            None => phase.idle_since + limits.idle_timeout,
        })
    }

    /// Resolves when the connection has been idle, or reading a request's
    /// headers, for longer than `limits` allow. Between looks it sleeps at
    /// most `--header-read-timeout`: a request that begins while it sleeps
    /// is due no sooner than that after it began, so no deadline is missed.
    pub async fn expired(&self, limits: ConnectionLimits) {
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        loop {
            let now = Instant::now();
            let next_look = now + limits.header_read_timeout;
            match self.deadline(&limits) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => {
                    sleep.as_mut().reset(deadline.min(next_look));
                    sleep.as_mut().await;
                }
                None => {
                    self.parked.store(true, Ordering::SeqCst);
                    // A request that ended before `parked` was seen set
                    // did not notify: look once more before waiting.
                    if self.deadline(&limits).is_none() {
                        sleep.as_mut().reset(next_look);
                        tokio::select! {
                            _ = self.ended.notified() => {}
                            _ = sleep.as_mut() => {}
                        }
                    }
                    self.parked.store(false, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Held by a request's response body: when it is dropped (the response is
/// sent, or abandoned), the connection is idle again.
pub struct RequestInFlight(Arc<Activity>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        let mut idle = false;
        self.0.update(|phase| {
            phase.in_flight = phase.in_flight.saturating_sub(1);
            if phase.in_flight == 0 {
                phase.idle_since = Instant::now();
                idle = true;
            }
        });
        if idle && self.0.parked.load(Ordering::SeqCst) {
            self.0.ended.notify_one();
        }
    }
}

/// A connection's socket that reports the bytes it reads to its
/// [`Activity`].
pub struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Watched<IO> {
    /// Watches reads from `io`.
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_connections: 1,
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(30),
    };

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let activity = Activity::new();
        let start = Instant::now();
        activity.expired(LIMITS).await;
        assert_eq!(start.elapsed(), LIMITS.idle_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_request_has_the_header_timeout_from_its_first_byte() {
        let activity = Activity::new();
        tokio::time::advance(Duration::from_secs(10)).await;
        activity.read_some();
        let start = Instant::now();
        activity.expired(LIMITS).await;
        assert_eq!(start.elapsed(), LIMITS.header_read_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_never_expires_and_idles_the_connection_when_done() {
        let activity = Activity::new();
        activity.read_some();
        let request = activity.request_begins();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move {
                activity.expired(LIMITS).await;
                Instant::now()
            })
        };
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(!waiter.is_finished());
        let done = Instant::now();
        drop(request);
        assert_eq!(waiter.await.unwrap() - done, LIMITS.idle_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_shorter_than_the_header_timeout_is_kept_after_a_request() {
        let limits = ConnectionLimits {
            idle_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            ..LIMITS
        };
        let activity = Activity::new();
        let request = activity.request_begins();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move {
                activity.expired(limits).await;
                Instant::now()
            })
        };
        tokio::time::advance(Duration::from_millis(2500)).await;
        let done = Instant::now();
        drop(request);
        assert_eq!(waiter.await.unwrap() - done, limits.idle_timeout);
    }
}
