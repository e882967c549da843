//! The handler the HTTP benchmark drives. It uses `wasi:keyvalue@0.2.0-draft`
//! on the bucket named `""`, the one wasmtime's keyvalue host serves, so the
//! very same component runs under `wasmkv serve` and under a host wired as
//! `wasmtime serve -S keyvalue` wires it.
//!
//! - `/fixed`: a fixed body, no keyvalue call
//! - `/get`: the value of key `bench-value` (seeded by the benchmark)
//! - `/incr`: increments key `bench-hits`, answers the count
//! - `/seed`: sets `bench-value` to 100 bytes (what the comparison host is
//!   given as its in-memory data)

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};
use wasmkv_guest::http::{Handler, Request, Response, export_handler};

struct Bench;

impl Handler for Bench {
    fn handle(request: Request) -> Response {
        match request.path() {
            "/fixed" => Response::text(200, "hello from bench-http\n"),
            "/get" => match store::open("").and_then(|b| b.get("bench-value")) {
                Ok(Some(value)) => Response::bytes(200, "application/octet-stream", value),
                Ok(None) => Response::text(404, "bench-value is not set\n"),
                Err(e) => Response::text(500, format!("{e:?}\n")),
            },
            "/incr" => {
                match store::open("").and_then(|b| atomics::increment(&b, "bench-hits", 1)) {
                    Ok(n) => Response::text(200, format!("{n}\n")),
                    Err(e) => Response::text(500, format!("{e:?}\n")),
                }
            }
            "/seed" => match store::open("").and_then(|b| b.set("bench-value", &[b'x'; 100])) {
                Ok(()) => Response::text(200, "seeded\n"),
                Err(e) => Response::text(500, format!("{e:?}\n")),
            },
            _ => Response::text(404, "not found\n"),
        }
    }
}

export_handler!(Bench);
