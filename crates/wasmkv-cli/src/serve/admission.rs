//! `--max-concurrency` and `--max-queued`: at most N instances at once, a
//! bounded queue behind them, and 503 rather than an unbounded pile-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The slots requests run in and the queue before them.
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: u32,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Why a request was not let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue already holds this many requests.
    QueueFull(usize),
    /// The request's deadline passed while it waited.
    Expired,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::QueueFull(n) => write!(
                f,
                "refused with 503: {n} requests already wait for a slot (--max-queued)"
            ),
            Refused::Expired => write!(
                f,
                "refused with 503: --timeout passed while waiting for a slot (--max-concurrency)"
            ),
        }
    }
}

/// Counts a request as waiting for as long as it exists, so a client that
/// hangs up while queued frees its place.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    /// `capacity` requests at once, `max_waiting` more queued.
    pub fn new(capacity: u32, max_waiting: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A slot, at once or after waiting in line (first come, first served)
    /// until `deadline`.
    pub async fn enter(&self, deadline: Option<Instant>) -> Result<OwnedSemaphorePermit, Refused> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if before >= self.max_waiting {
            return Err(Refused::QueueFull(before));
        }
        let acquire = self.slots.clone().acquire_owned();
        let permit = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, acquire)
                .await
                .map_err(|_| Refused::Expired)?,
            None => acquire.await,
        };
        // The semaphore is never closed.
        permit.map_err(|_| Refused::Expired)
    }

    /// Waits until every slot is free (every instance has ended), for a
    /// graceful shutdown. Returns how many were still busy at `deadline`.
    pub async fn drain(&self, deadline: Instant) -> usize {
        match tokio::time::timeout_at(deadline, self.slots.acquire_many(self.capacity)).await {
            Ok(_) => 0,
            Err(_) => self.capacity as usize - self.slots.available_permits(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let admission = Admission::new(1, 0);
        let _held = admission.enter(None).await.unwrap();
        assert_eq!(
            admission.enter(None).await.unwrap_err(),
            Refused::QueueFull(0)
        );
    }

    #[tokio::test]
    async fn a_queued_request_gets_the_next_free_slot() {
        let admission = Arc::new(Admission::new(1, 1));
        let held = admission.enter(None).await.unwrap();
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.enter(None).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_deadline_ends_the_wait() {
        let admission = Admission::new(1, 4);
        let _held = admission.enter(None).await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            admission.enter(Some(deadline)).await.unwrap_err(),
            Refused::Expired
        );
        assert_eq!(admission.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn drain_reports_the_busy_slots() {
        let admission = Admission::new(3, 0);
        let _held = admission.enter(None).await.unwrap();
        let busy = admission
            .drain(Instant::now() + Duration::from_millis(10))
            .await;
        assert_eq!(busy, 1);
    }
}
