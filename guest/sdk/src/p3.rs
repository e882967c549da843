//! WASI 0.3 HTTP handlers (`wasi:http/handler@0.3`, feature `p3`), async,
//! over the [`wasip3`] crate: a [`Request`] that knows its method, path and
//! body, a whole [`Response`] in one value, and [`export_p3_handler!`]. The
//! keyvalue API ([`crate::Bucket`]) works beside it unchanged.
//!
//! ```no_run
//! use wasmkv_guest::Bucket;
//! use wasmkv_guest::p3::{Handler, Request, Response};
//!
//! struct Hits;
//!
//! impl Handler for Hits {
//!     async fn handle(request: Request) -> Response {
//!         match Bucket::open("default").and_then(|b| b.increment(request.path(), 1)) {
//!             Ok(n) => Response::text(200, format!("{n}\n")),
//!             Err(e) => Response::text(500, format!("{e}\n")),
//!         }
//!     }
//! }
//!
//! wasmkv_guest::export_p3_handler!(Hits);
//! ```
//!
//! `wasmkv serve` reuses a 0.3 instance for many requests, several at once:
//! statics and other instance-local state live across requests (a cache),
//! but are not shared between instances, and an instance may be replaced at
//! any time. Keep what must last in a bucket.

use std::future::Future;

pub use wasip3;
use wasip3::http::types::{Fields, Method, Request as WasiRequest, Response as WasiResponse};
use wasip3::{wit_future, wit_stream};

use crate::http_common::{Target, method_name};

/// The most request body bytes [`Request::body`] reads; more is an error,
/// so a client cannot make a handler hold an unbounded body.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// An incoming request, as a handler sees it.
pub struct Request {
    inner: WasiRequest,
    target: Target,
}

impl Request {
    /// Wraps the request `wasi:http` handed to the component.
    pub fn new(inner: WasiRequest) -> Self {
        let target = Target::new(inner.get_path_with_query());
        Self { inner, target }
    }

    /// The method, upper case (`GET`, `POST`, …).
    pub fn method(&self) -> String {
        method_name!(Method, self.inner.get_method())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.path()
    }

    /// The value of query parameter `name` (no percent-decoding).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.target.query(name)
    }

    /// Reads the whole request body, up to [`MAX_REQUEST_BODY`] bytes.
    pub async fn body(self) -> Result<Vec<u8>, String> {
        let (done_tx, done_rx) = wit_future::new(|| Ok(()));
        let (mut body, _trailers) = WasiRequest::consume_body(self.inner, done_rx);
        let mut bytes = Vec::new();
        loop {
            let (result, chunk) = body.read(Vec::with_capacity(64 * 1024)).await;
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_REQUEST_BODY {
                return Err(format!("the request body is over {MAX_REQUEST_BODY} bytes"));
            }
            if !matches!(result, wasip3::wit_bindgen::StreamResult::Complete(_)) {
                break;
            }
        }
        drop(done_tx);
        Ok(bytes)
    }

    /// The raw `wasi:http` request, for anything this type does not wrap.
    pub fn into_inner(self) -> WasiRequest {
        self.inner
    }
}

pub use crate::http_common::Response;

impl Response {
    /// The `wasi:http` response. Its body is written by a task of the
    /// component's own once the host starts reading it.
    pub fn into_wasi(self) -> WasiResponse {
        let headers = Fields::from_list(&self.headers()).unwrap_or_else(|_| Fields::new());
        let (mut body_tx, body_rx) = wit_stream::new();
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = WasiResponse::new(headers, Some(body_rx), trailers_rx);
        drop(trailers_tx);
        let _ = response.set_status_code(self.status);
        let body = self.body;
        wasip3::spawn_local(async move {
            // A client that hung up leaves bytes unwritten: nothing to do.
            let _ = body_tx.write_all(body).await;
        });
        response
    }
}

/// A WASI 0.3 HTTP handler: one async call per request, possibly several
/// at once on the same instance.
pub trait Handler {
    /// Answers one request.
    fn handle(request: Request) -> impl Future<Output = Response>;
}

/// Exports `wasi:http/handler@0.3` for a [`Handler`] type.
#[macro_export]
macro_rules! export_p3_handler {
    ($handler:ty) => {
        struct __WasmkvP3Handler;

        impl $crate::p3::wasip3::exports::http::handler::Guest for __WasmkvP3Handler {
            async fn handle(
                request: $crate::p3::wasip3::http::types::Request,
            ) -> ::core::result::Result<
                $crate::p3::wasip3::http::types::Response,
                $crate::p3::wasip3::http::types::ErrorCode,
            > {
                let request = $crate::p3::Request::new(request);
                ::core::result::Result::Ok(
                    <$handler as $crate::p3::Handler>::handle(request)
                        .await
                        .into_wasi(),
                )
            }
        }

        $crate::p3::wasip3::http::service::export!(__WasmkvP3Handler);
    };
}
