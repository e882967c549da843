//! Where `wasmkv run` gets its stores, grants and limits: `wasmkv.toml`
//! first, then flags on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use wasmkv_backend::{TomlForm, UrlParameter};
use wasmkv_engine::{Engine, Grants, Limits, SharedObserver, StoreUrl};

use crate::cli::StoreArgs;

/// The store every zero-config run uses.
pub const DEFAULT_STORE: &str = "default";
/// Where the default store lives unless configured.
pub const DEFAULT_SQLITE_PATH: &str = ".wasmkv/default.db";
/// The config file read when present and no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "wasmkv.toml";

/// `wasmkv.toml`, as DESIGN.md specifies it. Unknown keys are errors.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    stores: BTreeMap<String, StoreConfig>,
    #[serde(default)]
    buckets: BTreeMap<String, String>,
    /// Import label → store (`--label`).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    metrics: MetricsConfig,
}

/// `[metrics]`: where `wasmkv serve` serves Prometheus metrics
/// (`--metrics`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsConfig {
    listen: Option<String>,
}

/// One `[stores.NAME]` table. Besides `type`, `path` and `url`, a URL
/// type's table takes every parameter of its URLs as a key (the backend's
/// one list, `TomlForm::Url::parameters`), files relative to the config
/// file's folder; anything else is refused by name. No `Debug`: `url` may
/// hold a password.
#[derive(Deserialize)]
struct StoreConfig {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
    #[serde(flatten)]
    parameters: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsConfig {
    max_key_bytes: Option<usize>,
    max_value_bytes: Option<usize>,
    max_batch_items: Option<usize>,
    max_listed_keys: Option<usize>,
    max_result_bytes: Option<usize>,
    max_instance_bytes: Option<usize>,
}

/// Everything the engine needs, merged from file and flags.
#[derive(Debug)]
pub struct Setup {
    stores: BTreeMap<String, StoreUrl>,
    grants: Grants,
    labels: BTreeMap<String, String>,
    limits: Limits,
    metrics: Option<String>,
}

impl Setup {
    /// Reads `config` (or `./wasmkv.toml` when present), then applies the
    /// `--store` and `--bucket` flags over it.
    pub fn load(args: &StoreArgs) -> anyhow::Result<Self> {
        let (config, store_flags, bucket_flags) =
            (args.config.as_deref(), &args.stores, &args.buckets);
        let file = match config {
            Some(path) => Some(read_config(path)?),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Some(read_config(Path::new(DEFAULT_CONFIG_FILE))?)
            }
            None => None,
        };
        let (mut stores, mut grants, mut limits) =
            (BTreeMap::new(), Grants::new(), Limits::default());
        let mut labels = BTreeMap::new();
        let mut metrics = None;
        if let Some((path, file, text)) = file {
            metrics = file.metrics.listen;
            let base = path.parent().unwrap_or(Path::new(""));
            for (name, store) in file.stores {
                let url = store.into_url(&name, base, &path, &text)?;
                stores.insert(name, url);
            }
            for (bucket, store) in file.buckets {
                grants.grant(bucket, store);
            }
            labels.extend(file.labels);
            let set = |slot: &mut usize, value: Option<usize>| *slot = value.unwrap_or(*slot);
            set(&mut limits.max_key_bytes, file.limits.max_key_bytes);
            set(&mut limits.max_value_bytes, file.limits.max_value_bytes);
            set(&mut limits.max_batch_items, file.limits.max_batch_items);
            set(&mut limits.max_listed_keys, file.limits.max_listed_keys);
            set(&mut limits.max_result_bytes, file.limits.max_result_bytes);
            set(
                &mut limits.max_instance_bytes,
                file.limits.max_instance_bytes,
            );
        }
        let bytes_flag = |flag: Option<bytesize::ByteSize>| {
            flag.map(|size| usize::try_from(size.as_u64()).unwrap_or(usize::MAX))
        };
        if let Some(max) = bytes_flag(args.max_result_bytes) {
            limits.max_result_bytes = max;
        }
        if let Some(max) = bytes_flag(args.max_instance_bytes) {
            limits.max_instance_bytes = max;
        }
        check_limits(&limits)?;
        for flag in store_flags {
            let shown = wasmkv_backend::redact_secrets(flag);
            let (name, url) = flag
                .split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .with_context(|| {
                    format!("--store {shown:?}: expected NAME=URL, e.g. --store default=memory:")
                })?;
            let url: StoreUrl = url.parse().with_context(|| format!("--store {shown:?}"))?;
            stores.insert(name.to_string(), url);
        }
        for flag in bucket_flags {
            let (bucket, store) = flag.split_once('=').unwrap_or((flag, DEFAULT_STORE));
            if store.is_empty() {
                bail!("--bucket {flag:?}: expected NAME or NAME=STORE");
            }
            grants.grant(bucket, store);
        }
        for flag in &args.labels {
            match flag.split_once('=') {
                Some((label, store)) if !label.is_empty() && !store.is_empty() => {
                    labels.insert(label.to_string(), store.to_string());
                }
                _ => bail!("--label {flag:?}: expected LABEL=STORE, e.g. --label cache=redis"),
            }
        }
        if grants.is_empty() {
            grants.grant(DEFAULT_STORE, DEFAULT_STORE);
        }
        let default_used = grants.iter().any(|(_, store)| store == DEFAULT_STORE)
            || labels.values().any(|store| store == DEFAULT_STORE);
        if default_used && !stores.contains_key(DEFAULT_STORE) {
            stores.insert(
                DEFAULT_STORE.to_string(),
                StoreUrl::sqlite(DEFAULT_SQLITE_PATH),
            );
        }
        Ok(Self {
            stores,
            grants,
            labels,
            limits,
            metrics,
        })
    }

    /// Lifts the batch and listing caps, which protect the host from guests,
    /// not from its own operator, and lets the operator reach any bucket:
    /// grants keep components apart, while a person naming a bucket on the
    /// command line has the authority already. A bucket without a grant of
    /// its own lives where `*` points, else in the default store.
    pub fn for_admin(mut self) -> Self {
        self.limits = self.limits.for_admin();
        if !self.grants.iter().any(|(bucket, _)| bucket == "*") {
            self.grants.grant("*", DEFAULT_STORE);
            self.stores
                .entry(DEFAULT_STORE.to_string())
                .or_insert_with(|| StoreUrl::sqlite(DEFAULT_SQLITE_PATH));
        }
        self
    }

    /// Opens every store a grant or a label uses, and checks every grant.
    /// A store nothing uses is not opened: no bucket could reach it, and a
    /// server it names being down must not stop the others.
    pub async fn build_engine(self) -> anyhow::Result<Engine> {
        self.build_observed_engine(None).await
    }

    /// The files of the SQLite stores, by store name, for metrics that
    /// watch them from outside.
    pub fn store_files(&self) -> Vec<(String, PathBuf)> {
        self.stores
            .iter()
            .filter_map(|(name, url)| Some((name.clone(), url.file()?.to_path_buf())))
            .collect()
    }

    /// Where `[metrics] listen` says to serve metrics, when it says so.
    pub fn metrics_listen(&self) -> Option<&str> {
        self.metrics.as_deref()
    }

    /// As [`Setup::build_engine`], telling `observer` of every key-value call.
    pub async fn build_observed_engine(
        self,
        observer: Option<SharedObserver>,
    ) -> anyhow::Result<Engine> {
        let used = |name: &str| {
            self.grants.iter().any(|(_, store)| store == name)
                || self.labels.values().any(|store| store == name)
        };
        let stores: Vec<(String, StoreUrl)> = self
            .stores
            .into_iter()
            .filter(|(name, _)| {
                let used = used(name);
                if !used {
                    tracing::debug!(
                        "store {name:?} is not opened: no bucket grant or import label uses it"
                    );
                }
                used
            })
            .collect();
        let mut builder = Engine::builder()
            .grants(self.grants)
            .limits(self.limits)
            .denial_hint(crate::grant_hint::for_bucket);
        if let Some(observer) = observer {
            builder = builder.observer(observer);
        }
        for (name, url) in stores {
            builder = builder.store_url(name, url);
        }
        for (label, store) in self.labels {
            builder = builder.label(label, store);
        }
        Ok(builder.build().await?)
    }
}

fn read_config(path: &Path) -> anyhow::Result<(PathBuf, ConfigFile, String)> {
    let text = read_bounded(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        anyhow::anyhow!("{}{at}: {}", path.display(), e.message().trim())
    })?;
    Ok((path.to_path_buf(), file, text))
}

/// `FILE:LINE:COLUMN` of key `key` in table `[stores.NAME]` of `text`, as
/// serde's own errors give it; `FILE` alone when it cannot be found.
fn key_location(file: &Path, text: &str, store: &str, key: &str) -> String {
    let header = format!("[stores.{store}]");
    let mut in_table = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_table = trimmed.trim_end() == header;
            continue;
        }
        let is_key = trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_table && is_key {
            let column = line.len() - trimmed.len() + 1;
            return format!("{}:{}:{column}", file.display(), number + 1);
        }
    }
    file.display().to_string()
}

/// The most a config file may hold: far more than any real one, and a
/// bound when `--config` names something endless like `/dev/zero`.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

fn read_bounded(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        bail!("it is a directory");
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        bail!("it is larger than {MAX_CONFIG_BYTES} bytes");
    }
    String::from_utf8(bytes).context("it is not UTF-8 text")
}

impl StoreConfig {
    fn into_url(
        self,
        name: &str,
        base: &Path,
        file: &Path,
        text: &str,
    ) -> anyhow::Result<StoreUrl> {
        let table = format!("{}: [stores.{name}]", file.display());
        let kind = &self.kind;
        let Some(form) = wasmkv_backend::toml_type(kind) else {
            bail!(
                "{table}: unknown type {kind:?}; known: {}",
                wasmkv_backend::toml_type_names().join(", ")
            );
        };
        let known: &[UrlParameter] = match form {
            TomlForm::Url { parameters, .. } => parameters,
            _ => &[],
        };
        let locate =
            |key: &str| format!("{}: [stores.{name}]", key_location(file, text, name, key));
        let keys = table_parameters(&locate, kind, self.parameters, known, base)?;
        match (form, self.path, self.url) {
            (TomlForm::Bare(url), None, None) => Ok(url.parse()?),
            (TomlForm::Bare(_), ..) => bail!("{table}: type {kind:?} takes no path or url"),
            (TomlForm::Path(scheme), Some(path), None) => {
                let url = format!("{scheme}:{}", base.join(path).display());
                url.parse().with_context(|| format!("{table} path"))
            }
            (TomlForm::Path(_), ..) => {
                bail!("{table}: type {kind:?} needs `path = \"FILE\"` and no url")
            }
            (
                TomlForm::Url {
                    schemes, example, ..
                },
                None,
                Some(url),
            ) => {
                let url = files_from(&url, known, base);
                for (key, _) in &keys {
                    if query_names(&url).any(|name| name == *key) {
                        bail!(
                            "{table}: {key} is given twice, as a key and in the url; give it once"
                        );
                    }
                }
                let url = with_params(url, &keys);
                let parsed: StoreUrl = url.parse().with_context(|| format!("{table} url"))?;
                if !schemes.contains(&parsed.scheme()) {
                    bail!("{table}: this type needs a url like {example}, not {parsed}");
                }
                Ok(parsed)
            }
            (TomlForm::Url { example, .. }, ..) => {
                bail!("{table}: type {kind:?} needs `url = \"{example}\"` and no path")
            }
        }
    }
}

/// A table's keys besides `type`, `path` and `url` as URL parameters: each
/// must be one of `known`, a file made relative to `base`.
fn table_parameters(
    table: &dyn Fn(&str) -> String,
    kind: &str,
    keys: BTreeMap<String, toml::Value>,
    known: &[UrlParameter],
    base: &Path,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    keys.into_iter()
        .map(|(key, value)| {
            let Some(parameter) = known.iter().find(|p| p.name == key) else {
                let names: Vec<&str> = ["type", "path", "url"]
                    .into_iter()
                    .chain(known.iter().map(|p| p.name))
                    .collect();
                bail!(
                    "{}: unknown key {key:?} for type {kind:?}; known: {}",
                    table(&key),
                    names.join(", ")
                );
            };
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => bail!(
                    "{}: {key} must be a string, a number or true/false, not {}",
                    table(&key),
                    other.type_str()
                ),
            };
            let text = if parameter.file {
                base.join(text).display().to_string()
            } else {
                text
            };
            Ok((parameter.name, text))
        })
        .collect()
}

/// The names of `url`'s query parameters.
fn query_names(url: &str) -> impl Iterator<Item = String> + '_ {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes()).map(|(name, _)| name.into_owned())
}

/// `url` with its file parameters (`password_file`, `tls_*_file`) read
/// relative to `base`, as the same keys of the table are; the rest as is.
fn files_from(url: &str, known: &[UrlParameter], base: &Path) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let mut rebuilt = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if known.iter().any(|p| p.file && p.name == name) {
            rebuilt.append_pair(&name, &base.join(&*value).display().to_string());
        } else {
            rebuilt.append_pair(&name, &value);
        }
    }
    format!("{head}?{}", rebuilt.finish())
}

/// `url` with `params` added to its query.
fn with_params(mut url: String, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return url;
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&query);
    url
}

/// Refuses limits that would make every call fail: a zero cap is a typo,
/// not a policy.
fn check_limits(limits: &Limits) -> anyhow::Result<()> {
    let named = [
        ("max_key_bytes", limits.max_key_bytes),
        ("max_value_bytes", limits.max_value_bytes),
        ("max_batch_items", limits.max_batch_items),
        ("max_listed_keys", limits.max_listed_keys),
        ("max_result_bytes", limits.max_result_bytes),
        ("max_instance_bytes", limits.max_instance_bytes),
    ];
    for (name, value) in named {
        if value == 0 {
            anyhow::bail!(
                "[limits] {name} is 0, which would refuse every call; give it at least 1"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter a URL type's URLs take is a key of its table, from
    /// the same list, files read from the config file's folder; nothing
    /// else is.
    #[test]
    fn every_url_parameter_is_a_table_key_and_nothing_else_is() {
        let base = Path::new("/etc/wasmkv");
        for kind in ["redis", "redis-cluster"] {
            let Some(TomlForm::Url { parameters, .. }) = wasmkv_backend::toml_type(kind) else {
                panic!("{kind} is not a URL type");
            };
            assert!(parameters.iter().any(|p| p.name == "password_file"));
            for parameter in parameters {
                let keys =
                    BTreeMap::from([(parameter.name.to_string(), toml::Value::String("x".into()))]);
                let table = |_: &str| "t".to_string();
                let taken = table_parameters(&table, kind, keys, parameters, base).unwrap();
                let want = if parameter.file { "/etc/wasmkv/x" } else { "x" };
                assert_eq!(taken, vec![(parameter.name, want.to_string())]);
            }
            let typo = BTreeMap::from([("timeout".to_string(), toml::Value::Integer(5))]);
            let table = |_: &str| "t".to_string();
            let refused = table_parameters(&table, kind, typo, parameters, base).unwrap_err();
            assert!(
                refused.to_string().contains("unknown key \"timeout\""),
                "{refused}"
            );
        }
        assert_eq!(
            files_from(
                "redis://h:1?password_file=pw&prefix=a:",
                &[UrlParameter {
                    name: "password_file",
                    file: true
                }],
                base
            ),
            "redis://h:1?password_file=%2Fetc%2Fwasmkv%2Fpw&prefix=a%3A"
        );
    }
}
