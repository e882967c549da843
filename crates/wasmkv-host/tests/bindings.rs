//! The host bindings called in-process, through the generated `Host`
//! traits and without wasm, as wasmtime's own wasi-keyvalue tests do: each
//! version's semantics, its one error path, cursors and the host budget.

use wasmkv_host::draft::bindings::wasi::keyvalue as draft;
use wasmkv_host::draft2::bindings::wasi::keyvalue as draft2;
use wasmkv_host::draft2::spin_bindings::wasi::keyvalue::batch as draft2_spin_batch;
use wasmkv_host::{KvEngine, Limits, StoreUrl, WasmKv, WasmKvCtx};
use wasmtime::component::{Resource, ResourceTable};

use draft2::atomics::{CasError, Host as _, HostCas as _};
use draft2::batch::Host as _;
use draft2::store::{Error, Host as _, HostBucket as _};

async fn context(limits: Limits) -> WasmKvCtx {
    let engine = KvEngine::builder()
        .store_url("default", StoreUrl::memory())
        .grant("b", "default")
        .grant("other", "default")
        .limits(limits)
        .build()
        .await
        .unwrap();
    WasmKvCtx::new(engine)
}

/// A borrow of a resource, as a guest passes it to each call.
fn borrow<T: 'static>(owned: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(owned.rep())
}

/// The value of a call that must succeed.
fn ok<T, E: std::fmt::Debug>(result: wasmtime::Result<Result<T, E>>) -> T {
    result.expect("trapped").expect("failed")
}

/// The trace of a call that must fail with `other`.
fn other_trace<T>(result: wasmtime::Result<Result<T, Error>>) -> String {
    match result.expect("trapped") {
        Err(Error::Other(trace)) => trace,
        Err(e) => panic!("expected `other`, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[tokio::test]
async fn draft2_store_atomics_and_both_batch_shapes() {
    let ctx = context(Limits::default()).await;
    let mut table = ResourceTable::new();
    let mut kv = WasmKv::new(&ctx, &mut table);
    let b = ok(kv.open("b".into()).await);

    ok(kv.set(borrow(&b), "k".into(), b"v".to_vec()).await);
    assert_eq!(
        ok(kv.get(borrow(&b), "k".into()).await),
        Some(b"v".to_vec())
    );
    assert!(!ok(kv.exists(borrow(&b), "nope".into()).await));

    // Signed counters; leaving the i64 range is an error, never a clamp.
    assert_eq!(ok(kv.increment(borrow(&b), "n".into(), -5).await), -5);
    let over = other_trace(kv.increment(borrow(&b), "n".into(), i64::MIN).await);
    assert!(over.contains("overflows"), "{over}");

    // cas: a stale handle fails and hands back a fresh one.
    let stale = ok(kv.new(borrow(&b), "k".into()).await);
    ok(kv.set(borrow(&b), "k".into(), b"w".to_vec()).await);
    match kv.swap(stale, b"x".to_vec()).await.unwrap() {
        Err(CasError::CasFailed(fresh)) => {
            assert_eq!(ok(kv.current(borrow(&fresh)).await), Some(b"w".to_vec()));
            assert!(kv.swap(fresh, b"x".to_vec()).await.unwrap().is_ok());
        }
        Err(CasError::StoreError(e)) => panic!("{e:?}"),
        Ok(()) => panic!("a stale cas swapped"),
    }

    let keys = vec!["k".to_string(), "absent".to_string()];
    let spec = ok(draft2::batch::Host::get_many(&mut kv, borrow(&b), keys.clone()).await);
    assert_eq!(spec, vec![Some(("k".into(), b"x".to_vec())), None]);
    let spin = ok(draft2_spin_batch::Host::get_many(&mut kv, borrow(&b), keys).await);
    assert_eq!(
        spin,
        vec![("k".into(), Some(b"x".to_vec())), ("absent".into(), None)]
    );
    ok(kv.delete_many(borrow(&b), vec!["k".into()]).await);
    assert_eq!(ok(kv.get(borrow(&b), "k".into()).await), None);

    let denied = kv.open("secret".into()).await.unwrap();
    assert!(matches!(denied, Err(Error::AccessDenied)));
}

#[tokio::test]
async fn draft2_cursors_are_sealed_to_their_bucket() {
    let ctx = context(Limits::default()).await;
    let mut table = ResourceTable::new();
    let mut kv = WasmKv::new(&ctx, &mut table);
    let b = kv.open("b".into()).await.unwrap().unwrap();
    let other = kv.open("other".into()).await.unwrap().unwrap();
    let pairs: Vec<(String, Vec<u8>)> = (0..1500).map(|i| (format!("k{i:04}"), vec![])).collect();
    for chunk in pairs.chunks(500) {
        kv.set_many(borrow(&b), chunk.to_vec())
            .await
            .unwrap()
            .unwrap();
    }
    let first = kv.list_keys(borrow(&b), None).await.unwrap().unwrap();
    let cursor = first.cursor.expect("1500 keys take two pages");
    let rest = kv
        .list_keys(borrow(&b), Some(cursor.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.keys.len() + rest.keys.len(), 1500);
    assert_eq!(rest.cursor, None);
    for forged in [Some(cursor.clone()), Some("0".into()), Some("k0500".into())] {
        let on = if forged.as_deref() == Some(cursor.as_str()) {
            &other
        } else {
            &b
        };
        let refused = other_trace(kv.list_keys(borrow(on), forged).await);
        assert!(refused.contains("not issued"), "{refused}");
    }
}

#[tokio::test]
async fn a_batch_over_the_instance_budget_is_refused_by_name() {
    let limits = Limits {
        max_instance_bytes: 1000,
        ..Limits::default()
    };
    let ctx = context(limits).await;
    let mut table = ResourceTable::new();
    let mut kv = WasmKv::new(&ctx, &mut table);
    let b = kv.open("b".into()).await.unwrap().unwrap();
    kv.set(borrow(&b), "big".into(), vec![1; 600])
        .await
        .unwrap()
        .unwrap();
    let one = draft2::batch::Host::get_many(&mut kv, borrow(&b), vec!["big".into()]).await;
    assert!(one.unwrap().is_ok());
    let two = draft2::batch::Host::get_many(&mut kv, borrow(&b), vec!["big".into(), "big".into()]);
    let refused = other_trace(two.await);
    assert!(refused.contains("max_instance_bytes (1000)"), "{refused}");
    assert_eq!(ctx.budget().used(), 0, "a finished call holds nothing");
}

#[tokio::test]
async fn the_older_draft_delegates_and_keeps_its_own_counters_and_cursors() {
    let ctx = context(Limits::default()).await;
    let mut table = ResourceTable::new();
    let mut kv = WasmKv::new(&ctx, &mut table);
    let b = draft::store::Host::open(&mut kv, "b".into())
        .await
        .unwrap()
        .unwrap();
    draft::store::HostBucket::set(&mut kv, borrow(&b), "k".into(), b"v".to_vec())
        .await
        .unwrap()
        .unwrap();
    let got = draft::store::HostBucket::get(&mut kv, borrow(&b), "k".into()).await;
    assert_eq!(ok(got), Some(b"v".to_vec()));
    let n = draft::atomics::Host::increment(&mut kv, borrow(&b), "n".into(), u64::MAX).await;
    assert_eq!(ok(n), u64::MAX);
    let over = draft::atomics::Host::increment(&mut kv, borrow(&b), "n".into(), 1).await;
    assert!(matches!(over.unwrap(), Err(draft::store::Error::Other(t)) if t.contains("overflows")));
    let unknown = draft::store::HostBucket::list_keys(&mut kv, borrow(&b), Some(12345)).await;
    assert!(
        matches!(unknown.unwrap(), Err(draft::store::Error::Other(t)) if t.contains("unknown or expired cursor"))
    );
    let denied = draft::store::Host::open(&mut kv, "secret".into())
        .await
        .unwrap();
    assert!(matches!(denied, Err(draft::store::Error::AccessDenied)));
}
