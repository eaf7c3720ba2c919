//! The verifier: API Gateway's JWT authorizer rules, in its order.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use serde_json::{Map, Value};

use crate::claims::Claims;
use crate::config::{AuthorizerConfig, ConfigError, TOKEN_CACHE_BYTES, TOKEN_CACHE_ENTRIES};
use crate::error::AuthError;
use crate::gate::{Gate, ScopeClaims};
use crate::jwk::VerifyingKey;
use crate::jwks::{CachePolicy, FetchError, JwksCache, Lookup};
use crate::lock;
use crate::token::{Decoded, decode, identity_source};

/// Tuning that is not security policy: key fetching and the verified-token cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierOptions {
    /// How keys are fetched and refreshed.
    pub cache_policy: CachePolicy,
    /// Verified tokens remembered (LRU); 0 switches the cache off.
    pub token_cache_entries: usize,
    /// The most the remembered claims may take (their estimated heap size); the least recently
    /// used go first, and a token larger than this is verified but never remembered.
    pub token_cache_bytes: usize,
    /// The time tokens are judged by and key ages are measured on (the system's by default).
    pub clock: crate::Clock,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        VerifierOptions {
            cache_policy: CachePolicy::default(),
            token_cache_entries: TOKEN_CACHE_ENTRIES,
            token_cache_bytes: TOKEN_CACHE_BYTES,
            clock: crate::Clock::system(),
        }
    }
}

/// Judges tokens as an API Gateway HTTP API JWT authorizer does. `Send + Sync`, and a clone shares
/// the key cache and the verified-token cache.
///
/// ```no_run
/// use portcullis_claims::{AuthorizerConfig, Verifier};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = AuthorizerConfig::new(
///     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
///     ["6p1kqe3vvbh3e6rh2cbqmqtl5a"],
/// )?;
/// let verifier = Verifier::new(config)?;
/// verifier.hydrate().await?; // fetch keys at start-up, not on the first request
///
/// match verifier.authorize(Some("Bearer eyJ…"), &["profile/read"]).await {
///     Ok(claims) => println!("hello {:?}", claims.sub()),
///     Err(refusal) => println!("{} {}", refusal.status(), refusal.www_authenticate()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: AuthorizerConfig,
    keys: JwksCache,
    clock: crate::Clock,
    tokens: Option<Mutex<TokenCache>>,
    remembered_hits: AtomicU64,
    /// Whether statistics are kept (remembered hits, key lookups, judging times): off until
    /// metrics ask ([`Verifier::count_statistics`]), so the hot path pays nothing for them.
    counting: AtomicBool,
}

/// What a verifier saw of a token it judged, for a log line: never the token.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// For a refusal, the header's `kid` (at most 64 characters), once the token decoded.
    pub(crate) kid: Option<String>,
    /// Whether the token's `iss` is this verifier's issuer (checked or not).
    pub(crate) names_issuer: bool,
}

/// Remembered tokens, bounded by count and by bytes.
///
/// Each is found by its [`slot`] and kept with its whole text: a hit is a token equal byte for
/// byte to one that passed every check. (Finding it by the tail alone, not by a digest of the
/// whole token, spares a hash of up to 10 KiB on every request; the comparison keeps it exact.)
#[derive(Debug)]
struct TokenCache {
    entries: LruCache<[u8; SLOT], Entry>,
    bytes: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct Entry {
    token: Box<str>,
    remembered: Remembered,
    cost: usize,
}

/// Bytes of a token's text that place it in the cache.
const SLOT: usize = 32;

/// Where a token sits in the cache: the last 32 bytes of its text, the tail of its signature
/// (zero-filled for a shorter text). Two tokens an issuer signed do not share it in practice; if
/// they did, the later replaces the earlier. A token that copies a remembered one's signature
/// under other claims shares its slot but not its text: a miss, judged in full.
fn slot(token: &str) -> [u8; SLOT] {
    let tail = &token.as_bytes()[token.len().saturating_sub(SLOT)..];
    let mut slot = [0u8; SLOT];
    slot[SLOT - tail.len()..].copy_from_slice(tail);
    slot
}

impl TokenCache {
    fn put(&mut self, token: &str, remembered: Remembered) {
        let cost = remembered.cost() + allocation(token.len());
        if cost > self.max_bytes {
            return;
        }
        let entry = Entry {
            token: token.into(),
            remembered,
            cost,
        };
        if let Some((_, old)) = self.entries.push(slot(token), entry) {
            // The same slot replaced, or the least recent one evicted by the count bound.
            self.bytes -= old.cost;
        }
        self.bytes += cost;
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= evicted.cost,
                None => break,
            }
        }
    }

    /// The remembered token equal to `token`, if any.
    fn get(&mut self, token: &str) -> Option<Remembered> {
        self.entries
            .get(&slot(token))
            .filter(|entry| *entry.token == *token)
            .map(|entry| entry.remembered.clone())
    }

    fn pop(&mut self, token: &str) {
        let slot = slot(token);
        if self.entries.peek(&slot).is_some_and(|e| *e.token == *token)
            && let Some(entry) = self.entries.pop(&slot)
        {
            self.bytes -= entry.cost;
        }
    }
}

/// A token that passed every check but the time claims and route scopes.
#[derive(Debug, Clone)]
struct Remembered {
    claims: Claims,
    /// The key its signature was checked with (shared with the key set that published it).
    key: Arc<VerifyingKey>,
}

impl Remembered {
    /// The entry's estimated heap size: its claims, their gateway rendering and mapped identity
    /// (each made on a request's first use and kept with the claims) and the cache's own
    /// bookkeeping. (The key is the key set's, shared.)
    fn cost(&self) -> usize {
        const ENTRY: usize = 128;
        ENTRY
            + identity_estimate(self.claims.as_map())
            + self
                .claims
                .as_map()
                .iter()
                .map(|(k, v)| {
                    let rendering = if v.is_null() {
                        0
                    } else {
                        MAP_ENTRY + allocation(k.len()) + allocation(rendered_len(v))
                    };
                    MAP_ENTRY + allocation(k.len()) + value_size(v) + rendering
                })
                .sum::<usize>()
    }
}

/// An upper estimate of the heap an [`crate::Identity`] mapped from `claims` holds: its own
/// allocation, and a copy of every string claim (the mappings Portcullis ships copy a claim at
/// most once), with `scope` and `scp` split into words.
fn identity_estimate(claims: &Map<String, Value>) -> usize {
    const IDENTITY: usize = 256;
    let words = |name: &str| match claims.get(name) {
        Some(Value::String(text)) => text
            .split_ascii_whitespace()
            .map(|word| 24 + allocation(word.len()))
            .sum(),
        _ => 0,
    };
    IDENTITY + claims.values().map(value_size).sum::<usize>() + words("scope") + words("scp")
}

/// What one member of a JSON map costs beside its key's and value's own allocations (a B-tree slot
/// with the `String` and `Value` headers, and the node's share).
const MAP_ENTRY: usize = 96;

/// One heap allocation of `len` bytes as the allocator spends it (a 16-byte minimum chunk and its
/// header).
fn allocation(len: usize) -> usize {
    len.max(16) + 16
}

/// An upper estimate of a value's gateway rendering's length, without rendering it: strings as
/// they are, lists bracketed, objects as JSON text (where a string's quote, backslash or control
/// character takes up to six bytes).
fn rendered_len(value: &Value) -> usize {
    fn quoted(text: &str) -> usize {
        let escapes: usize = text
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum();
        text.len() + 2 + escapes
    }
    fn len(value: &Value, in_json: bool) -> usize {
        match value {
            Value::String(text) if in_json => quoted(text),
            Value::String(text) => text.len(),
            Value::Array(items) => items.iter().map(|v| len(v, in_json) + 1).sum::<usize>() + 2,
            Value::Object(map) => {
                map.iter()
                    .map(|(k, v)| quoted(k) + 1 + len(v, true) + 1)
                    .sum::<usize>()
                    + 2
            }
            Value::Number(_) => 24,
            Value::Bool(_) | Value::Null => 5,
        }
    }
    len(value, false)
}

/// A JSON value's estimated heap size.
fn value_size(value: &Value) -> usize {
    match value {
        Value::String(text) => allocation(text.len()),
        Value::Array(items) => items.iter().map(|v| 32 + value_size(v)).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| MAP_ENTRY + allocation(k.len()) + value_size(v))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

impl Verifier {
    /// A verifier with API Gateway's fetch limits and a verified-token cache.
    pub fn new(config: AuthorizerConfig) -> Result<Verifier, ConfigError> {
        Verifier::with_options(config, VerifierOptions::default())
    }

    /// A verifier with explicit tuning.
    pub fn with_options(
        config: AuthorizerConfig,
        options: VerifierOptions,
    ) -> Result<Verifier, ConfigError> {
        let keys = JwksCache::with_clock(&config, options.cache_policy, options.clock.clone())?;
        let tokens = NonZeroUsize::new(options.token_cache_entries)
            .filter(|_| options.token_cache_bytes > 0)
            .map(|n| {
                Mutex::new(TokenCache {
                    entries: LruCache::new(n),
                    bytes: 0,
                    max_bytes: options.token_cache_bytes,
                })
            });
        Ok(Verifier {
            inner: Arc::new(Inner {
                config,
                keys,
                clock: options.clock,
                tokens,
                remembered_hits: AtomicU64::new(0),
                counting: AtomicBool::new(false),
            }),
        })
    }

    /// The configuration this verifier judges by.
    pub fn config(&self) -> &AuthorizerConfig {
        &self.inner.config
    }

    /// The verified-token cache's entries and estimated bytes now.
    pub fn token_cache_usage(&self) -> (usize, usize) {
        self.inner.tokens.as_ref().map_or((0, 0), |cache| {
            let cache = lock(cache);
            (cache.entries.len(), cache.bytes)
        })
    }

    /// The issuer's key cache (to seed it with an embedded JWKS, or to inspect it).
    pub fn keys(&self) -> &JwksCache {
        &self.inner.keys
    }

    /// Fetches the issuer's keys now, so the first request does not wait on the network.
    pub async fn hydrate(&self) -> Result<usize, FetchError> {
        self.inner.keys.refresh().await
    }

    /// Judges a request: `authorization` is the identity source (the `Authorization` header, absent
    /// as `None`), `route_scopes` the scopes the route lists (empty: any valid token).
    pub async fn authorize<S: AsRef<str>>(
        &self,
        authorization: Option<&str>,
        route_scopes: &[S],
    ) -> Result<Claims, AuthError> {
        let claims = self.verify(authorization.unwrap_or_default()).await?;
        require_scopes(self.config().gate(), &claims, route_scopes)?;
        Ok(claims)
    }

    /// Verifies an `Authorization` value (`Bearer <token>`) or a bare token, without route scopes.
    pub async fn verify(&self, authorization: &str) -> Result<Claims, AuthError> {
        self.verify_seen(authorization).await.0
    }

    /// [`Verifier::verify`], with what an operator may be told of the token: its `kid` and
    /// whether it named this verifier's issuer (never the token itself).
    pub(crate) async fn verify_seen(
        &self,
        authorization: &str,
    ) -> (Result<Claims, AuthError>, Seen) {
        let token = match identity_source(authorization) {
            Ok(token) => token,
            Err(refusal) => return (Err(refusal), Seen::default()),
        };
        let now = self.inner.clock.unix().as_secs_f64();
        // The kid is copied out only for a refusal: an accepted request allocates nothing for it.
        if let Some(remembered) = self.recall(token) {
            let verdict = check_times(remembered.claims.as_map(), now, self.leeway());
            let seen = Seen {
                kid: verdict.is_err().then(|| clip(remembered.key.kid())),
                names_issuer: true,
            };
            return (verdict.map(|()| remembered.claims), seen);
        }
        let decoded = match decode(token, self.inner.config.algorithms()) {
            Ok(decoded) => decoded,
            Err(refusal) => return (Err(refusal), Seen::default()),
        };
        let names_issuer =
            decoded.payload.get("iss").and_then(Value::as_str) == Some(self.inner.config.issuer());
        // The kid and iss help an operator; both are the sender's words, so kept short.
        let refused = |refusal, decoded: &Decoded<'_>| {
            let seen = Seen {
                kid: Some(clip(&decoded.kid)),
                names_issuer,
            };
            (Err(refusal), seen)
        };
        match self.check(&decoded).await {
            Ok(key) => {
                // Judged before the claims are remembered, as before: an expired token is
                // remembered too, and refused again from the cache without a signature check.
                if let Err(refusal) = check_times(&decoded.payload, now, self.leeway()) {
                    let answer = refused(refusal, &decoded);
                    self.admit(decoded, key, token);
                    return answer;
                }
                let claims = self.admit(decoded, key, token);
                let seen = Seen {
                    kid: None,
                    names_issuer,
                };
                (Ok(claims), seen)
            }
            Err(refusal) => refused(refusal, &decoded),
        }
    }

    /// From now on, keeps statistics for metrics: tokens answered from the verified-token cache,
    /// key lookups answered from the cached key set, and how long each judgement takes.
    pub fn count_statistics(&self) {
        self.inner.counting.store(true, Ordering::Relaxed);
        self.inner.keys.count_lookups();
    }

    /// Whether [`Verifier::count_statistics`] was asked for.
    pub fn counts_statistics(&self) -> bool {
        self.inner.counting.load(Ordering::Relaxed)
    }

    /// Tokens answered from the verified-token cache since [`Verifier::count_statistics`].
    pub fn remembered_hits(&self) -> u64 {
        self.inner.remembered_hits.load(Ordering::Relaxed)
    }

    /// Key, signature, issuer, audience and token use: everything but time claims and scopes.
    async fn check(&self, decoded: &Decoded<'_>) -> Result<Arc<VerifyingKey>, AuthError> {
        let config = &self.inner.config;
        let key = match self.inner.keys.lookup(&decoded.kid).await {
            Lookup::Found(key) => key,
            Lookup::Ambiguous => return Err(AuthError::AmbiguousKid),
            Lookup::Unknown => return Err(AuthError::UnknownKid),
            Lookup::Unavailable => return Err(AuthError::KeysUnavailable),
        };
        let public_key = key
            .for_algorithm(decoded.alg)
            .ok_or(AuthError::KeyAlgorithmMismatch)?;
        public_key
            .verify_sig(decoded.signing_input.as_bytes(), &decoded.signature)
            .map_err(|_| AuthError::InvalidSignature)?;
        check_issuer(&decoded.payload, config.issuer())?;
        let gate = config.gate();
        if gate.checks_audience() {
            check_audience(
                &decoded.payload,
                config.audiences(),
                gate.client_id_fallback(),
            )?;
        }
        if let Some(required) = config.token_use()
            && decoded.payload.get("token_use").and_then(Value::as_str) != Some(required)
        {
            return Err(AuthError::WrongTokenUse);
        }
        if let Some(rule) = config.claims().iter().find(|r| !r.holds(&decoded.payload)) {
            return Err(AuthError::InvalidClaim(rule.name().to_owned()));
        }
        Ok(key)
    }

    /// Turns a token checked with `key` into claims, remembering it for next time.
    fn admit(&self, decoded: Decoded<'_>, key: Arc<VerifyingKey>, token: &str) -> Claims {
        let claims = Claims::from_map(decoded.payload);
        if let Some(cache) = &self.inner.tokens {
            let entry = Remembered {
                claims: claims.clone(),
                key,
            };
            lock(cache).put(token, entry);
        }
        claims
    }

    /// A remembered token equal to `token`, unless its key has since left the issuer's key set.
    fn recall(&self, token: &str) -> Option<Remembered> {
        let cache = self.inner.tokens.as_ref()?;
        let remembered = lock(cache).get(token)?;
        if self.inner.keys.still_published(&remembered.key) {
            if self.inner.counting.load(Ordering::Relaxed) {
                self.inner.remembered_hits.fetch_add(1, Ordering::Relaxed);
            }
            Some(remembered)
        } else {
            lock(cache).pop(token);
            None
        }
    }

    /// The time tokens are judged by, in whole seconds since the epoch (the explanation's "how far
    /// from now").
    #[cfg(feature = "explain")]
    pub(crate) fn now_unix(&self) -> i64 {
        i64::try_from(self.inner.clock.unix().as_secs()).unwrap_or(i64::MAX)
    }

    fn leeway(&self) -> f64 {
        self.inner.config.leeway().as_secs_f64()
    }
}

/// API Gateway's scope rule: a route that lists scopes needs at least one of them in the token.
pub fn require_any_scope<S: AsRef<str>>(
    claims: &Claims,
    route_scopes: &[S],
) -> Result<(), AuthError> {
    require_scopes(Gate::HttpApi, claims, route_scopes)
}

/// `gate`'s scope rule ([`Gate::scope_rule`]): a route that lists scopes needs at least one of
/// them in the token.
pub fn require_scopes<S: AsRef<str>>(
    gate: Gate,
    claims: &Claims,
    route_scopes: &[S],
) -> Result<(), AuthError> {
    if route_scopes.is_empty() {
        return Ok(());
    }
    let held = match gate.scope_rule() {
        ScopeClaims::ScopeOrScp => claims.scopes(),
        ScopeClaims::ScopeOnly => claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|scope| scope.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
    };
    if route_scopes.iter().any(|r| held.contains(&r.as_ref())) {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope {
            required: route_scopes.iter().map(|s| s.as_ref().to_owned()).collect(),
        })
    }
}

fn check_issuer(payload: &Map<String, Value>, issuer: &str) -> Result<(), AuthError> {
    match payload.get("iss") {
        Some(Value::String(iss)) if iss == issuer => Ok(()),
        _ => Err(AuthError::InvalidIssuer),
    }
}

/// `aud` when present (string or list); with `client_id_fallback` (the HTTP API), `client_id`
/// only when `aud` is absent (AWS: "API Gateway validates client_id only if aud is not present").
fn check_audience(
    payload: &Map<String, Value>,
    audiences: &[String],
    client_id_fallback: bool,
) -> Result<(), AuthError> {
    let accepted = |s: &str| audiences.iter().any(|a| a == s);
    let ok = match payload.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        // A list must hold strings only: a member of another type makes the whole claim invalid
        // (aws-jwt-verify and golang-jwt refuse it too), never skipped.
        Some(Value::Array(list)) => {
            list.iter().all(Value::is_string) && list.iter().filter_map(Value::as_str).any(accepted)
        }
        Some(_) => false,
        None => {
            client_id_fallback
                && payload
                    .get("client_id")
                    .and_then(Value::as_str)
                    .is_some_and(accepted)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidAudience)
    }
}

/// `exp` required and numeric; `nbf` and `iat` numeric when present. A string date is refused,
/// never skipped (the mistake behind CVE-2026-25537 in another verifier).
fn check_times(payload: &Map<String, Value>, now: f64, leeway: f64) -> Result<(), AuthError> {
    let date = |name: &str, invalid: AuthError| match payload.get(name) {
        None => Ok(None),
        Some(value) => value.as_f64().map(Some).ok_or(invalid),
    };
    let exp = date("exp", AuthError::InvalidExpiry)?.ok_or(AuthError::InvalidExpiry)?;
    if now >= exp + leeway {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = date("nbf", AuthError::InvalidNotBefore)?
        && nbf > now + leeway
    {
        return Err(AuthError::NotYetValid);
    }
    if let Some(iat) = date("iat", AuthError::InvalidIssuedAt)?
        && iat > now + leeway
    {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(())
}

/// At most 64 characters of a sender-chosen string, for logs.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::gateway_value;
    use serde_json::json;

    /// The token cache's byte budget holds only if no rendering is longer than its estimate.
    #[test]
    fn the_rendering_estimate_is_never_short() {
        let values = [
            json!("plain"),
            json!("\u{1}\"\\ raw at the top level"),
            json!(["a", "b c", 1, null, true]),
            json!({"a": "\u{1}\u{1f}\"\\", "b\n": ["\t", {"c": "\u{0}"}]}),
            json!([{"nested": "\"quoted\""}]),
            json!(u64::MAX),
            json!(-1.5e300),
            json!(i64::MIN),
            json!(false),
        ];
        for value in values {
            let rendered = gateway_value(&value).expect("not null");
            assert!(
                rendered_len(&value) >= rendered.len(),
                "{value}: estimated {} for {} bytes ({rendered})",
                rendered_len(&value),
                rendered.len()
            );
        }
    }

    /// Nor any identity the claims crate's mapping makes.
    #[test]
    fn the_identity_estimate_is_never_short() {
        use crate::{IdentityMapping, OidcMapping};
        fn held(identity: &crate::Identity) -> usize {
            let text = |s: &Option<String>| s.as_ref().map_or(0, |s| allocation(s.capacity()));
            let list = |l: &Vec<String>| {
                24 * l.capacity() + l.iter().map(|s| allocation(s.capacity())).sum::<usize>()
            };
            std::mem::size_of::<crate::Identity>()
                + 16
                + text(&identity.subject)
                + text(&identity.username)
                + text(&identity.email)
                + text(&identity.client_id)
                + list(&identity.groups)
                + list(&identity.permissions)
                + list(&identity.token_scopes)
        }
        let claims = [
            json!({}),
            json!({"sub": "u", "scope": "a b c d e f g h i j k l m n o p q r s t u v w x y z"}),
            json!({"sub": "x".repeat(300), "preferred_username": "alice", "email": "a@b.c",
                   "groups": ["g1", "g2", "g3"], "permissions": vec!["p"; 40], "azp": "web",
                   "scp": ["one", "two"], "nonce": "n"}),
            json!({"scp": "a  b\tc", "client_id": "c", "cognito:username": "bob"}),
        ];
        for claims in claims {
            let map = claims.as_object().cloned().unwrap_or_default();
            let identity = OidcMapping.identity(&crate::Claims::from_map(map.clone()));
            assert!(
                identity_estimate(&map) >= held(&identity),
                "{claims}: estimated {} for {}",
                identity_estimate(&map),
                held(&identity)
            );
        }
    }

    #[test]
    fn verifier_is_shareable_across_threads_and_tasks() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Verifier>();
        fn future_is_send<F: std::future::Future + Send>(_: F) {}
        let config = AuthorizerConfig::new("https://issuer.example.com", ["a"]).expect("config");
        let verifier = Verifier::new(config).expect("verifier");
        future_is_send(verifier.verify("token"));
        future_is_send(verifier.authorize(None, &["scope"]));
    }

    #[test]
    fn log_clipping_respects_character_boundaries() {
        assert_eq!(clip(&"é".repeat(100)).chars().count(), 64);
        assert_eq!(clip("short"), "short");
    }
}
