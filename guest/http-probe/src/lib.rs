//! A handler whose routes do what the serve tests need to see:
//!
//! - `/ok`: 200 `ok`
//! - `/trap`: traps (a Rust panic is `unreachable`)
//! - `/sleep?ms=N`: waits N ms on the host clock, then 200 `slept N`
//! - `/spin`: loops in wasm forever
//! - `/outbound?url=URL`: GETs URL; 200 with its status and body, or 502
//!   with the `wasi:http` error code
//! - `/incr?key=K`: increments K in bucket `default`, answers the count
//! - `/get?key=K`: K's value in bucket `default` as text, or `absent`
//! - `/fresh?kb=N`: what a fresh instance must show: answers `SEEN MARKED
//!   ADDR`, where SEEN counts this instance's requests in a static (1 in a
//!   fresh instance), and MARKED counts the bytes of a new N KiB heap
//!   buffer at ADDR that already hold the mark this route then writes over
//!   all of it (0 unless an earlier instance's memory showed through)

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmkv_guest::Bucket;
use wasmkv_guest::http::wasip2;
use wasmkv_guest::http::{Handler, Request, Response, export_handler};

struct Probe;

static SEEN: AtomicU64 = AtomicU64::new(0);
const MARK: u8 = 0xA5;

impl Handler for Probe {
    fn handle(request: Request) -> Response {
        match request.path() {
            "/ok" => Response::text(200, "ok\n"),
            "/trap" => panic!("the probe was asked to trap"),
            "/sleep" => {
                let ms: u64 = request
                    .query("ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                Response::text(200, format!("slept {ms}\n"))
            }
            "/spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/outbound" => match request.query("url") {
                Some(url) => fetch(url),
                None => Response::text(400, "missing ?url=\n"),
            },
            "/incr" => {
                let key = request.query("key").unwrap_or("probe").to_string();
                match Bucket::open("default").and_then(|b| b.increment(&key, 1)) {
                    Ok(n) => Response::text(200, format!("{n}\n")),
                    Err(e) => Response::text(500, format!("{e}\n")),
                }
            }
            "/get" => {
                let key = request.query("key").unwrap_or("probe").to_string();
                match Bucket::open("default").and_then(|b| b.get(&key)) {
                    Ok(Some(value)) => {
                        Response::text(200, format!("{}\n", String::from_utf8_lossy(&value)))
                    }
                    Ok(None) => Response::text(200, "absent\n"),
                    Err(e) => Response::text(500, format!("{e}\n")),
                }
            }
            "/fresh" => {
                let kb: usize = request
                    .query("kb")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(64);
                fresh(kb)
            }
            _ => Response::text(404, "not found\n"),
        }
    }
}

/// The `/fresh` answer. The buffer is read before it is written, through
/// volatile reads, so the compiler cannot assume a new allocation's
/// contents: what is read is what linear memory holds.
fn fresh(kb: usize) -> Response {
    let seen = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
    let len = kb * 1024;
    let mut buffer: Vec<u8> = Vec::with_capacity(len);
    let start = buffer.as_mut_ptr();
    let marked = (0..len)
        .filter(|&i| unsafe { std::ptr::read_volatile(start.add(i)) } == MARK)
        .count();
    buffer.resize(len, MARK);
    std::hint::black_box(&buffer);
    Response::text(200, format!("{seen} {marked} {}\n", start as usize))
}

/// GETs `url` (http://HOST:PORT/PATH) through `wasi:http/outgoing-handler`.
fn fetch(url: &str) -> Response {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

    let Some(rest) = url.strip_prefix("http://") else {
        return Response::text(400, "only http:// URLs\n");
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return Response::text(502, format!("error: {code:?}\n")),
    };
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Response::text(502, format!("error: {code:?}\n")),
        other => return Response::text(502, format!("error: {other:?}\n")),
    };
    let status = response.status();
    let mut body = Vec::new();
    if let Ok(incoming) = response.consume()
        && let Ok(mut stream) = incoming.stream()
    {
        let _ = (&mut stream).take(1 << 20).read_to_end(&mut body);
    }
    Response::text(
        200,
        format!("upstream {status}: {}", String::from_utf8_lossy(&body)),
    )
}

export_handler!(Probe);
