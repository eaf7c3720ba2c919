//! The SQLite profile store (cargo feature `sqlite`, on by default; a Lambda package whose store is
//! DynamoDB leaves it out).
//!
//! Schema 2 (`PRAGMA user_version = 2`) keys profiles by issuer and subject. A file of schema 1
//! (no `user_version`, profiles keyed by `sub` alone, as every release before it wrote them) is
//! migrated when opened, in one transaction: its profiles, versions and times are kept, under the
//! issuer the opener names as theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde_json::{Map, Value};

use crate::store::{
    Precondition, ProfileKey, ProfileStore, StoreError, StoreFuture, StoredProfile, decode,
};

mod read_cache;
use read_cache::ReadCache;
pub use read_cache::{CACHED_BYTES, CACHED_READS};

/// The schema this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

const CREATE_PROFILES: &str = "CREATE TABLE profiles (
    issuer TEXT NOT NULL,
    sub TEXT NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
    PRIMARY KEY (issuer, sub)
)";

/// An SQLite file. Survives restarts; several processes may share it (writes take SQLite's write
/// lock, `BEGIN IMMEDIATE`).
///
/// Reads scale with cores: the file is in WAL mode, so readers never wait on the writer, and each
/// read takes a read-only connection of its own from a pool (opened on demand, up to
/// [`IDLE_READERS`] kept idle), with its statement prepared once per connection. Writes go through
/// one writer connection.
///
/// A read is remembered (up to [`CACHED_READS`] of them and [`CACHED_BYTES`] of stored text) and
/// served again while the file is unchanged: while the WAL index's header, which SQLite rewrites at
/// every commit of any connection in any process, still reads as it did before and after the read
/// (see `read_cache.rs`). A write, here or elsewhere, is seen by the next read.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
    cache: Arc<ReadCache>,
}

/// Idle read connections kept for reuse; a burst beyond opens more and closes them after.
pub const IDLE_READERS: usize = 16;

const SELECT_PROFILE: &str = "SELECT body, version FROM profiles WHERE issuer = ?1 AND sub = ?2";
const SELECT_VERSION: &str = "SELECT version FROM profiles WHERE issuer = ?1 AND sub = ?2";
const UPSERT_PROFILE: &str = "INSERT INTO profiles (issuer, sub, body, version, updated_at)
     VALUES (?1, ?2, ?3, ?4, unixepoch())
     ON CONFLICT(issuer, sub) DO UPDATE SET body = excluded.body,
     version = excluded.version, updated_at = excluded.updated_at";

/// Read-only connections to the store's file, idle ones kept for the next read.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Turns for reads on blocking threads.
    blocking: Arc<tokio::sync::Semaphore>,
}

/// Reads on blocking threads at once (each may hold a connection waiting on a lock).
pub const BLOCKING_READS: usize = 32;

impl Readers {
    /// A new read-only connection, without a busy handler (see [`SqliteStore::read`]).
    fn open(&self) -> Result<Connection, rusqlite::Error> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::ZERO)?;
        Ok(connection)
    }

    /// Back to the pool, or closed when enough are idle.
    fn give(&self, connection: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
    }
}

/// How long a statement waits for SQLite's locks (another process's write, a WAL checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's "the file is locked": worth waiting for.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent folder. Profiles an older
    /// release kept by subject alone become `legacy_issuer`'s (the issuer the service trusted when
    /// they were written); a file holding such profiles is refused when `legacy_issuer` is `None`.
    pub fn open(path: &Path, legacy_issuer: Option<&str>) -> Result<SqliteStore, StoreError> {
        let fail =
            |e: &dyn std::fmt::Display| StoreError::Backend(format!("{}: {e}", path.display()));
        if path.as_os_str() == ":memory:" || path.as_os_str().is_empty() {
            return Err(fail(
                &"an in-memory or temporary database would be one per connection: name a file",
            ));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
        }
        let mut connection = Connection::open(path).map_err(|e| fail(&e))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| fail(&e))?;
        let journal: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| fail(&e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(fail(&format!(
                "SQLite kept journal mode {journal:?} where WAL was asked for (readers would wait on the writer)"
            )));
        }
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| fail(&e))?;
        match migrate(&tx, legacy_issuer) {
            Ok(moved) => {
                tx.commit().map_err(|e| fail(&e))?;
                if let Some((rows, issuer)) = moved {
                    tracing::info!(
                        path = %path.display(),
                        rows,
                        issuer,
                        "profiles keyed by subject alone are now keyed by issuer and subject"
                    );
                }
            }
            Err(Migration::Sql(e)) => return Err(fail(&e)),
            Err(Migration::Refused(why)) => return Err(fail(&why)),
        }
        // SQLite names the WAL index after the path it resolved (symbolic links followed).
        let resolved = connection
            .path()
            .filter(|p| !p.is_empty())
            .map_or_else(|| path.to_owned(), PathBuf::from);
        Ok(SqliteStore {
            cache: Arc::new(ReadCache::new(&resolved)),
            writer: Arc::new(Mutex::new(connection)),
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                blocking: Arc::new(tokio::sync::Semaphore::new(BLOCKING_READS)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.readers.path
    }

    /// Idle read connections now (for tests of the pool).
    pub fn idle_readers(&self) -> usize {
        lock(&self.readers.idle).len()
    }

    /// Profile reads that went to the file so far, not served from the reads remembered (for
    /// tests of the cache).
    pub fn file_reads(&self) -> u64 {
        self.cache.file_reads()
    }

    /// Runs `work` on the writer connection off the async runtime.
    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let writer = self.writer.clone();
        off_runtime(move || work(&mut lock(&writer)))
    }

    /// Runs `work` on a read connection of its own. In WAL mode a read does not wait for the
    /// writer, so on an idle pooled connection it runs right on the async thread, with SQLite's
    /// busy handler off: a lookup by key takes microseconds, less than a hop to a blocking thread
    /// and back. A read that needs a new connection (opening a file is not done on the async
    /// threads), or that SQLite answers busy (a connection recovering the WAL after a crash, the
    /// last connection of another process checkpointing as it closes the file), runs on a
    /// blocking thread instead and waits there, up to [`BUSY_TIMEOUT`]; at most
    /// [`BLOCKING_READS`] at once, the others queue for a turn.
    fn read<T: Send + 'static>(
        &self,
        work: impl Fn(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let readers = self.readers.clone();
        Box::pin(async move {
            let idle = lock(&readers.idle).pop();
            let held = match idle {
                Some(connection) => match work(&connection) {
                    Err(error) if is_busy(&error) => Some(connection),
                    done => {
                        readers.give(connection);
                        return done.map_err(backend);
                    }
                },
                None => None,
            };
            let _turn = readers
                .blocking
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StoreError::Backend("the store is closing".into()))?;
            off_runtime(move || {
                let connection = match held {
                    Some(connection) => connection,
                    None => readers.open().map_err(backend)?,
                };
                connection.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
                let result = work(&connection).map_err(backend);
                if connection.busy_timeout(Duration::ZERO).is_ok() {
                    readers.give(connection);
                }
                result
            })
            .await
        })
    }
}

fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> StoreFuture<'static, T> {
    Box::pin(async move {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    })
}

enum Migration {
    Sql(rusqlite::Error),
    Refused(String),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Migration {
        Migration::Sql(e)
    }
}

/// Brings the file to [`SCHEMA_VERSION`] inside `tx`; returns how many profiles moved under
/// which issuer, when some did.
fn migrate(
    tx: &Transaction<'_>,
    legacy_issuer: Option<&str>,
) -> Result<Option<(i64, String)>, Migration> {
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(None);
    }
    if version > SCHEMA_VERSION {
        return Err(Migration::Refused(format!(
            "written by a newer release (schema {version}; this build reads up to {SCHEMA_VERSION})"
        )));
    }
    let keyed_by_subject: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'profiles'",
        [],
        |r| r.get(0),
    )?;
    let mut moved = None;
    if keyed_by_subject {
        let rows: i64 = tx.query_row("SELECT count(*) FROM profiles", [], |r| r.get(0))?;
        let issuer = match legacy_issuer {
            Some(issuer) => issuer,
            None if rows == 0 => "",
            None => {
                return Err(Migration::Refused(format!(
                    "{rows} profiles are keyed by subject alone (written before profiles were keyed by \
                     issuer): open the store naming the issuer whose tokens wrote them"
                )));
            }
        };
        tx.execute_batch("ALTER TABLE profiles RENAME TO profiles_by_subject")?;
        tx.execute_batch(CREATE_PROFILES)?;
        tx.execute(
            "INSERT INTO profiles (issuer, sub, body, version, updated_at)
             SELECT ?1, sub, body, version, updated_at FROM profiles_by_subject",
            params![issuer],
        )?;
        tx.execute_batch("DROP TABLE profiles_by_subject")?;
        if rows > 0 {
            moved = Some((rows, issuer.to_owned()));
        }
    } else {
        tx.execute_batch(CREATE_PROFILES)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(moved)
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl ProfileStore for SqliteStore {
    fn get<'a>(&'a self, key: &'a ProfileKey) -> StoreFuture<'a, Option<StoredProfile>> {
        // The mark is read before the file: what the file gives is then the mark's data or later.
        let mark = self.cache.mark();
        if let Some(found) = mark.as_ref().and_then(|mark| self.cache.get(mark, key)) {
            return Box::pin(std::future::ready(Ok(found)));
        }
        let wanted = key.clone();
        let row = self.read(move |c| {
            c.prepare_cached(SELECT_PROFILE)?
                .query_row(params![wanted.issuer, wanted.subject], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
        });
        Box::pin(async move {
            let row = row.await?;
            let bytes = row.as_ref().map_or(0, |(body, _)| body.len());
            let found = row
                .map(|(body, version)| decode(&body, version as u64))
                .transpose()?;
            self.cache.read_the_file();
            // Remembered only if nothing was committed during the read either: it then holds
            // exactly the mark's data.
            if let Some(mark) = mark.filter(|mark| self.cache.mark().as_ref() == Some(mark)) {
                self.cache.remember(mark, key.clone(), found.clone(), bytes);
            }
            Ok(found)
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a ProfileKey,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> StoreFuture<'a, StoredProfile> {
        let key = key.clone();
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let current: Option<i64> = tx
                .prepare_cached(SELECT_VERSION)
                .and_then(|mut select| {
                    select
                        .query_row(params![key.issuer, key.subject], |r| r.get(0))
                        .optional()
                })
                .map_err(backend)?;
            let current = current.map(|v| v as u64);
            if !precondition.holds(current) {
                return Err(StoreError::Conflict { current });
            }
            let version = current.unwrap_or(0) + 1;
            let text = serde_json::to_string(&body)
                .map_err(|e| StoreError::Backend(format!("a profile did not serialize: {e}")))?;
            tx.prepare_cached(UPSERT_PROFILE)
                .and_then(|mut upsert| {
                    upsert.execute(params![key.issuer, key.subject, text, version as i64])
                })
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(StoredProfile { body, version })
        })
    }
}
