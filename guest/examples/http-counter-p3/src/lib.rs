//! Counts hits per path in bucket `default` and answers with the count: the
//! WASI 0.3 twin of `http-counter`.
//!
//! `wasmkv serve` reuses an instance of it for many requests, several at
//! once; the count lives in the store, not in the instance, so it goes on
//! across instances, restarts and processes.

use wasmkv_guest::Bucket;
use wasmkv_guest::p3::{Handler, Request, Response};

struct HitCounter;

impl Handler for HitCounter {
    async fn handle(request: Request) -> Response {
        let key = format!("hits:{}", request.path());
        match Bucket::open("default").and_then(|bucket| bucket.increment(&key, 1)) {
            Ok(hits) => Response::text(200, format!("{hits}\n")),
            Err(e) => Response::text(500, format!("{e}\n")),
        }
    }
}

wasmkv_guest::export_p3_handler!(HitCounter);
