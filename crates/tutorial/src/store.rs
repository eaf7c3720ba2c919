//! Where profiles live: one JSON object per user (issuer and subject), with a version for
//! optimistic concurrency.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

/// Whose a profile is: the issuer that vouches for the user and the user's subject (`sub`) there.
/// Subjects are unique only within their issuer: two issuers (or one provider after another) may
/// both issue `sub = "alice"`, and those are two users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileKey {
    /// The issuer, as the service keeps records under it (`AuthSettings::record_issuer`).
    pub issuer: String,
    pub subject: String,
}

impl ProfileKey {
    /// The key of `subject` at `issuer`.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> ProfileKey {
        ProfileKey {
            issuer: issuer.into(),
            subject: subject.into(),
        }
    }
}

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
    /// Whether a write may go ahead when the stored version is `current` (`None`: no profile yet).
    /// Stores that check it themselves (DynamoDB's condition expressions) need not call it.
    pub fn holds(self, current: Option<u64>) -> bool {
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

/// Profiles by [`ProfileKey`]. Writes are atomic compare-and-set on the version.
///
/// Stores written before profiles were keyed by issuer kept them by subject alone; each store
/// takes the issuer those belong to (the one the service trusted then) and migrates them.
pub trait ProfileStore: Send + Sync + 'static {
    /// The profile of `key`, if any.
    fn get<'a>(&'a self, key: &'a ProfileKey) -> StoreFuture<'a, Option<StoredProfile>>;
    /// Writes `body` as the profile of `key` if `precondition` holds, returning the new version.
    fn put<'a>(
        &'a self,
        key: &'a ProfileKey,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> StoreFuture<'a, StoredProfile>;
}

/// A stored JSON text and version back into a profile (shared by every store).
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) fn decode(body: &str, version: u64) -> Result<StoredProfile, StoreError> {
    match serde_json::from_str(body) {
        Ok(Value::Object(body)) => Ok(StoredProfile { body, version }),
        _ => Err(StoreError::Backend(
            "a stored profile is not a JSON object".into(),
        )),
    }
}
