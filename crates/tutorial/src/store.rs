//! Where profiles live: one JSON object per subject, with a version for optimistic concurrency.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};

/// A stored profile and its version (1 on first write, +1 on each write).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    /// The profile object.
    pub body: Map<String, Value>,
    /// Its version, the ETag.
    pub version: u64,
}

/// What a write requires of the current version (from `If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: write whatever is there.
    None,
    /// `If-Match: *`: a profile must exist.
    Exists,
    /// `If-Match: "N"`: the current version must be N.
    Version(u64),
}

impl Precondition {
    fn holds(self, current: Option<u64>) -> bool {
        match self {
            Precondition::None => true,
            Precondition::Exists => current.is_some(),
            Precondition::Version(v) => current == Some(v),
        }
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The precondition did not hold; nothing was written.
    #[error("precondition failed: current version is {current:?}")]
    Conflict {
        /// The version found, if any.
        current: Option<u64>,
    },
    /// The database failed (logged; clients see a 500).
    #[error("profile store failed: {0}")]
    Backend(String),
}

/// A boxed future, so stores can be chosen at run time.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Profiles by subject. Writes are atomic compare-and-set on the version.
pub trait ProfileStore: Send + Sync + 'static {
    /// The profile of `sub`, if any.
    fn get<'a>(&'a self, sub: &'a str) -> StoreFuture<'a, Option<StoredProfile>>;
    /// Writes `body` as the profile of `sub` if `precondition` holds, returning the new version.
    fn put<'a>(
        &'a self,
        sub: &'a str,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> StoreFuture<'a, StoredProfile>;
}

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

/// A stored JSON text and version back into a profile (shared by every store).
pub(crate) fn decode(body: &str, version: u64) -> Result<StoredProfile, StoreError> {
    match serde_json::from_str(body) {
        Ok(Value::Object(body)) => Ok(StoredProfile { body, version }),
        _ => Err(StoreError::Backend(
            "a stored profile is not a JSON object".into(),
        )),
    }
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
