//! Link failures against wasmkv's own interfaces, said precisely: which
//! function of which `wasi:keyvalue` interface does not match, the type the
//! component imports it with, and the type wasmkv provides (from the WIT it
//! was built from). wasmtime's own error stops at the first differing node.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

/// The WIT wasmkv serves, as (package version, file text). Both `0.2.0-draft2`
/// `batch` shapes are here: a mismatch there shows both.
const WIT: &[(&str, &str)] = &[
    ("", include_str!("../../../wit/seed/types.wit")),
    ("", include_str!("../../../wit/seed/readwrite.wit")),
    ("", include_str!("../../../wit/seed/atomic.wit")),
    ("", include_str!("../../../wit/seed/batch.wit")),
    ("", include_str!("../../../wit/seed/error.wit")),
    ("0.2.0-draft", include_str!("../../../wit/draft/store.wit")),
    ("0.2.0-draft", include_str!("../../../wit/draft/atomic.wit")),
    ("0.2.0-draft", include_str!("../../../wit/draft/batch.wit")),
    (
        "0.2.0-draft2",
        include_str!("../../../wit/draft2-spec/store.wit"),
    ),
    (
        "0.2.0-draft2",
        include_str!("../../../wit/draft2-spec/atomic.wit"),
    ),
    (
        "0.2.0-draft2",
        include_str!("../../../wit/draft2-spec/batch.wit"),
    ),
    (
        "0.2.0-draft2",
        include_str!("../../../wit/draft2-spin/batch.wit"),
    ),
];

/// A precise account of why `component` did not link, when the cause is a
/// function of a `wasi:keyvalue` interface wasmkv serves; `None` otherwise
/// (the caller keeps its own wording).
pub fn describe_link_error(
    engine: &Engine,
    component: &Component,
    error: &anyhow::Error,
) -> Option<String> {
    let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
    let interface = chain
        .iter()
        .find_map(|m| between(m, "component imports instance `", "`"))?;
    let (package, version) = match interface.split_once('@') {
        Some((package, version)) => (package, version),
        None => (interface, ""),
    };
    let name = package.strip_prefix("wasi:keyvalue/")?;
    let function = chain
        .iter()
        .find_map(|m| between(m, "instance export `", "` has the wrong type"))?;
    let ours = signatures(version, name, function);
    let theirs = imported_signature(engine, component, interface, function);
    let theirs = theirs.as_deref().unwrap_or("(type unreadable)");
    if ours.is_empty() {
        let has = WIT
            .iter()
            .any(|(v, text)| *v == version && block(text, "interface", name).is_some());
        if !has {
            return None;
        }
        return Some(format!(
            "it imports `{function}` from {interface} as `{theirs}`, but wasmkv's {interface} has no such function"
        ));
    }
    Some(format!(
        "it imports `{function}` from {interface} as `{theirs}`, but wasmkv provides `{}`",
        ours.join("` or `")
    ))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// The body of `kind name { ... }` in `text` (`kind`: interface, resource).
fn block<'a>(text: &'a str, kind: &str, name: &str) -> Option<&'a str> {
    let open = format!("{kind} {name} {{");
    let start = text.find(&open)? + open.len();
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every declaration of `function` (as the component model names it:
/// `f`, `[method]r.f`, `[static]r.f`, `[constructor]r`) in interface `name`
/// at `version`, as its WIT text.
fn signatures(version: &str, name: &str, function: &str) -> Vec<String> {
    let (resource, item) = match function.split_once(']') {
        Some((_, rest)) if function.starts_with("[constructor]") => (Some(rest), "constructor"),
        Some((_, rest)) => match rest.split_once('.') {
            Some((resource, item)) => (Some(resource), item),
            None => (None, rest),
        },
        None => (None, function),
    };
    let mut found = Vec::new();
    for (_, text) in WIT.iter().filter(|(v, _)| *v == version) {
        let Some(mut body) = block(text, "interface", name) else {
            continue;
        };
        if let Some(resource) = resource {
            match block(body, "resource", resource) {
                Some(inner) => body = inner,
                None => continue,
            }
        }
        let code: String = body
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        let declaration = code
            .split(';')
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|d| d.starts_with(&format!("{item}:")) || d.starts_with(&format!("{item}(")));
        if let Some(d) = declaration
            && !found.contains(&d)
        {
            found.push(d);
        }
    }
    found
}

/// The component's own type for `function` of `interface`, as WIT.
fn imported_signature(
    engine: &Engine,
    component: &Component,
    interface: &str,
    function: &str,
) -> Option<String> {
    let ComponentItem::ComponentInstance(instance) =
        component.component_type().get_import(engine, interface)?.ty
    else {
        return None;
    };
    let ComponentItem::ComponentFunc(func) = instance.get_export(engine, function)?.ty else {
        return None;
    };
    Some(func_wit(&func))
}

fn func_wit(func: &ComponentFunc) -> String {
    let params: Vec<String> = func
        .params()
        .map(|(name, ty)| format!("{name}: {}", wit(&ty)))
        .collect();
    let results: Vec<String> = func.results().map(|ty| wit(&ty)).collect();
    match results.as_slice() {
        [] => format!("func({})", params.join(", ")),
        [one] => format!("func({}) -> {one}", params.join(", ")),
        many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

/// A type as WIT spells it, structurally (named types appear as their
/// structure: the component's names are not kept in its type).
fn wit(ty: &Type) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit(&l.ty())),
        Type::Option(o) => format!("option<{}>", wit(&o.ty())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", wit(&ok)),
            (None, Some(err)) => format!("result<_, {}>", wit(&err)),
            (Some(ok), Some(err)) => format!("result<{}, {}>", wit(&ok), wit(&err)),
        },
        Type::Tuple(t) => format!("tuple<{}>", list(t.types().map(|t| wit(&t)).collect())),
        Type::Record(r) => format!(
            "record {{ {} }}",
            list(
                r.fields()
                    .map(|f| format!("{}: {}", f.name, wit(&f.ty)))
                    .collect()
            )
        ),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            list(
                v.cases()
                    .map(|c| match c.ty {
                        Some(ty) => format!("{}({})", c.name, wit(&ty)),
                        None => c.name.to_string(),
                    })
                    .collect()
            )
        ),
        Type::Enum(e) => format!("enum {{ {} }}", list(e.names().map(String::from).collect())),
        Type::Flags(f) => format!(
            "flags {{ {} }}",
            list(f.names().map(String::from).collect())
        ),
        Type::Own(_) => "resource".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::signatures;

    #[test]
    fn finds_functions_methods_and_both_draft2_shapes() {
        assert_eq!(
            signatures("0.2.0-draft", "atomics", "increment"),
            [
                "increment: func(bucket: borrow<bucket>, key: string, delta: u64) -> result<u64, error>"
            ]
        );
        assert_eq!(
            signatures("0.2.0-draft2", "store", "[method]bucket.exists"),
            ["exists: func(key: string) -> result<bool, error>"]
        );
        assert_eq!(
            signatures("", "types", "[static]bucket.open-bucket"),
            ["open-bucket: static func(name: string) -> result<bucket, error>"]
        );
        assert_eq!(signatures("0.2.0-draft2", "batch", "get-many").len(), 2);
        assert!(signatures("0.2.0-draft", "atomics", "decrement").is_empty());
    }
}
