//! Group commit: every write of a store goes through one writer thread. It
//! takes all the writes waiting at that moment, applies them in one
//! transaction (each inside its own savepoint, so one refused write does not
//! undo the others), commits once — one fsync for the whole group — and only
//! then acknowledges each write. Many concurrent writers share the cost of a
//! durable commit; a single writer pays what it paid before.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::OpError;
use crate::error::{BackendError, BackendResult};

/// Most writes in one transaction, so one group cannot hold the write lock
/// (and other processes) for long.
const MAX_GROUP: usize = 256;

/// How long the writer stays awake polling for work after a group.
const AWAKE_AFTER_GROUP: Duration = Duration::from_micros(100);

/// One write waiting for its group.
trait Job: Send {
    /// Runs the write inside the group's transaction.
    fn apply(&mut self, tx: &mut Transaction<'_>);
    /// Acknowledges the write once the group's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

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
    /// Starts the writer thread on its own connection.
    pub(super) fn start(conn: Connection, store: String) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let name = store.clone();
        let thread = std::thread::Builder::new()
            .name("wasmkv-sqlite-writer".into())
            .spawn(move || write_groups(conn, queue, &name))?;
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

fn write_groups(mut conn: Connection, queue: mpsc::Receiver<Box<dyn Job>>, store: &str) {
    while let Ok(first) = next_job(&queue) {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let commit = commit_group(&mut conn, &mut group);
        if let Err(e) = &commit {
            tracing::warn!(target: "wasmkv::sqlite", "{store}: group of {} writes failed: {e}", group.len());
        }
        for job in group {
            job.finish(commit.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// Waits for the next write. The thread first polls for a moment, yielding
/// the CPU between polls, and only then sleeps: a writer that sets again right
/// after its acknowledgement (the common loop) then finds the thread awake,
/// instead of paying for a futex wake-up (measured at 10–15 µs of a ~130 µs
/// durable commit on the 2-core VM BENCHMARKS.md describes).
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

fn commit_group(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> Result<(), String> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    for job in group.iter_mut() {
        job.apply(&mut tx);
    }
    tx.commit().map_err(|e| e.to_string())
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
    fn apply(&mut self, tx: &mut Transaction<'_>) {
        let Some(op) = self.op.take() else { return };
        let result = match tx.savepoint() {
            Ok(savepoint) => match op(&savepoint) {
                // Dropping an uncommitted savepoint rolls back this write only.
                Ok(value) => savepoint.commit().map(|()| value).map_err(OpError::Sqlite),
                Err(e) => Err(e),
            },
            Err(e) => Err(OpError::Sqlite(e)),
        };
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let store = &self.store;
        let answer = match (commit, self.result) {
            (Err(e), _) => Err(BackendError::unavailable(
                store,
                format_args!("commit failed: {e}"),
            )),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Ok(()), Some(Err(OpError::Sqlite(e)))) => Err(BackendError::unavailable(store, e)),
            (Ok(()), Some(Err(OpError::Backend(e)))) => Err(e),
            (Ok(()), None) => Err(BackendError::unavailable(store, "write was not applied")),
        };
        // The caller may have gone away (its call was cancelled); the write
        // is durable all the same.
        let _ = self.reply.send(answer);
    }
}
