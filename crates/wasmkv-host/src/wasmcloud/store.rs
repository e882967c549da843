//! `wasmcloud:keyvalue/store` and the `bucket` resource of `types`: opening
//! a bucket and its single-key operations.

use std::time::Duration;

use wasmkv_engine::{Bucket, Bytes, Interface, KvError, SetOptions, preview};
use wasmtime::component::{Accessor, Resource};

use super::kv::types::{self, Error, KeyResponse};
use super::kv::{store, types::SetOptions as GuestSetOptions};
use super::{Reply, WasmcloudKv, bucket_of, reply};
use crate::{WasmKv, cursors};

/// Opens `identifier` for a `store.open`, through the import labelled
/// `label` when there is one, and puts the bucket in the instance's table.
pub(super) fn open<T>(
    accessor: &Accessor<T, WasmcloudKv>,
    identifier: &str,
    label: Option<&str>,
) -> Reply<Resource<Bucket>> {
    accessor.with(|mut access| {
        let kv = access.get();
        match kv
            .ctx
            .engine
            .open_bucket_via(identifier, label, Interface::Wasmcloud, kv.ctx.scope())
        {
            Ok(bucket) => Ok(Ok(kv.table.push(bucket)?)),
            Err(e) => reply(Err(e)),
        }
    })
}

impl store::Host for WasmKv<'_> {}

impl<T> store::HostWithStore<T> for WasmcloudKv {
    async fn open(accessor: &Accessor<T, Self>, identifier: String) -> Reply<Resource<Bucket>> {
        open(accessor, &identifier, None)
    }
}

impl types::Host for WasmKv<'_> {}

impl types::HostBucket for WasmKv<'_> {
    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

/// Keys are looked for over at most this many of the backend's pages per
/// `list-keys` with a prefix, so one call does bounded work; a page may
/// then hold fewer keys than asked, or none, with a cursor to go on.
const PREFIX_PAGES_PER_CALL: usize = 8;

impl<T> types::HostBucketWithStore<T> for WasmcloudKv {
    async fn get(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Reply<Option<Vec<u8>>> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(bucket.get_vec(&key).await)
    }

    /// With `if-not-exists`, a live entry under the key is
    /// `precondition-failed`; a `ttl-ms` is honoured on every store.
    async fn set(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
        options: Option<GuestSetOptions>,
    ) -> Reply<()> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        let options = options.map_or(SetOptions::default(), |o| SetOptions {
            ttl: o.ttl_ms.map(Duration::from_millis),
            if_absent: o.if_not_exists,
        });
        match bucket.set_with(&key, Bytes::from(value), options).await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                tracing::debug!(
                    target: "wasmkv::guest_error",
                    "set bucket {:?} key {:?}: if-not-exists, and the key holds a value",
                    bucket.name(),
                    preview(&key)
                );
                Ok(Err(Error::PreconditionFailed))
            }
            Err(e) => reply(Err(e)),
        }
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Reply<()> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(bucket.delete(&key).await)
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Reply<bool> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(bucket.exists(&key).await)
    }

    /// The cursor is the backend's own, sealed to the bucket (`cursors`),
    /// as draft2's is. A prefix filters the backend's pages.
    async fn list_keys(
        accessor: &Accessor<T, Self>,
        bucket: Resource<Bucket>,
        prefix: Option<String>,
        cursor: Option<String>,
    ) -> Reply<KeyResponse> {
        let (bucket, _) = bucket_of(accessor, &bucket)?;
        reply(list_keys(&bucket, prefix.as_deref(), cursor.as_deref()).await)
    }
}

async fn list_keys(
    bucket: &Bucket,
    prefix: Option<&str>,
    cursor: Option<&str>,
) -> Result<KeyResponse, KvError> {
    let mut start = cursors::start(bucket.name(), cursor)?.map(str::to_string);
    let mut keys = Vec::new();
    for _ in 0..PREFIX_PAGES_PER_CALL {
        let page = bucket.list_keys(start.as_deref()).await?;
        keys.extend(
            page.keys
                .into_iter()
                .filter(|key| prefix.is_none_or(|p| key.starts_with(p))),
        );
        start = page.cursor;
        if !keys.is_empty() || start.is_none() {
            break;
        }
    }
    Ok(KeyResponse {
        keys,
        cursor: start.map(|next| cursors::seal(bucket.name(), &next)),
    })
}
