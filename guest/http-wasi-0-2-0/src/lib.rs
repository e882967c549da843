//! Counts hits in bucket `default` like the http-counter example, but
//! written directly against `wasi:http@0.2.0`, so the serve tests cover the
//! oldest 0.2 patch version a toolchain emits.

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasmkv_guest::Bucket;

struct Handler;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let (status, body) =
            match Bucket::open("default").and_then(|b| b.increment("wasi-0.2.0", 1)) {
                Ok(n) => (200, format!("{n}\n")),
                Err(e) => (500, format!("{e}\n")),
            };
        let response = OutgoingResponse::new(Fields::new());
        let _ = response.set_status_code(status);
        let Ok(outgoing) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = outgoing.write() {
            let _ = stream.blocking_write_and_flush(body.as_bytes());
        }
        let _ = OutgoingBody::finish(outgoing, None);
    }
}

wasi::http::proxy::export!(Handler);
