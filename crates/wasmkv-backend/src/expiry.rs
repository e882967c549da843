//! Expiry: when an entry written with a TTL stops being returned, and the
//! clock read by the stores that keep time themselves (memory and SQLite;
//! Redis expires entries on its own clock).
//!
//! Deadlines are milliseconds since the Unix epoch, so a SQLite file's
//! deadlines mean the same to every process on it and after a restart.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// When a live entry expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// It was written without a TTL.
    Never,
    /// At this many milliseconds after the Unix epoch.
    At(u64),
}

impl Expiry {
    /// The time left from `now_ms`, `None` for [`Expiry::Never`].
    pub fn left(self, now_ms: u64) -> Option<Duration> {
        match self {
            Expiry::Never => None,
            Expiry::At(at) => Some(Duration::from_millis(at.saturating_sub(now_ms))),
        }
    }
}

/// Where a store reads the time, so tests can move it instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// A clock shared by a store and whoever moves it.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// The system clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to: for tests of expiry that must not
/// depend on how fast a busy machine runs.
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at the system clock's time now.
    pub fn starting_now() -> Arc<Self> {
        Arc::new(ManualClock(AtomicU64::new(SystemClock.now_ms())))
    }

    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The deadline of an entry written at `now_ms` with `ttl`: at least one
/// millisecond later, so a TTL never means "already expired".
pub fn deadline(now_ms: u64, ttl: Duration) -> u64 {
    now_ms.saturating_add(ttl_ms(ttl))
}

/// `ttl` in whole milliseconds, at least 1.
pub fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
