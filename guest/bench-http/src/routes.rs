//! The benchmark's routes, shared by the 0.2 handler (`bench-http`) and
//! the 0.3 one (`bench-http-p3`), so the two differ only in generation. On
//! `wasi:keyvalue@0.2.0-draft` and the bucket named `""`, the one
//! wasmtime's keyvalue host serves.
//!
//! - `/fixed`: a fixed body, no keyvalue call
//! - `/get`: the value of key `bench-value` (seeded by the benchmark)
//! - `/get4`: the values of the four keys [`FOUR`], one `get` after
//!   another (this interface is synchronous): the twin of
//!   `bench-http-async`'s `/get4`, which awaits the four together
//! - `/incr`: increments key `bench-hits`, answers the count
//! - `/seed`: sets `bench-value` to 100 bytes (what the comparison host is
//!   given as its in-memory data), and the other keys of [`FOUR`] too

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};

const TEXT: &str = "text/plain; charset=utf-8";

/// The keys `/get4` reads.
pub const FOUR: [&str; 4] = [
    "bench-value",
    "bench-value-2",
    "bench-value-3",
    "bench-value-4",
];

/// What the route `path` answers: status, content type and body.
pub fn answer(path: &str) -> (u16, &'static str, Vec<u8>) {
    let text = |status, body: String| (status, TEXT, body.into_bytes());
    match path {
        "/fixed" => text(200, "hello from bench-http\n".into()),
        "/get" => match store::open("").and_then(|b| b.get("bench-value")) {
            Ok(Some(value)) => (200, "application/octet-stream", value),
            Ok(None) => text(404, "bench-value is not set\n".into()),
            Err(e) => text(500, format!("{e:?}\n")),
        },
        "/get4" => {
            let read = store::open("").and_then(|b| {
                FOUR.iter()
                    .map(|key| b.get(key))
                    .collect::<Result<Vec<_>, _>>()
            });
            match read {
                Ok(values) if values.iter().all(Option::is_some) => (
                    200,
                    "application/octet-stream",
                    values.into_iter().flatten().flatten().collect(),
                ),
                Ok(_) => text(404, "a /get4 key is not set\n".into()),
                Err(e) => text(500, format!("{e:?}\n")),
            }
        }
        "/incr" => match store::open("").and_then(|b| atomics::increment(&b, "bench-hits", 1)) {
            Ok(n) => text(200, format!("{n}\n")),
            Err(e) => text(500, format!("{e:?}\n")),
        },
        "/seed" => match store::open("")
            .and_then(|b| FOUR.iter().try_for_each(|key| b.set(key, &[b'x'; 100])))
        {
            Ok(()) => text(200, "seeded\n".into()),
            Err(e) => text(500, format!("{e:?}\n")),
        },
        _ => text(404, "not found\n".into()),
    }
}
