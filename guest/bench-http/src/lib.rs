//! The handler the HTTP benchmark drives (WASI 0.2): the routes of
//! `routes.rs`, so the very same component runs under `wasmkv serve` and
//! under a host wired as `wasmtime serve -S keyvalue` wires it.

mod routes;

use wasmkv_guest::http::{Handler, Request, Response, export_handler};

struct Bench;

impl Handler for Bench {
    fn handle(request: Request) -> Response {
        let (status, content_type, body) = routes::answer(request.path());
        Response::bytes(status, content_type, body)
    }
}

export_handler!(Bench);
