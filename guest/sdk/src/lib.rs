//! Write WebAssembly components against `wasi:keyvalue/keyvalue` with an API
//! that feels like Rust: a [`Bucket`] with typed methods, errors that carry
//! the host's one-line trace, and value bodies streamed through
//! [`std::io::Read`] and [`std::io::Write`].
//!
//! ```no_run
//! use wasmkv_guest::Bucket;
//!
//! fn main() -> Result<(), wasmkv_guest::Error> {
//!     let bucket = Bucket::open("default")?;
//!     bucket.set("greeting", b"hello")?;
//!     assert_eq!(bucket.get("greeting")?.as_deref(), Some(&b"hello"[..]));
//!     let visits = bucket.increment("visits", 1)?;
//!     println!("visit number {visits}");
//!     Ok(())
//! }
//! ```
//!
//! Build for `wasm32-wasip2` and run with `wasmkv run app.wasm`.

mod bucket;
mod error;
#[cfg(feature = "http")]
pub mod http;
#[cfg(any(feature = "http", feature = "p3"))]
mod http_common;
#[cfg(feature = "p3")]
pub mod p3;
mod stream;
#[cfg(feature = "p3")]
pub mod wasmcloud;

/// The raw bindings generated from the seed WIT, for anything this crate
/// does not wrap.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/seed",
        world: "wasi:keyvalue/keyvalue",
        generate_all,
    });
}

pub use bucket::{Bucket, IncomingValue, OutgoingValue};
pub use error::Error;
pub use stream::{ValueReader, ValueWriter};
