//! Writes acknowledged only once replicas have them: `wait_replicas=N`.
//!
//! Redis replicates asynchronously. A primary that dies loses the writes it
//! acknowledged but had not yet sent on, and the replica promoted in its
//! place never saw them. With `wait_replicas=N` every write is followed, in
//! the same pipeline on the same connection, by `WAIT N`, and is
//! acknowledged only once N replicas have it; the replica a failover
//! promotes then has every acknowledged write.
//!
//! A write must then sometimes be sent again: its primary died before
//! answering, or the WAIT fell short. Sent twice, an increment would count
//! twice and a `set` could undo another client's later write. So under
//! `wait_replicas` every write is a Lua script wrapped by `once.lua`, which
//! keeps a record of the operation's id and reply (in the same cluster
//! slot, for [`record_lifetime`]): sent again, it finds the record and gives
//! the same reply without writing again. Sends continue, with doubling
//! pauses, until the store's timeout is nearly spent; only then does the
//! caller get an error, which says the write may or may not have been
//! applied.
//!
//! The cost per write: a script run, one small expiring record, and a
//! round trip from the primary to its replicas and back.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ::redis::{RedisError, Value, cmd};

use super::backoff::Backoff;
use super::connection::{Connection, Resend};
use super::keyspace::Keyspace;
use super::link::did_not_run;
use super::lua::Lua;

/// How long a record outlives its last write. Every resend of a write
/// happens within the store's timeout of its first send (and refreshes the
/// record), so twice the timeout is ample; no shorter than
/// [`SHORTEST_LIFETIME`]. Kept short because every write leaves one: at
/// 10 000 writes/s and the default 5 s timeout, about 100 000 records of a
/// hundred bytes each.
fn record_lifetime(timeout: Duration) -> Duration {
    (timeout * 2).max(SHORTEST_LIFETIME)
}

/// The shortest a record lives, whatever the timeout.
const SHORTEST_LIFETIME: Duration = Duration::from_secs(10);
/// The longest pause between resends: a failover takes seconds.
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// The writes of a store with `wait_replicas` set.
pub(super) struct Replication {
    replicas: u32,
    timeout: Duration,
    /// `increment.lua`, recorded.
    pub increment: Lua,
    /// `compare_and_swap.lua`, recorded.
    pub compare_and_swap: Lua,
    /// `write.lua` (set, delete, create), recorded.
    pub write: Lua,
    /// `swap.lua`, recorded.
    pub swap: Lua,
}

/// A write's Lua body inside `once.lua`.
fn once(body: &str) -> Lua {
    Lua::new(include_str!("once.lua").replace("--BODY--", body))
}

/// Why a replicated write gave no answer.
pub(super) enum Unconfirmed {
    /// Redis refused it for good (a script error, a wrong type): it was not
    /// applied.
    Refused(RedisError),
    /// Not confirmed on enough replicas in time: it may have been applied.
    Unknown(String),
}

impl Replication {
    /// For `replicas` replicas within `timeout` per write.
    pub fn new(replicas: u32, timeout: Duration) -> Self {
        Replication {
            replicas,
            timeout,
            increment: once(include_str!("increment.lua")),
            compare_and_swap: once(include_str!("compare_and_swap.lua")),
            write: once(include_str!("write.lua")),
            swap: once(concat!(
                include_str!("version.lua"),
                include_str!("swap.lua")
            )),
        }
    }

    /// Runs `script` on `keys` (all in one cluster slot) with `args` until
    /// `self.replicas` replicas confirm it, and returns its reply.
    pub async fn run(
        &self,
        conn: &Connection,
        keyspace: &Keyspace,
        script: &Lua,
        mut keys: Vec<String>,
        mut args: Vec<Vec<u8>>,
    ) -> Result<Value, Unconfirmed> {
        keys.push(keyspace.record(&keys[0], &operation_id()));
        let lifetime = record_lifetime(self.timeout).as_millis();
        args.push(lifetime.to_string().into_bytes());
        let (evalsha, eval) = (
            script.call(false, &keys, &args),
            script.call(true, &keys, &args),
        );
        // Short enough that a slow replica leaves room to ask again.
        let wait_ms = (self.timeout / 5).as_millis().max(1);
        let wait = cmd("WAIT").arg(self.replicas).arg(wait_ms as u64).clone();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut backoff = Backoff::new(self.timeout, LONGEST_PAUSE);
        let (mut write, mut to) = (&evalsha, None);
        let mut cause = "no reply".to_string();
        loop {
            let attempt = conn.send_with_wait(write, &wait, to.as_ref());
            let started = std::time::Instant::now();
            let outcome = tokio::time::timeout_at(deadline, attempt).await;
            if matches!(outcome, Ok(Ok(_))) {
                conn.events().waited_for_replicas(started.elapsed());
            }
            match outcome {
                Ok(Ok((reply, acked))) if acked >= i64::from(self.replicas) => return Ok(reply),
                Ok(Ok((_, acked))) => {
                    to = None;
                    cause = format!(
                        "{acked} of {} replica(s) confirmed it within {wait_ms} ms",
                        self.replicas
                    );
                }
                Ok(Err(e)) if e.code() == Some("NOSCRIPT") => {
                    // Not run: the node lacks the script, which EVAL loads.
                    write = &eval;
                    continue;
                }
                Ok(Err(e)) if !worth_resending(&e) => return Err(Unconfirmed::Refused(e)),
                Ok(Err(e)) => {
                    to = Resend::after(&e);
                    match to {
                        Some(Resend::To { .. }) => conn.events().redirected(),
                        _ => conn.events().resent(),
                    }
                    cause = e.to_string();
                }
                // Out of time: the last attempt's outcome says more.
                Err(_) => break,
            }
            if !backoff.pause().await {
                break;
            }
        }
        Err(Unconfirmed::Unknown(format!(
            "not confirmed on {} replica(s) within {} ms ({cause}); it may or may not have been applied",
            self.replicas,
            self.timeout.as_millis()
        )))
    }
}

/// Errors after which the write may be sent again: every failure on the
/// client's side (a lost, refused or missing connection, no reply), and the
/// server replies that say the command did not run, as a Sentinel link
/// ([`did_not_run`]) or a cluster ([`Resend::after`]) reads them. Other
/// replies (a script error, a wrong type) are final.
fn worth_resending(e: &RedisError) -> bool {
    e.code().is_none() || did_not_run(e) || Resend::after(e).is_some()
}

/// An id no other write of any process shares: 128 random bits for this
/// process, then a count.
pub(super) fn operation_id() -> String {
    static PROCESS: OnceLock<(u64, u64)> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (a, b) = PROCESS.get_or_init(|| {
        // Each RandomState is keyed from the operating system's randomness.
        (
            RandomState::new().hash_one(std::process::id()),
            RandomState::new().hash_one(SystemTime::now()),
        )
    });
    format!("{a:016x}{b:016x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_differ() {
        let (a, b) = (operation_id(), operation_id());
        assert_ne!(a, b);
        assert_eq!(a.split_once('-').unwrap().0, b.split_once('-').unwrap().0);
    }

    #[test]
    fn records_outlive_every_resend() {
        assert_eq!(record_lifetime(Duration::from_secs(1)), SHORTEST_LIFETIME);
        assert_eq!(
            record_lifetime(Duration::from_secs(30)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn every_body_fits_the_wrapper() {
        let r = Replication::new(1, Duration::from_secs(1));
        for script in [&r.increment, &r.compare_and_swap, &r.write, &r.swap] {
            assert!(!script.code().contains("--BODY--"));
            assert!(script.code().contains("local function operation()"));
        }
    }
}
