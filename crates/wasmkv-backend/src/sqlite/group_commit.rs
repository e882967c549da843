//! Group commit: every write of a store goes through one writer thread. It
//! takes all the writes waiting at that moment, applies them in one
//! transaction (each inside its own savepoint, so one refused write does not
//! undo the others), commits once — one fsync for the whole group — and only
//! then acknowledges each write. Many concurrent writers share the cost of a
//! durable commit; a single writer pays what it paid before.
//!
//! Some failures (disk full, I/O errors) make SQLite roll back the whole
//! transaction, not just the failing statement. The group stops there: the
//! writes before it were undone with it, the writes after it are not run
//! (each would otherwise commit on its own in autocommit mode while being
//! reported failed), and every write of the group is reported failed.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::OpError;
use crate::error::{BackendError, BackendResult};
use crate::events::{SharedStoreEvents, StoreEvents};

/// Most writes in one transaction, so one group cannot hold the write lock
/// (and other processes) for long.
const MAX_GROUP: usize = 256;

/// How long the writer stays awake polling for work after a group.
const AWAKE_AFTER_GROUP: Duration = Duration::from_micros(100);

/// One write waiting for its group.
trait Job: Send {
    /// Runs the write inside the group's transaction; the error, if any,
    /// on one line.
    fn apply(&mut self, tx: &mut Transaction<'_>) -> Option<String>;
    /// Acknowledges the write once the group's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), &Failed>);
}

/// Why a group was not committed: nothing of it was applied.
#[derive(Debug, Clone)]
pub(super) struct Failed {
    /// What went wrong, on one line.
    message: String,
    /// Whether it was another process's lock held past the busy timeout.
    timed_out: bool,
}

impl Failed {
    fn sqlite(e: &rusqlite::Error) -> Self {
        Failed {
            message: super::explain(e),
            timed_out: super::is_busy(e),
        }
    }

    fn other(message: String) -> Self {
        Failed {
            message,
            timed_out: false,
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Work the writer does in every group's transaction before its writes:
/// bounded, and never a reason to fail them (an error is logged and undone).
pub(super) type Housekeeping = Box<dyn FnMut(&Connection) -> rusqlite::Result<()> + Send>;

/// The handle writes are sent through. Dropping it closes the queue and
/// waits for the thread to commit what was already queued, so closing a
/// store never strands a write that is still waiting for its group.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    store: String,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// Starts the writer thread on its own connection, doing `housekeeping`
    /// in every group.
    pub(super) fn start(
        conn: Connection,
        store: String,
        housekeeping: Housekeeping,
        events: SharedStoreEvents,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let name = store.clone();
        let thread = std::thread::Builder::new()
            .name("wasmkv-sqlite-writer".into())
            .spawn(move || write_groups(conn, queue, &name, housekeeping, &*events))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            store,
        })
    }

    /// Queues `op` for the next group and waits until that group is durable.
    pub(super) async fn submit<T, F>(&self, op: F) -> BackendResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, OpError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            op: Some(op),
            result: None,
            reply,
            store: self.store.clone(),
        });
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(BackendError::unavailable(
                &self.store,
                "the writer thread has stopped",
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(BackendError::unavailable(
                &self.store,
                "the writer thread has stopped",
            ))
        })
    }
}

fn write_groups(
    mut conn: Connection,
    queue: mpsc::Receiver<Box<dyn Job>>,
    store: &str,
    mut housekeeping: Housekeeping,
    events: &dyn StoreEvents,
) {
    while let Ok(first) = next_job(&queue) {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let commit = commit_group(&mut conn, &mut group, &mut housekeeping, store);
        if commit.is_ok() {
            events.committed(group.len(), started.elapsed());
        }
        if let Err(e) = &commit {
            tracing::warn!(target: "wasmkv::sqlite", "{store}: group of {} writes failed: {e}", group.len());
        }
        for job in group {
            job.finish(commit.as_ref().map(|_| ()));
        }
    }
}

/// Waits for the next write. The thread first polls for a moment, yielding
/// the CPU between polls, and only then sleeps: a writer that sets again right
/// after its acknowledgement (the common loop) then finds the thread awake,
/// instead of paying for a futex wake-up (measured at 10–15 µs of a ~130 µs
/// durable commit on the 2-core VM docs/bench/history.md describes).
fn next_job(queue: &mpsc::Receiver<Box<dyn Job>>) -> Result<Box<dyn Job>, mpsc::RecvError> {
    let until = Instant::now() + AWAKE_AFTER_GROUP;
    while Instant::now() < until {
        match queue.try_recv() {
            Ok(job) => return Ok(job),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    queue.recv()
}

fn commit_group(
    conn: &mut Connection,
    group: &mut [Box<dyn Job>],
    housekeeping: &mut Housekeeping,
    store: &str,
) -> Result<(), Failed> {
    let mut tx = begin(conn)?;
    let tidied = tx.savepoint().and_then(|savepoint| {
        housekeeping(&savepoint)?;
        savepoint.commit()
    });
    if let Err(e) = tidied {
        tracing::warn!(target: "wasmkv::sqlite", "{store}: housekeeping failed, writes go on: {}", super::explain(&e));
        if tx.is_autocommit() {
            // SQLite rolled the transaction back: nothing of the group has
            // run yet, so start it again.
            drop(tx);
            tx = begin(conn)?;
        }
    }
    for job in group.iter_mut() {
        let failure = job.apply(&mut tx);
        if tx.is_autocommit() {
            return Err(Failed::other(format!(
                "SQLite rolled back the whole transaction after a write failed ({}); no write of this group was applied",
                failure.as_deref().unwrap_or("no error was given")
            )));
        }
    }
    tx.commit().map_err(|e| Failed::sqlite(&e))
}

fn begin(conn: &mut Connection) -> Result<Transaction<'_>, Failed> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Failed::sqlite(&e))
}

struct Pending<T, F> {
    op: Option<F>,
    result: Option<Result<T, OpError>>,
    reply: oneshot::Sender<BackendResult<T>>,
    store: String,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, OpError> + Send + 'static,
{
    fn apply(&mut self, tx: &mut Transaction<'_>) -> Option<String> {
        let op = self.op.take()?;
        let result = match tx.savepoint() {
            Ok(savepoint) => match op(&savepoint) {
                // Dropping an uncommitted savepoint rolls back this write only.
                Ok(value) => savepoint.commit().map(|()| value).map_err(OpError::Sqlite),
                Err(e) => Err(e),
            },
            Err(e) => Err(OpError::Sqlite(e)),
        };
        let failure = match &result {
            Ok(_) => None,
            Err(OpError::Sqlite(e)) => Some(super::explain(e)),
            Err(OpError::Backend(e)) => Some(e.to_string()),
        };
        self.result = Some(result);
        failure
    }

    fn finish(self: Box<Self>, commit: Result<(), &Failed>) {
        let store = &self.store;
        let answer = match (commit, self.result) {
            (Err(e), _) if e.timed_out => Err(BackendError::timed_out(
                store,
                format_args!("commit failed: {e}"),
            )),
            (Err(e), _) => Err(BackendError::unavailable(
                store,
                format_args!("commit failed: {e}"),
            )),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Ok(()), Some(Err(OpError::Sqlite(e)))) => {
                Err(BackendError::unavailable(store, super::explain(&e)))
            }
            (Ok(()), Some(Err(OpError::Backend(e)))) => Err(e),
            (Ok(()), None) => Err(BackendError::unavailable(store, "write was not applied")),
        };
        // The caller may have gone away (its call was cancelled); the write
        // is durable all the same.
        let _ = self.reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(
        op: impl FnOnce(&Connection) -> Result<(), OpError> + Send + 'static,
    ) -> (Box<dyn Job>, oneshot::Receiver<BackendResult<()>>) {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            op: Some(op),
            result: None,
            reply,
            store: "test".into(),
        });
        (job, answer)
    }

    fn nothing() -> Housekeeping {
        Box::new(|_| Ok(()))
    }

    fn insert(key: &'static str) -> impl FnOnce(&Connection) -> Result<(), OpError> + Send {
        move |conn| {
            conn.execute("INSERT INTO t (k) VALUES (?1)", [key])?;
            Ok(())
        }
    }

    /// A write that fails the way a full disk does: SQLite has rolled the
    /// whole transaction back by the time the error comes out.
    fn fail_rolling_back_everything(conn: &Connection) -> Result<(), OpError> {
        conn.execute_batch("ROLLBACK")?;
        Err(OpError::Backend(BackendError::unavailable(
            "test",
            "database or disk is full",
        )))
    }

    #[test]
    fn a_whole_transaction_rollback_mid_group_applies_and_acknowledges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("kv.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        let (a, a_answer) = job(insert("a"));
        let (fault, fault_answer) = job(fail_rolling_back_everything);
        let (c, c_answer) = job(insert("c"));
        let mut group = vec![a, fault, c];

        let commit = commit_group(&mut conn, &mut group, &mut nothing(), "test");
        let message = commit.clone().unwrap_err().to_string();
        assert!(message.contains("disk is full"), "{message}");
        for job in group {
            job.finish(commit.as_ref().map(|_| ()));
        }
        for answer in [a_answer, fault_answer, c_answer] {
            assert!(answer.blocking_recv().unwrap().is_err());
        }
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 0, "a write reported failed was applied");
    }

    #[test]
    fn a_refused_write_mid_group_leaves_the_others_committed() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("kv.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        let (a, a_answer) = job(insert("a"));
        let (dup, dup_answer) = job(insert("a"));
        let (c, c_answer) = job(insert("c"));
        let mut group = vec![a, dup, c];
        let commit = commit_group(&mut conn, &mut group, &mut nothing(), "test");
        assert!(commit.is_ok());
        for job in group {
            job.finish(commit.as_ref().map(|_| ()));
        }
        assert!(a_answer.blocking_recv().unwrap().is_ok());
        assert!(dup_answer.blocking_recv().unwrap().is_err());
        assert!(c_answer.blocking_recv().unwrap().is_ok());
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 2);
    }
}
