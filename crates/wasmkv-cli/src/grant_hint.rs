//! How a `wasmkv` user grants a bucket a component was denied: the flag and
//! the `wasmkv.toml` line, quoted so they work when pasted. The engine's
//! [`DenialHint`](wasmkv_engine::DenialHint) hook adds this to the trace.

/// The hint for bucket `name`.
pub fn for_bucket(name: &str) -> Option<String> {
    if name == "*" {
        return Some(
            "`*` is the wildcard in grants (`--bucket '*'` grants every name), so this name cannot be granted on its own; use another name".into(),
        );
    }
    let toml_line = toml_line(name);
    if name.contains('=') {
        // `--bucket A=B` means bucket A in store B: only the file can say it.
        return Some(format!(
            "grant it with `{toml_line}` under [buckets] in wasmkv.toml (a name holding `=` cannot be given to --bucket)"
        ));
    }
    Some(format!(
        "grant it with `--bucket {}` or `{toml_line}` under [buckets] in wasmkv.toml",
        shell_word(name)
    ))
}

/// `NAME = "default"`, with the key quoted and escaped by the TOML library
/// itself (a key is always one line, whatever the name holds).
fn toml_line(name: &str) -> String {
    let mut table = toml::Table::new();
    table.insert(name.to_string(), toml::Value::String("default".into()));
    toml::to_string(&table)
        .map(|line| line.trim_end().to_string())
        .unwrap_or_else(|_| format!("{name:?} = \"default\""))
}

/// Quotes a bucket name for a shell command line when it needs it.
fn shell_word(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+".contains(c));
    if plain {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::for_bucket;

    #[test]
    fn hints_are_pasteable_for_every_kind_of_name() {
        let hint = |name| for_bucket(name).unwrap();
        assert!(hint("ops").contains("`--bucket ops` or `ops = \"default\"`"));
        assert!(hint("it's").contains(r"`--bucket 'it'\''s'`"));
        assert!(hint("a\"b\nc").contains(r#"`"a\"b\nc" = "default"`"#));
        let eq = hint("a=b=c");
        assert!(eq.contains("`\"a=b=c\" = \"default\"`") && !eq.contains("--bucket a"));
        assert!(hint("*").contains("cannot be granted on its own"));
        assert!(hint("").contains("`--bucket ''`"));
    }
}
