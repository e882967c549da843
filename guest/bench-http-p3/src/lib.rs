//! `bench-http`'s routes as a WASI 0.3 handler (`wasi:http/handler@0.3`),
//! so the same component runs under `wasmkv serve` and `wasmtime serve -S
//! keyvalue`, and the same logic compares 0.2 with 0.3 on wasmkv.

#[path = "../../bench-http/src/routes.rs"]
mod routes;

use wasmkv_guest::p3::{Handler, Request, Response};

struct Bench;

impl Handler for Bench {
    async fn handle(request: Request) -> Response {
        let (status, content_type, body) = routes::answer(request.path());
        Response::bytes(status, content_type, body)
    }
}

wasmkv_guest::export_p3_handler!(Bench);
