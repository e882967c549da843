//! Draft2's operations in its shapes: values as byte lists, batches as
//! `(key, value)` pairs. (`0.2.0-draft` delegates to draft2 for these.)

use wasmkv_engine::{Bucket, Bytes, HostBudget, Interface, KvError};

use crate::WasmKvCtx;

/// Opens a bucket for a `store.open` of the draft `interface`; `""` is a
/// name like any other.
pub(crate) fn open(
    ctx: &WasmKvCtx,
    identifier: &str,
    interface: Interface,
) -> Result<Bucket, KvError> {
    ctx.engine()
        .open_bucket_via(identifier, None, interface, ctx.scope())
}

pub(crate) async fn set(bucket: &Bucket, key: &str, value: Vec<u8>) -> Result<(), KvError> {
    bucket.set(key, Bytes::from(value)).await
}

/// One `(key, value)` per requested key: draft2's shape since its PR #55.
/// The values are charged to `budget` until they are lowered into the
/// guest, so a batch that would not fit is refused before it is read.
pub(crate) async fn get_many(
    bucket: &Bucket,
    keys: Vec<String>,
    budget: &HostBudget,
) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
    let (values, _charge) = bucket.get_many(&keys, budget).await?;
    Ok(keys
        .into_iter()
        .zip(values)
        .map(|(key, value)| (key, value.map(|v| v.to_vec())))
        .collect())
}

/// The older shape of both drafts: absent keys as `none` in place of the pair.
pub(crate) async fn get_many_present(
    bucket: &Bucket,
    keys: Vec<String>,
    budget: &HostBudget,
) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
    Ok(get_many(bucket, keys, budget)
        .await?
        .into_iter()
        .map(|(key, value)| value.map(|v| (key, v)))
        .collect())
}

pub(crate) async fn set_many(
    bucket: &Bucket,
    pairs: Vec<(String, Vec<u8>)>,
) -> Result<(), KvError> {
    let items = pairs
        .into_iter()
        .map(|(k, v)| (k, Bytes::from(v)))
        .collect();
    bucket.set_many(items).await
}
