//! Several `wasmkv` processes on one SQLite file: a `wasmkv serve` reading
//! under load and a `wasmkv run` writing without pause. Whatever happens to
//! the reader (paused under load, paused right after its last answer,
//! killed, or reading flat out beside the writer), the writer's WAL stays
//! within twice the auto-checkpoint size, a WAL that grew while a reader
//! held it back shrinks once that reader goes on, and every acknowledged
//! write is seen by every reader afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::common::http::{Server, get, runtime};
use crate::common::{NOTHING_ACKED, WriteLoop, workdir};

/// A full WAL at SQLite's automatic checkpoint: its header and 1000 frames
/// of a 4 KiB page and a 24-byte frame header.
const AUTO_CHECKPOINT_BYTES: u64 = 32 + 1000 * (24 + 4096);

/// What the writer's WAL may reach: twice the auto-checkpoint size.
const WAL_BOUND: u64 = 2 * AUTO_CHECKPOINT_BYTES;

/// Writes each window lasts for at least: every write commits at least one
/// page, so a WAL never restarted would pass [`WAL_BOUND`] twice over.
const WRITES_PER_WINDOW: u64 = 2 * WAL_BOUND / 4096;

/// Connections asking the reader for a key at once.
const READ_CONNECTIONS: usize = 4;

/// How long a window may take to see its writes before the test fails.
const WINDOW_LIMIT: Duration = Duration::from_secs(90);

/// A `wasmkv serve` reading `/get` under load and a write loop in another
/// process, both on `dir`'s default SQLite store.
struct Pair {
    dir: tempfile::TempDir,
    reader: Server,
    writer: WriteLoop,
    load: ReadLoad,
    rt: tokio::runtime::Runtime,
}

impl Pair {
    fn start() -> Self {
        let dir = workdir();
        let rt = runtime();
        let reader = Server::start(dir.path(), "http_probe", &[]);
        let writer = WriteLoop::start(dir.path(), &[], "w-");
        let load = ReadLoad::start(&rt, reader.addr());
        let pair = Pair {
            dir,
            reader,
            writer,
            load,
            rt,
        };
        pair.wait_for_writes(1);
        pair
    }

    fn wal_len(&self) -> u64 {
        std::fs::metadata(self.dir.path().join(".wasmkv/default.db-wal")).map_or(0, |m| m.len())
    }

    /// Waits until the writer has had `count` more writes acknowledged,
    /// watching the WAL all the while; the largest WAL seen.
    fn wait_for_writes(&self, count: u64) -> u64 {
        let start = Instant::now();
        let from = self.writer.last_acked();
        let done =
            |acked: u64| acked != NOTHING_ACKED && (from == NOTHING_ACKED || acked >= from + count);
        let mut largest = 0;
        while !done(self.writer.last_acked()) {
            largest = largest.max(self.wal_len());
            assert!(
                start.elapsed() < WINDOW_LIMIT,
                "the writer had {count} writes acknowledged in {WINDOW_LIMIT:?} (from {from}, now {})",
                self.writer.last_acked()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        largest.max(self.wal_len())
    }

    /// Waits (up to 10 s of further writes) for the WAL to be back within
    /// the bound after a reader that held it back went on.
    fn wal_shrinks_back(&self, what: &str) {
        let start = Instant::now();
        while self.wal_len() > WAL_BOUND {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what}: the WAL stayed at {} bytes (bound {WAL_BOUND}) 10 s after the reader went on",
                self.wal_len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asks the reader for the last write acknowledged so far: it must see it.
    fn reader_sees_the_last_acknowledged_write(&self, what: &str) {
        let last = self.writer.last_acked();
        let (status, body) = self
            .rt
            .block_on(get(self.reader.addr(), &format!("/get?key=w-{last}")));
        assert_eq!(
            (status, body.trim()),
            (200, last.to_string().as_str()),
            "{what}: write w-{last} was acknowledged, the reader does not see it"
        );
    }
}

/// Keep-alive connections asking a server for `/get?key=hot` one request
/// after another until stopped.
struct ReadLoad {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ReadLoad {
    fn start(rt: &tokio::runtime::Runtime, addr: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let tasks = (0..READ_CONNECTIONS)
            .map(|_| {
                let (addr, stop, answered) = (addr.to_string(), stop.clone(), answered.clone());
                rt.spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        if read_on_one_connection(&addr, &stop, &answered)
                            .await
                            .is_err()
                        {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                })
            })
            .collect();
        ReadLoad {
            stop,
            answered,
            tasks,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }

    /// Stops asking and waits until every request under way is answered
    /// (or given up).
    fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks.drain(..) {
            rt.block_on(task).expect("a read task panicked");
        }
    }
}

/// Sends requests on one connection until stopped; an error (a request
/// that takes over a second, as to a paused server) ends the connection.
async fn read_on_one_connection(
    addr: &str,
    stop: &AtomicBool,
    answered: &AtomicU64,
) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    while !stop.load(Ordering::SeqCst) {
        let request = hyper::Request::get("/get?key=hot")
            .header(hyper::header::HOST, addr)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let answer = async {
            let response = sender.send_request(request).await?;
            response.into_body().collect().await
        };
        match tokio::time::timeout(Duration::from_secs(1), answer).await {
            Ok(Ok(_)) => {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer within 1 s".into()),
        }
    }
    Ok(())
}

/// Trials of a pause while the reader is under load. A pause that lands
/// inside a read leaves the paused process holding that read's lock, which
/// SQLite's WAL cannot restart past until it goes on; between reads it holds
/// none, so nearly every trial stays within the bound, and every one
/// shrinks back once the reader goes on.
const TRIALS_UNDER_LOAD: usize = 5;

#[test]
fn a_reader_paused_under_load_does_not_hold_up_the_writers_wal() {
    let pair = Pair::start();
    let mut over = Vec::new();
    for trial in 0..TRIALS_UNDER_LOAD {
        let answered = pair.load.answered();
        while pair.load.answered() < answered + 200 {
            std::thread::sleep(Duration::from_millis(1));
        }
        pair.reader.pause();
        let largest = pair.wait_for_writes(WRITES_PER_WINDOW);
        pair.reader.resume();
        eprintln!("paused under load, trial {trial}: largest WAL {largest} bytes");
        if largest > WAL_BOUND {
            over.push(largest);
        }
        let what = format!("paused under load, trial {trial}");
        pair.wal_shrinks_back(&what);
        pair.reader_sees_the_last_acknowledged_write(&what);
    }
    assert!(
        over.len() <= 1,
        "the WAL passed {WAL_BOUND} bytes in {} of {TRIALS_UNDER_LOAD} trials: {over:?}",
        over.len()
    );
}

#[test]
fn a_reader_paused_right_after_its_last_answer_does_not_hold_up_the_writers_wal() {
    let mut pair = Pair::start();
    pair.wait_for_writes(100);
    pair.load.stop(&pair.rt);
    assert!(pair.load.answered() > 0, "the reader answered no request");
    for trial in 0..3 {
        pair.reader.pause();
        let largest = pair.wait_for_writes(WRITES_PER_WINDOW);
        pair.reader.resume();
        assert!(
            largest <= WAL_BOUND,
            "trial {trial}: the WAL reached {largest} bytes (bound {WAL_BOUND}) while an idle reader was paused"
        );
        pair.reader_sees_the_last_acknowledged_write(&format!("idle pause, trial {trial}"));
    }
}

#[test]
fn a_reader_killed_under_load_does_not_hold_up_the_writers_wal() {
    let mut pair = Pair::start();
    pair.wait_for_writes(100);
    pair.reader.kill9();
    let largest = pair.wait_for_writes(WRITES_PER_WINDOW);
    assert!(
        largest <= WAL_BOUND,
        "the WAL reached {largest} bytes (bound {WAL_BOUND}) after the reader was killed"
    );
    pair.load.stop(&pair.rt);
    pair.reader = Server::start(pair.dir.path(), "http_probe", &[]);
    pair.reader_sees_the_last_acknowledged_write("a new reader after kill -9");
}

#[test]
fn a_reader_and_a_writer_flat_out_keep_the_wal_bounded() {
    let pair = Pair::start();
    let answered = pair.load.answered();
    let largest = pair.wait_for_writes(2 * WRITES_PER_WINDOW);
    let reads = pair.load.answered() - answered;
    eprintln!("flat out: {reads} reads beside the writes, largest WAL {largest} bytes");
    assert!(reads > 1000, "the reader answered only {reads} requests");
    assert!(
        largest <= WAL_BOUND,
        "the WAL reached {largest} bytes (bound {WAL_BOUND}) with one process reading and one writing"
    );
    pair.reader_sees_the_last_acknowledged_write("flat out");
}
