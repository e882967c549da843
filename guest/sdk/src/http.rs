//! Write `wasi:http` handlers (for `wasmkv serve`) with the keyvalue API
//! beside them: a [`Request`] that knows its method, path and body, and
//! [`respond`] that sends a whole response in one call. Enable the `http`
//! feature.
//!
//! ```no_run
//! use wasmkv_guest::Bucket;
//! use wasmkv_guest::http::{Handler, Request, Response, export_handler};
//!
//! struct Hits;
//!
//! impl Handler for Hits {
//!     fn handle(request: Request) -> Response {
//!         match Bucket::open("default").and_then(|b| b.increment(request.path(), 1)) {
//!             Ok(n) => Response::text(200, format!("{n}\n")),
//!             Err(e) => Response::text(500, format!("{e}\n")),
//!         }
//!     }
//! }
//!
//! export_handler!(Hits);
//! ```

use std::io::{Read, Write};

use crate::http_common::{Target, method_name};

pub use wasip2;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The most request body bytes [`Request::body`] reads; more is an error,
/// so a client cannot make a handler hold an unbounded body.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// An incoming request, as a handler sees it.
pub struct Request {
    inner: IncomingRequest,
    target: Target,
}

impl Request {
    /// Wraps the request `wasi:http` handed to the component.
    pub fn new(inner: IncomingRequest) -> Self {
        let target = Target::new(inner.path_with_query());
        Self { inner, target }
    }

    /// The method, upper case (`GET`, `POST`, …).
    pub fn method(&self) -> String {
        method_name!(Method, self.inner.method())
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
    pub fn body(self) -> std::io::Result<Vec<u8>> {
        let body = self
            .inner
            .consume()
            .map_err(|()| std::io::Error::other("the request body was already taken"))?;
        let mut stream = body
            .stream()
            .map_err(|()| std::io::Error::other("the request body stream was already taken"))?;
        let mut bytes = Vec::new();
        (&mut stream)
            .take(MAX_REQUEST_BODY as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > MAX_REQUEST_BODY {
            return Err(std::io::Error::other(format!(
                "the request body is over {MAX_REQUEST_BODY} bytes"
            )));
        }
        Ok(bytes)
    }

    /// The raw `wasi:http` request, for anything this type does not wrap.
    pub fn into_inner(self) -> IncomingRequest {
        self.inner
    }
}

pub use crate::http_common::Response;

impl Response {
    /// Sends this response through `out`. Returns an error when the client
    /// has gone or the host refused the response.
    pub fn send(self, out: ResponseOutparam) -> std::io::Result<()> {
        let headers = Fields::from_list(&self.headers())
            .map_err(|e| std::io::Error::other(format!("bad response header: {e:?}")))?;
        let response = OutgoingResponse::new(headers);
        response
            .set_status_code(self.status)
            .map_err(|()| std::io::Error::other(format!("bad status code {}", self.status)))?;
        let body = response
            .body()
            .map_err(|()| std::io::Error::other("the response body was already taken"))?;
        ResponseOutparam::set(out, Ok(response));
        let mut stream = body
            .write()
            .map_err(|()| std::io::Error::other("the response stream was already taken"))?;
        stream.write_all(&self.body)?;
        Write::flush(&mut stream)?;
        drop(stream);
        OutgoingBody::finish(body, None)
            .map_err(|e| std::io::Error::other(format!("cannot finish the body: {e:?}")))
    }
}

/// Implemented by a component's HTTP handler; export it with
/// [`export_handler!`].
pub trait Handler {
    /// Answers one request. Each request runs in a fresh instance.
    fn handle(request: Request) -> Response;
}

/// The glue between a [`Handler`] and `wasi:http/incoming-handler`.
#[doc(hidden)]
pub struct Export<H>(std::marker::PhantomData<H>);

impl<H: Handler> wasip2::exports::http::incoming_handler::Guest for Export<H> {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        // A client that hung up cannot be answered; nothing else to do.
        let _ = H::handle(Request::new(request)).send(out);
    }
}

/// Exports `$handler` (a [`Handler`]) as the component's
/// `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! export_handler {
    ($handler:ty) => {
        type __WasmkvHttpExport = $crate::http::Export<$handler>;
        $crate::http::wasip2::http::proxy::export!(
            __WasmkvHttpExport with_types_in $crate::http::wasip2
        );
    };
}

pub use crate::export_handler;
