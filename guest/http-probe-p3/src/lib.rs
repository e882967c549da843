//! A WASI 0.3 handler whose routes do what the serve tests need to see:
//!
//! - `/ok`: 200 `ok`
//! - `/trap`: traps (a Rust panic is `unreachable`)
//! - `/sleep?ms=N`: awaits the host clock for N ms (other requests on the
//!   instance go on meanwhile), then 200 `slept N as request K`, K this
//!   request's number on its instance (as `/state` counts)
//! - `/spin`: loops in wasm forever
//! - `/state`: counts the requests this instance has seen, in a static:
//!   the same instance answers 1, 2, 3, …; a fresh one starts at 1
//! - `/incr?key=K`: increments K in bucket `default`, answers the count
//! - `/hoard?mb=N`: allocates N MiB and keeps it for the instance's life
//! - `/buckets?n=N`: opens bucket `default` N times and keeps every handle
//! - `/outbound?url=URL`: GETs URL through `wasi:http/client@0.3`; 200 with
//!   its status and body, or 502 with the error code

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmkv_guest::Bucket;
use wasmkv_guest::p3::wasip3;
use wasmkv_guest::p3::{Handler, Request, Response};

static SEEN: AtomicU64 = AtomicU64::new(0);
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static BUCKETS: Mutex<Vec<Bucket>> = Mutex::new(Vec::new());

struct Probe;

impl Handler for Probe {
    async fn handle(request: Request) -> Response {
        match request.path() {
            "/ok" => Response::text(200, "ok\n"),
            "/trap" => panic!("the probe was asked to trap"),
            "/sleep" => {
                let ms: u64 = request
                    .query("ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let number = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
                wasip3::clocks::monotonic_clock::wait_for(ms * 1_000_000).await;
                Response::text(200, format!("slept {ms} as request {number}\n"))
            }
            "/spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/state" => {
                let seen = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
                Response::text(200, format!("{seen}\n"))
            }
            "/hoard" => {
                let mb: usize = request
                    .query("mb")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut hoard = HOARD.lock().unwrap_or_else(|e| e.into_inner());
                for _ in 0..mb {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
                Response::text(200, format!("holding {} MiB\n", hoard.len()))
            }
            "/buckets" => {
                let n: usize = request.query("n").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut held = BUCKETS.lock().unwrap_or_else(|e| e.into_inner());
                for _ in 0..n {
                    match Bucket::open("default") {
                        Ok(bucket) => held.push(bucket),
                        Err(e) => return Response::text(500, format!("{e}\n")),
                    }
                }
                Response::text(200, format!("holding {} buckets\n", held.len()))
            }
            "/incr" => {
                let key = request.query("key").unwrap_or("probe").to_string();
                match Bucket::open("default").and_then(|b| b.increment(&key, 1)) {
                    Ok(n) => Response::text(200, format!("{n}\n")),
                    Err(e) => Response::text(500, format!("{e}\n")),
                }
            }
            "/outbound" => match request.query("url") {
                Some(url) => fetch(url).await,
                None => Response::text(400, "missing ?url=\n"),
            },
            _ => Response::text(404, "not found\n"),
        }
    }
}

/// GETs `url` (http://HOST:PORT/PATH) through `wasi:http/client`.
async fn fetch(url: &str) -> Response {
    use wasip3::http::types::{Fields, Request as Outgoing, Response as Incoming, Scheme};

    let Some(rest) = url.strip_prefix("http://") else {
        return Response::text(400, "only http:// URLs\n");
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (trailers_tx, trailers_rx) = wasip3::wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let (request, _sent) = Outgoing::new(Fields::new(), None, trailers_rx, None);
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let response = match wasip3::http::client::send(request).await {
        Ok(response) => response,
        Err(code) => return Response::text(502, format!("error: {code:?}\n")),
    };
    let status = response.get_status_code();
    let (done_tx, done_rx) = wasip3::wit_future::new(|| Ok(()));
    let (body, _trailers) = Incoming::consume_body(response, done_rx);
    let bytes = body.collect().await;
    drop(done_tx);
    Response::text(
        200,
        format!("upstream {status}: {}", String::from_utf8_lossy(&bytes)),
    )
}

wasmkv_guest::export_p3_handler!(Probe);
