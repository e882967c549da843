//! Waiting for a server, a cluster or a failover to get somewhere.

use std::thread::sleep;
use std::time::{Duration, Instant};

/// Calls `check` every `every` until it returns `Ok(())`; once `deadline`
/// has passed, panics with the reason of its last `Err`.
pub(crate) fn wait_until(
    deadline: Instant,
    every: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) {
    loop {
        let Err(why) = check() else { return };
        assert!(Instant::now() < deadline, "{why}");
        sleep(every);
    }
}
