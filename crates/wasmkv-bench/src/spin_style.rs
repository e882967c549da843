//! SQLite used the way Spin's default key-value store uses it: the rollback
//! journal (no WAL), `synchronous=FULL`, one connection behind a mutex, one
//! statement per operation. It offers what that store offers (get, set,
//! delete, exists); the other operations fail as "not offered" and their
//! rows are left out.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use wasmkv_backend::{Backend, BackendError, BackendResult, Bytes, CounterRange, KeyPage};

/// The comparison store.
pub struct SpinStyleSqlite {
    conn: Arc<Mutex<Connection>>,
}

impl SpinStyleSqlite {
    /// Opens (creating) the file with Spin's settings.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (store, key))",
            [],
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BackendResult<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            op(&conn).map_err(|e| BackendError::unavailable("spin-style", e))
        })
        .await
        .map_err(|e| BackendError::unavailable("spin-style", e))?
    }
}

fn not_offered<T>() -> BackendResult<T> {
    Err(BackendError::unavailable(
        "spin-style",
        "not offered by this store",
    ))
}

#[async_trait]
impl Backend for SpinStyleSqlite {
    fn describe(&self) -> String {
        "spin-style sqlite".into()
    }

    async fn get(&self, ns: &str, key: &str) -> BackendResult<Option<Bytes>> {
        let (ns, key) = (ns.to_string(), key.to_string());
        self.with(move |c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![ns, key], |row| row.get::<_, Vec<u8>>(0))
                .optional()
                .map(|v| v.map(Bytes::from))
        })
        .await
    }

    async fn set(&self, ns: &str, key: &str, value: Bytes) -> BackendResult<()> {
        let (ns, key) = (ns.to_string(), key.to_string());
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![ns, key, &value[..]])
            .map(drop)
        })
        .await
    }

    async fn delete(&self, ns: &str, key: &str) -> BackendResult<()> {
        let (ns, key) = (ns.to_string(), key.to_string());
        self.with(move |c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![ns, key])
                .map(drop)
        })
        .await
    }

    async fn exists(&self, ns: &str, key: &str) -> BackendResult<bool> {
        let (ns, key) = (ns.to_string(), key.to_string());
        self.with(move |c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .exists(params![ns, key])
        })
        .await
    }

    async fn increment(&self, _: &str, _: &str, _: i128, _: CounterRange) -> BackendResult<i128> {
        not_offered()
    }

    async fn compare_and_swap(
        &self,
        _: &str,
        _: &str,
        _: Option<&[u8]>,
        _: Bytes,
    ) -> BackendResult<bool> {
        not_offered()
    }

    async fn get_many(&self, _: &str, _: &[String], _: usize) -> BackendResult<Vec<Option<Bytes>>> {
        not_offered()
    }

    async fn set_many(&self, _: &str, _: Vec<(String, Bytes)>) -> BackendResult<()> {
        not_offered()
    }

    async fn delete_many(&self, _: &str, _: &[String]) -> BackendResult<()> {
        not_offered()
    }

    async fn list_keys(&self, _: &str, _: Option<&str>, _: usize) -> BackendResult<KeyPage> {
        not_offered()
    }
}
