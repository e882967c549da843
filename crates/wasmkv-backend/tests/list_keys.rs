//! Paged listing on the embedded backends: every key exactly once, pages
//! no larger than asked, a cursor only while more keys follow.

use std::collections::HashSet;

use wasmkv_backend::memory::MemoryBackend;
use wasmkv_backend::sqlite::{SqliteBackend, SqliteOptions};
use wasmkv_backend::{Backend, Bytes};

async fn pages_cover_every_key_once(kv: &dyn Backend) {
    let mut expected = HashSet::new();
    for i in 0..1234 {
        expected.insert(format!("k{i:05}-é"));
    }
    expected.extend(
        ["", "\u{0}", "~", "zz", " "]
            .iter()
            .skip(1)
            .map(|s| s.to_string()),
    );
    let items: Vec<(String, Bytes)> = expected.iter().map(|k| (k.clone(), Bytes::new())).collect();
    kv.set_many("paged", items).await.unwrap();
    kv.set("paged-not", "k00001-é", Bytes::new()).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = kv.list_keys("paged", cursor.as_deref(), 100).await.unwrap();
        assert!(page.keys.len() <= 100, "page of {}", page.keys.len());
        seen.extend(page.keys);
        pages += 1;
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        expected.len(),
        "a key was listed twice or missed"
    );
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(pages, expected.len().div_ceil(100));

    let empty = kv.list_keys("never-used", None, 100).await.unwrap();
    assert!(empty.keys.is_empty() && empty.cursor.is_none());
}

#[tokio::test]
async fn memory_pages_cover_every_key_once() {
    pages_cover_every_key_once(&MemoryBackend::new()).await;
}

#[tokio::test]
async fn sqlite_pages_cover_every_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let kv = SqliteBackend::open(dir.path().join("kv.db"), SqliteOptions::default()).unwrap();
    pages_cover_every_key_once(&kv).await;
}
