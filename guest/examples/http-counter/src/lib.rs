//! Counts hits per path in bucket `default` and answers with the count.
//!
//! Serve it with `wasmkv serve`: every request runs in a fresh instance, yet
//! the count goes on across requests, server restarts and processes,
//! because every instance talks to the same durable store.

use wasmkv_guest::Bucket;
use wasmkv_guest::http::{Handler, Request, Response, export_handler};

struct HitCounter;

impl Handler for HitCounter {
    fn handle(request: Request) -> Response {
        let key = format!("hits:{}", request.path());
        match Bucket::open("default").and_then(|bucket| bucket.increment(&key, 1)) {
            Ok(hits) => Response::text(200, format!("{hits}\n")),
            Err(e) => Response::text(500, format!("{e}\n")),
        }
    }
}

export_handler!(HitCounter);
