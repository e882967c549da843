//! Pauses between resends of a command that Redis says did not run (a
//! redirect loop, `TRYAGAIN`, a failover): they double from 2 ms up to a
//! longest pause, and stop once 80% of the store's timeout is spent, so the
//! last attempt still has room to answer within the timeout.

use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(2);

/// One command's pauses.
pub(super) struct Backoff {
    give_up: Instant,
    pause: Duration,
    longest: Duration,
}

impl Backoff {
    /// Starts now, for a store whose round trips are bounded by `timeout`.
    pub fn new(timeout: Duration, longest: Duration) -> Self {
        Backoff {
            give_up: Instant::now() + timeout.mul_f32(0.8),
            pause: FIRST_PAUSE,
            longest,
        }
    }

    /// Sleeps the next pause and returns `true`, or returns `false` at once
    /// when that pause would end past the patience.
    pub async fn pause(&mut self) -> bool {
        if Instant::now() + self.pause > self.give_up {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(self.longest);
        true
    }
}
