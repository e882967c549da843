//! Labelled imports: a component may import the store interface under a
//! name of its own (`import cache: wasmcloud:keyvalue/store@0.2.0;`, the
//! component model's `implements`), once per store it wants. Each label is
//! linked as an instance of that name whose `open` opens buckets in the
//! store the engine gives the label (or, without one, where the grant
//! says). The bucket resource is the one `types` defines, so a bucket
//! opened through a label works with `atomics`, `cas` and `batch`.

use wasmtime::component::{Accessor, Component, Linker, Resource};

use super::bindings::wasmcloud::keyvalue::types::Error;
use super::{STORE_INTERFACE, WasmcloudKv};
use crate::WasmKvView;
use wasmkv_engine::Bucket;

/// The labels under which `component` imports the store interface: every
/// import that implements it under another name.
pub fn store_labels(engine: &wasmtime::Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .filter(|(name, import)| *name != STORE_INTERFACE && import.is_implements(STORE_INTERFACE))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Links `store` under `label`.
pub(super) fn add_labelled_store<T: WasmKvView + 'static>(
    linker: &mut Linker<T>,
    label: &str,
) -> wasmtime::Result<()> {
    let mut instance = linker.instance(label)?;
    let label: std::sync::Arc<str> = label.into();
    instance.func_wrap_concurrent(
        "open",
        move |caller: &Accessor<T>, (identifier,): (String,)| {
            let label = label.clone();
            Box::pin(async move {
                let accessor = caller.with_getter::<WasmcloudKv>(T::keyvalue);
                let opened: Result<Resource<Bucket>, Error> =
                    super::store::open(&accessor, &identifier, Some(&label))?;
                Ok((opened,))
            })
        },
    )
}
