//! Which `batch.get-many` result type a component's
//! `wasi:keyvalue/batch@0.2.0-draft2` import has, read from the component's
//! own import types before it is linked.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentItem, Type};

/// The two `get-many` result types published as `0.2.0-draft2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GetManyShape {
    /// `list<option<tuple<string, list<u8>>>>`: the spec repository before
    /// its PR #55 (`wit/draft2-spec`).
    #[default]
    OptionOfPair,
    /// `list<tuple<string, option<list<u8>>>>`: Spin, and the spec
    /// repository since PR #55 (`wit/draft2-spin`).
    PairOfOption,
}

const BATCH: &str = "wasi:keyvalue/batch@0.2.0-draft2";

impl GetManyShape {
    /// The shape `component` imports; [`GetManyShape::OptionOfPair`] when it
    /// does not import `get-many` at all (either links then).
    pub fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        let Some(ComponentItem::ComponentInstance(batch)) =
            ty.get_import(engine, BATCH).map(|import| import.ty)
        else {
            return Self::default();
        };
        let Some(ComponentItem::ComponentFunc(get_many)) =
            batch.get_export(engine, "get-many").map(|export| export.ty)
        else {
            return Self::default();
        };
        let element = get_many.results().next().and_then(|result| match result {
            Type::Result(r) => match r.ok() {
                Some(Type::List(list)) => Some(list.ty()),
                _ => None,
            },
            _ => None,
        });
        match element {
            Some(Type::Tuple(_)) => Self::PairOfOption,
            _ => Self::OptionOfPair,
        }
    }
}
