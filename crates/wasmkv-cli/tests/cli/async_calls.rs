//! `wasmcloud:keyvalue`'s calls are concurrent host calls: a 0.3 handler
//! that awaits four `get`s together has all four at Redis at once. Shown
//! without timing: a proxy between `wasmkv serve` and a real redis-server
//! holds every GET back until four are waiting, and says whether they
//! came together or it gave up waiting. The same route through the
//! synchronous `wasi:keyvalue` draft (one get after another) cannot get
//! them there together.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmkv_test_servers::RedisServer;

use crate::common::http::{Server, get, runtime};
use crate::common::workdir;

/// GETs the proxy waits for before it lets any through.
const TOGETHER: usize = 4;
/// How long it holds a GET waiting for the others.
const HOLD: Duration = Duration::from_secs(3);

/// A TCP proxy in front of Redis that holds GETs back (see the module doc).
struct HoldingProxy {
    port: u16,
    /// GETs released because [`TOGETHER`] were waiting at once.
    released_together: Arc<AtomicUsize>,
    /// GETs released because [`HOLD`] passed first.
    released_alone: Arc<AtomicUsize>,
}

impl HoldingProxy {
    fn start(redis_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let released_together = Arc::new(AtomicUsize::new(0));
        let released_alone = Arc::new(AtomicUsize::new(0));
        let (together, alone) = (released_together.clone(), released_alone.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let server = TcpStream::connect(("127.0.0.1", redis_port)).unwrap();
                let (together, alone) = (together.clone(), alone.clone());
                let mut back = server.try_clone().unwrap();
                let mut to_client = client.try_clone().unwrap();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut back, &mut to_client);
                });
                std::thread::spawn(move || forward_holding(client, server, &together, &alone));
            }
        });
        HoldingProxy {
            port,
            released_together,
            released_alone,
        }
    }
}

/// Copies `client`'s commands to `server`, holding GETs (and whatever
/// follows them, to keep the order) until [`TOGETHER`] GETs wait or
/// [`HOLD`] passes.
fn forward_holding(
    mut client: TcpStream,
    mut server: TcpStream,
    together: &AtomicUsize,
    alone: &AtomicUsize,
) {
    client
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let (mut pending, mut held) = (Vec::<u8>::new(), Vec::<u8>::new());
    let (mut gets, mut since) = (0usize, None::<Instant>);
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match client.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        while let Some((len, is_get)) = next_command(&pending) {
            let command: Vec<u8> = pending.drain(..len).collect();
            if is_get || gets > 0 {
                held.extend_from_slice(&command);
                if is_get {
                    gets += 1;
                    since.get_or_insert_with(Instant::now);
                }
            } else if server.write_all(&command).is_err() {
                return;
            }
        }
        let release = if gets >= TOGETHER {
            Some(together)
        } else if since.is_some_and(|t| t.elapsed() >= HOLD) {
            Some(alone)
        } else {
            None
        };
        if let Some(counter) = release {
            counter.fetch_add(gets, Ordering::SeqCst);
            if server.write_all(&held).is_err() {
                return;
            }
            held.clear();
            (gets, since) = (0, None);
        }
    }
}

/// The length of the first whole RESP command in `buf` (an array of bulk
/// strings, as clients send) and whether it is a GET; `None` while it is
/// incomplete.
fn next_command(buf: &[u8]) -> Option<(usize, bool)> {
    let line = |at: usize| -> Option<(usize, &[u8])> {
        let end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
        Some((end + 2, &buf[at..end]))
    };
    let (mut at, head) = line(0)?;
    let count: usize = std::str::from_utf8(head.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut name = Vec::new();
    for i in 0..count {
        let (next, size) = line(at)?;
        let size: usize = std::str::from_utf8(size.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        if buf.len() < next + size + 2 {
            return None;
        }
        if i == 0 {
            name = buf[next..next + size].to_ascii_uppercase();
        }
        at = next + size + 2;
    }
    Some((at, name == b"GET"))
}

/// `/get4` of `component` through the proxy: how the proxy released its
/// GETs, (together, alone).
fn four_gets_through_the_proxy(component: &str) -> (usize, usize) {
    let redis = RedisServer::start();
    let proxy = HoldingProxy::start(redis.port());
    let dir = workdir();
    let store = format!("default=redis://127.0.0.1:{}", proxy.port);
    let server = Server::start(dir.path(), component, &["--store", &store, "--bucket", ""]);
    runtime().block_on(async {
        assert_eq!(get(server.addr(), "/seed").await.0, 200);
        let (status, body) = get(server.addr(), "/get4").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.len(), 400, "the four values");
    });
    (
        proxy.released_together.load(Ordering::SeqCst),
        proxy.released_alone.load(Ordering::SeqCst),
    )
}

#[test]
fn a_handler_awaiting_four_async_gets_has_all_four_at_redis_at_once() {
    assert_eq!(
        four_gets_through_the_proxy("bench_http_async"),
        (TOGETHER, 0),
        "the four gets did not reach Redis together"
    );
}

#[test]
fn the_same_route_through_the_synchronous_draft_sends_them_one_by_one() {
    let (together, alone) = four_gets_through_the_proxy("bench_http_p3");
    assert_eq!((together, alone), (0, TOGETHER));
}
