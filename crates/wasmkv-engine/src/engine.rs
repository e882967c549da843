use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wasmkv_backend::{BackendError, SharedBackend, StoreUrl};

use crate::bucket::Bucket;
use crate::budget::HostBudget;
use crate::error::{Cause, KvError, Op};
use crate::grants::Grants;
use crate::limits::Limits;
use crate::observe::{Call, CallScope, Interface, SharedObserver};

/// The stores, grants and limits that every guest instance of a host shares.
///
/// Cheap to clone; all clones share the same open stores, so two instances
/// (or two WIT versions) opening the same bucket name see the same data.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    stores: BTreeMap<String, SharedBackend>,
    /// The stores' names as every bucket of each carries it, for observers.
    store_names: BTreeMap<String, Arc<str>>,
    observer: Option<SharedObserver>,
    /// Bytes held for every instance's budget together.
    held: Arc<AtomicUsize>,
    /// Import label → store, for components that import a store interface
    /// under a name of their own (`import cache: wasmcloud:keyvalue/store`).
    labels: BTreeMap<String, String>,
    grants: Grants,
    limits: Limits,
    denial_hint: Option<DenialHint>,
}

/// Says how an embedder's user grants a bucket the guest was denied, in the
/// embedder's own terms (a flag, a config line, an API call). The engine
/// knows only *what* was denied.
pub type DenialHint = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Why an engine could not be built; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineBuildError {
    /// A grant names a store that is not configured.
    #[error(
        "bucket {bucket:?} is granted to store {store:?}, which is not configured; add `--store {store}=URL`"
    )]
    UnknownStore {
        /// The granted bucket name.
        bucket: String,
        /// The missing store.
        store: String,
    },
    /// An import label names a store that is not configured.
    #[error(
        "import label {label:?} is given store {store:?}, which is not configured; add `--store {store}=URL`"
    )]
    UnknownLabelStore {
        /// The label.
        label: String,
        /// The missing store.
        store: String,
    },
    /// A configured store could not be opened.
    #[error("store {name:?} ({url}) cannot be opened: {}", cause.cause_text())]
    OpenStore {
        /// The store's name.
        name: String,
        /// Its URL.
        url: String,
        /// Why it failed. Not an error `source`: the message already says
        /// it, and a source would print it twice in a `{:#}` chain.
        cause: Box<BackendError>,
    },
}

/// Collects stores, grants and limits, then opens every store at once so a
/// misconfigured store fails at startup, not at a guest's first call.
#[derive(Default)]
pub struct EngineBuilder {
    stores: BTreeMap<String, StoreSource>,
    labels: BTreeMap<String, String>,
    grants: Grants,
    limits: Limits,
    denial_hint: Option<DenialHint>,
    observer: Option<SharedObserver>,
}

enum StoreSource {
    Url(StoreUrl),
    Backend(SharedBackend),
}

impl EngineBuilder {
    /// Adds (or replaces) store `name`, opened from `url` at build time.
    pub fn store_url(mut self, name: impl Into<String>, url: StoreUrl) -> Self {
        self.stores.insert(name.into(), StoreSource::Url(url));
        self
    }

    /// Adds (or replaces) store `name` with an already open backend, e.g. one
    /// an embedder shares between several engines.
    pub fn store(mut self, name: impl Into<String>, backend: SharedBackend) -> Self {
        self.stores
            .insert(name.into(), StoreSource::Backend(backend));
        self
    }

    /// Grants bucket `bucket` (`"*"` for every name) in store `store`.
    pub fn grant(mut self, bucket: impl Into<String>, store: impl Into<String>) -> Self {
        self.grants.grant(bucket, store);
        self
    }

    /// Sends buckets opened through the import labelled `label` to store
    /// `store` (grants still decide which names may be opened). A label with
    /// no store, like an unlabelled import, uses the store the grant names.
    pub fn label(mut self, label: impl Into<String>, store: impl Into<String>) -> Self {
        self.labels.insert(label.into(), store.into());
        self
    }

    /// Replaces all grants.
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds to every access-denied trace how to grant the bucket, e.g. the
    /// `wasmkv` CLI's `--bucket NAME`. Without it the trace names the bucket
    /// only.
    pub fn denial_hint(
        mut self,
        hint: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.denial_hint = Some(Arc::new(hint));
        self
    }

    /// Tells `observer` of every key-value call (store, interface,
    /// operation, outcome, time), for metrics and traces. Without one,
    /// nothing is measured and nothing is paid.
    pub fn observer(mut self, observer: SharedObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks every grant against the stores and opens the stores.
    pub async fn build(self) -> Result<Engine, EngineBuildError> {
        for (bucket, store) in self.grants.iter() {
            if !self.stores.contains_key(store) {
                return Err(EngineBuildError::UnknownStore {
                    bucket: bucket.to_string(),
                    store: store.to_string(),
                });
            }
        }
        for (label, store) in &self.labels {
            if !self.stores.contains_key(store) {
                return Err(EngineBuildError::UnknownLabelStore {
                    label: label.clone(),
                    store: store.clone(),
                });
            }
        }
        let mut stores = BTreeMap::new();
        for (name, source) in self.stores {
            let backend = match source {
                StoreSource::Backend(b) => b,
                StoreSource::Url(url) => {
                    let events = self.observer.as_ref().and_then(|o| o.store_events(&name));
                    match events {
                        Some(events) => url.open_with_events(events).await,
                        None => url.open().await,
                    }
                    .map_err(|cause| EngineBuildError::OpenStore {
                        name: name.clone(),
                        url: url.to_string(),
                        cause: Box::new(cause),
                    })?
                }
            };
            stores.insert(name, backend);
        }
        let store_names = stores
            .keys()
            .map(|n| (n.clone(), n.as_str().into()))
            .collect();
        Ok(Engine {
            inner: Arc::new(Inner {
                stores,
                store_names,
                observer: self.observer,
                held: Arc::default(),
                labels: self.labels,
                grants: self.grants,
                limits: self.limits,
                denial_hint: self.denial_hint,
            }),
        })
    }
}

impl Engine {
    /// Starts an engine with no stores, no grants and default limits.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Resolves bucket `name` through the grants; this is the only way a
    /// guest reaches a store.
    pub fn open_bucket(&self, name: &str) -> Result<Bucket, KvError> {
        self.open_bucket_labelled(name, None)
    }

    /// As [`Engine::open_bucket`], for an import labelled `label`: the
    /// bucket must be granted as any other, and lives in the label's store
    /// when the label has one.
    pub fn open_bucket_labelled(&self, name: &str, label: Option<&str>) -> Result<Bucket, KvError> {
        self.open_bucket_via(name, label, Interface::Host, None)
    }

    /// As [`Engine::open_bucket_labelled`], for a guest's call through
    /// `interface`: the engine's observer sees the opening (a denied one
    /// too) and every call on the bucket under that interface, with `scope`.
    pub fn open_bucket_via(
        &self,
        name: &str,
        label: Option<&str>,
        interface: Interface,
        scope: Option<&CallScope>,
    ) -> Result<Bucket, KvError> {
        let Some(observer) = &self.inner.observer else {
            return self.resolve(name, label);
        };
        let started = Instant::now();
        let opened = self
            .resolve(name, label)
            .map(|b| b.via(interface).scoped(scope.cloned()));
        let store = match &opened {
            Ok(bucket) => bucket.store_name().unwrap_or("none"),
            Err(_) => "none",
        };
        observer.call(&Call {
            store,
            interface,
            op: Op::OpenBucket,
            outcome: opened.as_ref().map(|_| ()).map_err(KvError::kind),
            elapsed: started.elapsed(),
            scope,
        });
        opened
    }

    /// The granted bucket `name`, in its label's store when it has one.
    fn resolve(&self, name: &str, label: Option<&str>) -> Result<Bucket, KvError> {
        // A bucket name is stored with every key: bound it as keys are.
        let max = self.inner.limits.max_key_bytes;
        if name.len() > max {
            return Err(KvError::new(
                Op::OpenBucket,
                name,
                None,
                Cause::InvalidValue(format!(
                    "bucket name is {} bytes, over max_key_bytes ({max})",
                    name.len()
                )),
            ));
        }
        let store_name = self.inner.grants.store_for(name).ok_or_else(|| {
            KvError::new(
                Op::OpenBucket,
                name,
                None,
                Cause::AccessDenied {
                    bucket: name.to_string(),
                    hint: self.inner.denial_hint.as_ref().and_then(|hint| hint(name)),
                },
            )
        })?;
        let store_name = label
            .and_then(|label| self.inner.labels.get(label))
            .map_or(store_name, String::as_str);
        let backend = self.inner.stores[store_name].clone();
        let mut bucket = Bucket::new(name, backend, self.inner.limits);
        if let Some(observer) = &self.inner.observer {
            bucket = bucket.observed(self.inner.store_names[store_name].clone(), observer.clone());
        }
        Ok(bucket)
    }

    /// Whether every store of this engine answers without waiting (all are
    /// memory): every bucket future is then ready when first polled, so a
    /// host may serve this engine from synchronous functions.
    pub fn never_waits(&self) -> bool {
        self.inner.stores.values().all(|store| store.never_waits())
    }

    /// An instance's allowance of host-held bytes (`max_instance_bytes`),
    /// counted into [`Engine::host_held_bytes`].
    pub fn instance_budget(&self) -> HostBudget {
        HostBudget::counted_in(
            self.inner.limits.max_instance_bytes,
            self.inner.held.clone(),
        )
    }

    /// Bytes the host holds now for every instance's budget together
    /// (value bodies, stream buffers, batch results), for a metrics gauge.
    pub fn host_held_bytes(&self) -> usize {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// The limits every bucket enforces.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The open store called `name`, for tools that work below the grants.
    pub fn store(&self, name: &str) -> Option<&SharedBackend> {
        self.inner.stores.get(name)
    }
}
