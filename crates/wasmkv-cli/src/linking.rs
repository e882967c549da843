//! What a component is linked against, for `run` and `serve` alike: WASI,
//! `wasi:http` and every `wasi:keyvalue` version, in the generations its
//! engine runs.

use std::path::Path;

use wasmkv_engine::Engine as KvEngine;
use wasmkv_host::LinkOptions;
use wasmtime::component::Linker;

use crate::component::{self, Generation, Loaded};
use crate::host::Host;

/// A linker for `loaded`: WASI and `wasi:http` 0.2.x for every component,
/// their 0.3.x versions too for a 0.3 component (which, built through the
/// preview1 adapter or with Rust's std, imports both generations), and
/// `wasi:keyvalue` in every version wasmkv serves, on `kv`'s stores.
pub fn linker(loaded: &Loaded, kv: &KvEngine) -> anyhow::Result<Linker<Host>> {
    let mut linker = Linker::<Host>::new(&loaded.engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    if loaded.generation == Generation::P3 {
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    }
    let options = LinkOptions::default()
        .component(&loaded.engine, &loaded.component)
        .engine(kv);
    wasmkv_host::add_to_linker_with(&mut linker, options)?;
    Ok(linker)
}

/// Pre-instantiates `loaded` with `linker`, so a missing or mistyped import
/// is a startup error worded by [`component::link_error`].
pub fn instantiate_pre(
    path: &Path,
    loaded: &Loaded,
    linker: &Linker<Host>,
) -> anyhow::Result<wasmtime::component::InstancePre<Host>> {
    linker
        .instantiate_pre(&loaded.component)
        .map_err(|e| link_error(path, loaded, e.into()))
}

/// [`component::link_error`] for a loaded component.
pub fn link_error(path: &Path, loaded: &Loaded, error: anyhow::Error) -> anyhow::Error {
    component::link_error(path, &loaded.engine, &loaded.component, error)
}
