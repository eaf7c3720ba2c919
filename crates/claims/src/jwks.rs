//! The issuer's keys, fetched once and shared: one fetch in flight, bounded refreshes, fail closed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::Clock;

use tokio::sync::Mutex;
use url::Url;

use crate::config::check_fetchable_for;
use crate::config::{
    Algorithm, AuthorizerConfig, FETCH_TIMEOUT, KEYS_MAX_AGE, KEYS_MAX_STALENESS, MAX_JWKS_BYTES,
    REFRESH_COOLDOWN, check_fetchable,
};
use crate::jwk::{KeySet, Slot, VerifyingKey};

/// How the key cache fetches and refreshes. The defaults are API Gateway's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// Per-request timeout of discovery and JWKS fetches.
    pub timeout: Duration,
    /// Largest JWKS or discovery document accepted.
    pub max_bytes: usize,
    /// Keys older than this are refreshed (and kept if the refresh fails).
    pub max_age: Duration,
    /// Keys not refreshed for this long are no longer used: requests fail closed ("keys
    /// unavailable") until a refresh succeeds.
    pub max_staleness: Duration,
    /// At most one fetch per window for unknown `kid`s, stale keys or retries after a failure.
    pub cooldown: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            timeout: FETCH_TIMEOUT,
            max_bytes: MAX_JWKS_BYTES,
            max_age: KEYS_MAX_AGE,
            max_staleness: KEYS_MAX_STALENESS,
            cooldown: REFRESH_COOLDOWN,
        }
    }
}

/// Why keys could not be fetched. Logged, never shown to clients (they see "keys unavailable").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Connection, timeout or protocol failure.
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A non-200 answer.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Larger than the policy allows.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// Not a usable discovery document or key set.
    #[error("{url} did not answer with a valid {what}")]
    Invalid {
        /// The URL fetched.
        url: String,
        /// What was expected.
        what: &'static str,
    },
}

/// Keys by `kid`, shared by every request of a [`crate::Verifier`].
#[derive(Debug)]
pub struct JwksCache {
    /// The issuer the keys are for (its discovery document must name it exactly).
    issuer: String,
    /// Plain http loopback keys allowed for an https issuer (emulators only).
    loopback_keys: bool,
    source: Source,
    algorithms: Vec<Algorithm>,
    /// The most keys a set may hold for the gate ([`crate::Gate::max_keys`]).
    max_keys: Option<usize>,
    policy: CachePolicy,
    clock: Clock,
    http: reqwest::Client,
    state: RwLock<State>,
    /// Held by the one task fetching; others wait on it, then reuse its result.
    fetching: Mutex<()>,
    /// The JWKS URL once discovery has found it.
    discovered: RwLock<Option<Url>>,
    /// Lookups answered from the cached set without waiting on a fetch, and the others; the hits
    /// are counted only once asked ([`JwksCache::count_lookups`]): on every core, a shared counter
    /// on the hot path costs more than the lookup.
    hits: AtomicU64,
    misses: AtomicU64,
    counting: AtomicBool,
}

/// What a [`JwksCache`] has done since it was made, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Key set documents fetched and stored.
    pub fetches: u64,
    /// Fetch attempts that failed (network, status, size, or not a key set); the cached keys stay.
    pub failures: u64,
    /// Lookups by `kid` answered from the cached set without a fetch, since
    /// [`JwksCache::count_lookups`].
    pub hits: u64,
    /// Lookups that waited on a fetch, or on the cool-down's verdict, because the set was stale or
    /// did not hold the `kid`.
    pub misses: u64,
    /// Usable keys in the set now.
    pub keys: usize,
}

#[derive(Debug)]
enum Source {
    Jwks(Url),
    Discovery(Url),
}

#[derive(Debug, Default)]
struct State {
    keys: Arc<KeySet>,
    /// When the keys were last fetched successfully (None: never), a [`Clock::monotonic`]
    /// reading.
    fetched_at: Option<Duration>,
    /// When a fetch last finished, with or without success.
    attempted_at: Option<Duration>,
    /// Counts finished fetch attempts: a waiter that sees it move knows a fetch happened meanwhile.
    attempts: u64,
    fetches: u64,
}

/// What a lookup by `kid` found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Arc<VerifyingKey>),
    Ambiguous,
    Unknown,
    Unavailable,
}

impl JwksCache {
    /// A cache for the issuer of `config` (or its `jwks_uri` override), starting empty.
    pub fn new(config: &AuthorizerConfig, policy: CachePolicy) -> Result<Self, crate::ConfigError> {
        JwksCache::with_clock(config, policy, Clock::system())
    }

    /// [`JwksCache::new`] measuring key ages and cool-downs on `clock`.
    pub fn with_clock(
        config: &AuthorizerConfig,
        policy: CachePolicy,
        clock: Clock,
    ) -> Result<Self, crate::ConfigError> {
        let source = match config.jwks_uri() {
            Some(url) => Source::Jwks(url.clone()),
            None => Source::Discovery(config.discovery_url()?),
        };
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(same_host_redirects())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::ConfigError::new("http client", e, "a working TLS setup"))?;
        Ok(JwksCache {
            issuer: config.issuer().to_owned(),
            loopback_keys: config.loopback_keys(),
            source,
            algorithms: config.algorithms().to_vec(),
            max_keys: config.gate().max_keys(),
            policy,
            clock,
            http,
            state: RwLock::new(State::default()),
            fetching: Mutex::new(()),
            discovered: RwLock::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            counting: AtomicBool::new(false),
        })
    }

    /// Starts from a known key set (embedded at build time or read from a file), so the first
    /// request needs no network call. The set is refreshed as usual once older than `max_age`.
    pub fn seed(&self, document: &[u8]) -> Result<usize, crate::jwk::JwksError> {
        let keys = self
            .parse(document)
            .ok_or(crate::jwk::JwksError::NotAKeySet)?;
        let count = keys.len();
        let mut state = write(&self.state);
        state.keys = Arc::new(keys);
        state.fetched_at = Some(self.clock.monotonic());
        Ok(count)
    }

    /// Fetches the issuer's key set document now without storing it (for embedding at build time);
    /// refused unless it holds at least one usable key.
    pub async fn fetch_document(&self) -> Result<serde_json::Value, FetchError> {
        let jwks_url = self.jwks_url().await?;
        let body = self.get(&jwks_url).await?;
        let invalid = || FetchError::Invalid {
            url: jwks_url.to_string(),
            what: "JSON Web Key Set with a usable key",
        };
        let keys = self.parse(&body).ok_or_else(invalid)?;
        if keys.is_empty() {
            return Err(invalid());
        }
        serde_json::from_slice(&body).map_err(|_| invalid())
    }

    /// Fetches keys now (at start-up, say) and reports how many are usable.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let _guard = self.fetching.lock().await;
        self.fetch_and_store().await
    }

    /// How many JWKS documents this cache has fetched successfully.
    pub fn fetch_count(&self) -> u64 {
        read(&self.state).fetches
    }

    /// From now on, counts the lookups answered from the cached set too ([`KeyStats::hits`]; the
    /// other statistics are always kept). Metrics turn it on.
    pub fn count_lookups(&self) {
        self.counting.store(true, Ordering::Relaxed);
    }

    /// Fetches, failures, lookups and keys so far.
    pub fn stats(&self) -> KeyStats {
        let state = read(&self.state);
        KeyStats {
            fetches: state.fetches,
            failures: state.attempts - state.fetches,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            keys: state.keys.len(),
        }
    }

    /// The current key set (no fetch).
    pub fn keys(&self) -> Arc<KeySet> {
        read(&self.state).keys.clone()
    }

    /// The key for `kid`: from memory when fresh, else after at most one fetch shared with every
    /// concurrent caller, and never more than one fetch per cool-down window.
    pub(crate) async fn lookup(&self, kid: &str) -> Lookup {
        let seen_attempts = {
            let state = read(&self.state);
            match state.keys.get(kid) {
                Some(slot) if !self.stale(&state) && !self.too_stale(&state) => {
                    if self.counting.load(Ordering::Relaxed) {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                    }
                    return slot_lookup(slot);
                }
                _ => state.attempts,
            }
        };
        self.misses.fetch_add(1, Ordering::Relaxed);
        let _guard = self.fetching.lock().await;
        {
            let state = read(&self.state);
            let fetched_meanwhile = state.attempts != seen_attempts;
            let cooling = state
                .attempted_at
                .is_some_and(|at| self.clock.since(at) < self.policy.cooldown);
            if fetched_meanwhile || cooling {
                return self.settled(&state, kid);
            }
        }
        if let Err(error) = self.fetch_and_store().await {
            tracing::warn!(%error, "JWKS fetch failed; keeping cached keys");
        }
        self.settled(&read(&self.state), kid)
    }

    /// The answer once no further fetch will be made for this request.
    fn settled(&self, state: &State, kid: &str) -> Lookup {
        if self.too_stale(state) {
            tracing::error!(
                max_staleness_s = self.policy.max_staleness.as_secs(),
                "issuer keys not refreshed within the staleness bound; refusing until the issuer answers"
            );
            return Lookup::Unavailable;
        }
        match state.keys.get(kid) {
            Some(slot) => slot_lookup(slot),
            None if state.keys.slots.is_empty() => Lookup::Unavailable,
            None => Lookup::Unknown,
        }
    }

    /// Whether the current set, still within the staleness bound, publishes `key` itself under
    /// its kid: not another key material under the same kid (no fetch).
    pub(crate) fn still_published(&self, key: &Arc<VerifyingKey>) -> bool {
        let state = read(&self.state);
        !self.too_stale(&state)
            && matches!(
                state.keys.get(key.kid()),
                Some(Slot::Key(current)) if Arc::ptr_eq(current, key) || current.is(key)
            )
    }

    /// Keys last fetched (or seeded) longer ago than the staleness bound.
    fn too_stale(&self, state: &State) -> bool {
        state
            .fetched_at
            .is_some_and(|at| self.clock.since(at) >= self.policy.max_staleness)
    }

    fn stale(&self, state: &State) -> bool {
        state
            .fetched_at
            .is_none_or(|at| self.clock.since(at) >= self.policy.max_age)
    }

    async fn fetch_and_store(&self) -> Result<usize, FetchError> {
        let result = self.fetch().await;
        let mut state = write(&self.state);
        state.attempts += 1;
        state.attempted_at = Some(self.clock.monotonic());
        let keys = result?;
        let count = keys.len();
        state.keys = Arc::new(keys);
        state.fetched_at = Some(self.clock.monotonic());
        state.fetches += 1;
        tracing::debug!(keys = count, "JWKS fetched");
        Ok(count)
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let jwks_url = self.jwks_url().await?;
        let body = self.get(&jwks_url).await?;
        self.parse(&body).ok_or_else(|| FetchError::Invalid {
            url: jwks_url.to_string(),
            what: match self.max_keys {
                Some(_) => {
                    "JSON Web Key Set of at most 10 keys (the ALB forwards nothing for more)"
                }
                None => "JSON Web Key Set",
            },
        })
    }

    /// A key set document's usable keys; `None` when it is no key set, or holds more keys than
    /// the gate takes (the ALB counts every key, usable or not: **U**, the conservative reading).
    fn parse(&self, document: &[u8]) -> Option<KeySet> {
        if let Some(max) = self.max_keys {
            #[derive(serde::Deserialize)]
            struct Keys {
                keys: Vec<serde::de::IgnoredAny>,
            }
            let count = serde_json::from_slice::<Keys>(document).ok()?.keys.len();
            if count > max {
                return None;
            }
        }
        KeySet::parse(document, &self.algorithms).ok()
    }

    async fn jwks_url(&self) -> Result<Url, FetchError> {
        let discovery = match &self.source {
            Source::Jwks(url) => return Ok(url.clone()),
            Source::Discovery(url) => url,
        };
        if let Some(url) = read(&self.discovered).clone() {
            return Ok(url);
        }
        let invalid = || FetchError::Invalid {
            url: discovery.to_string(),
            what: "OpenID Connect discovery document with an https jwks_uri",
        };
        let body = self.get(discovery).await?;
        let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|_| invalid())?;
        // OpenID Connect Discovery §4.3: the document's issuer is exactly the one asked about.
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(FetchError::Invalid {
                url: discovery.to_string(),
                what: "OpenID Connect discovery document naming the configured issuer",
            });
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(invalid)?;
        let url = check_fetchable_for(&self.issuer, self.loopback_keys, "jwks_uri", jwks_uri)
            .map_err(|_| invalid())?;
        *write(&self.discovered) = Some(url.clone());
        Ok(url)
    }

    /// GET with the policy's timeout and size cap, reading the body in chunks so an endless or
    /// huge answer is cut off at the cap instead of filling memory.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: url.to_string(),
            reason: e.without_url().to_string(),
        };
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit: self.policy.max_bytes,
        };
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(transport)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        capped_body(response, self.policy.max_bytes)
            .await
            .map_err(transport)?
            .ok_or_else(too_large)
    }
}

/// The body of `response`, read in chunks so an endless or huge answer is cut off at `max` bytes
/// instead of filling memory: `None` when it is over `max`, by its `Content-Length` or as it
/// arrives. What every fetch of ours reads an answer with (key sets, discovery, the ALB's keys).
pub(crate) async fn capped_body(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The redirects every fetch of ours follows: at most 3, on the same host and port, never from
/// https to plain http, never to a place we would refuse to fetch from directly.
pub fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_place = attempt.previous().last().is_some_and(|from| {
            let to = attempt.url();
            from.host_str() == to.host_str()
                && from.port_or_known_default() == to.port_or_known_default()
                && !(from.scheme() == "https" && to.scheme() != "https")
        });
        // `previous()` holds every URL asked so far, the first request's too: three
        // redirects followed have asked four.
        if attempt.previous().len() > 3
            || !same_place
            || check_fetchable("redirect", attempt.url().as_str()).is_err()
        {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

fn slot_lookup(slot: &Slot) -> Lookup {
    match slot {
        Slot::Key(key) => Lookup::Found(key.clone()),
        Slot::Ambiguous => Lookup::Ambiguous,
    }
}

// A poisoned lock only means another thread panicked mid-update of plain data that is always left
// consistent (whole-value replacement), so the data is still safe to use.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
