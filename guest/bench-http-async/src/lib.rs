//! `bench-http`'s key-value routes as a WASI 0.3 handler on
//! `wasmcloud:keyvalue@0.2.0`, whose every call is async. Beside
//! `bench-http-p3` (the same routes on the synchronous
//! `wasi:keyvalue@0.2.0-draft`), it shows what async calls buy on a store
//! that waits (Redis):
//!
//! - `/get`: the value of key `bench-value`
//! - `/get4`: the values of four keys, the four `get`s awaited together
//! - `/seed`: sets the four keys to 100 bytes each

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use wasmkv_guest::p3::{Handler, Request, Response};
use wasmkv_guest::wasmcloud::Bucket;

const FOUR: [&str; 4] = [
    "bench-value",
    "bench-value-2",
    "bench-value-3",
    "bench-value-4",
];

struct Bench;

impl Handler for Bench {
    async fn handle(request: Request) -> Response {
        let bucket = match Bucket::open("").await {
            Ok(bucket) => bucket,
            Err(e) => return Response::text(500, format!("{e}\n")),
        };
        match request.path() {
            "/get" => match bucket.get(FOUR[0]).await {
                Ok(Some(value)) => Response::bytes(200, "application/octet-stream", value),
                Ok(None) => Response::text(404, "bench-value is not set\n"),
                Err(e) => Response::text(500, format!("{e}\n")),
            },
            "/get4" => {
                let reads =
                    FOUR.map(|key| Box::pin(bucket.get(key)) as Pin<Box<dyn Future<Output = _>>>);
                let mut body = Vec::new();
                for value in all(reads.into()).await {
                    match value {
                        Ok(Some(value)) => body.extend(value),
                        Ok(None) => return Response::text(404, "a /get4 key is not set\n"),
                        Err(e) => return Response::text(500, format!("{e}\n")),
                    }
                }
                Response::bytes(200, "application/octet-stream", body)
            }
            "/seed" => {
                for key in FOUR {
                    if let Err(e) = bucket.set(key, &[b'x'; 100]).await {
                        return Response::text(500, format!("{e}\n"));
                    }
                }
                Response::text(200, "seeded\n")
            }
            _ => Response::text(404, "not found\n"),
        }
    }
}

/// Awaits every future at once, polling each that is not done in turn;
/// their outputs in order.
async fn all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *output = Some(value);
            }
        }
        if outputs.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

wasmkv_guest::export_p3_handler!(Bench);
