//! The SQLite profile store (cargo feature `sqlite`, on by default; a Lambda package whose store is
//! DynamoDB leaves it out).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};

use crate::store::{Precondition, ProfileStore, StoreError, StoreFuture, StoredProfile, decode};

/// An SQLite file (WAL journal, so readers never wait on the writer). Survives restarts; several
/// processes may share it (writes take SQLite's write lock, `BEGIN IMMEDIATE`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent folder.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let fail =
            |e: &dyn std::fmt::Display| StoreError::Backend(format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
        }
        let connection = Connection::open(path).map_err(|e| fail(&e))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS profiles (
                     sub TEXT PRIMARY KEY NOT NULL,
                     body TEXT NOT NULL,
                     version INTEGER NOT NULL,
                     updated_at INTEGER NOT NULL DEFAULT (unixepoch())
                 );",
            )
            .map_err(|e| fail(&e))?;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the connection off the async runtime.
    fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let connection = self.connection.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = connection
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                work(&mut guard)
            })
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
        })
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl ProfileStore for SqliteStore {
    fn get<'a>(&'a self, sub: &'a str) -> StoreFuture<'a, Option<StoredProfile>> {
        let sub = sub.to_owned();
        self.blocking(move |c| {
            let row: Option<(String, i64)> = c
                .query_row(
                    "SELECT body, version FROM profiles WHERE sub = ?1",
                    params![sub],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            row.map(|(body, version)| decode(&body, version as u64))
                .transpose()
        })
    }

    fn put<'a>(
        &'a self,
        sub: &'a str,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> StoreFuture<'a, StoredProfile> {
        let sub = sub.to_owned();
        self.blocking(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let current: Option<i64> = tx
                .query_row("SELECT version FROM profiles WHERE sub = ?1", params![sub], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            let current = current.map(|v| v as u64);
            if !precondition.holds(current) {
                return Err(StoreError::Conflict { current });
            }
            let version = current.unwrap_or(0) + 1;
            let text = Value::Object(body.clone()).to_string();
            tx.execute(
                "INSERT INTO profiles (sub, body, version, updated_at) VALUES (?1, ?2, ?3, unixepoch())
                 ON CONFLICT(sub) DO UPDATE SET body = excluded.body, version = excluded.version,
                 updated_at = excluded.updated_at",
                params![sub, text, version as i64],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(StoredProfile { body, version })
        })
    }
}
