//! Verify JSON Web Tokens exactly as an AWS API Gateway HTTP API JWT authorizer judges them.
//!
//! A [`Verifier`] built from an [`AuthorizerConfig`] takes the `Authorization` header and answers
//! [`Claims`] or an [`AuthError`] that renders API Gateway's own 401/403 response. It follows the
//! authorizer's documented order ("Control access to HTTP APIs with JWT authorizers in API Gateway"):
//!
//! 1. the token from the identity source, a `Bearer ` prefix stripped (size-checked first);
//! 2. header and payload decoded strictly; `alg` in the allow-list (never `none`, never HMAC);
//! 3. the key found by `kid` in the issuer's JWKS (OIDC discovery, or an override);
//! 4. the signature, then `iss` (exact), `aud` (or `client_id` when there is no `aud`), `exp`, `nbf`, `iat`;
//! 5. the route's scopes: at least one of them in `scope` or `scp` (else 403).
//!
//! It depends on no web framework and no AWS SDK: any Rust service can use it alone.
//!
//! ```
//! use portcullis_claims::{AuthError, AuthorizerConfig, Verifier};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = AuthorizerConfig::new("https://issuer.example.com", ["my-api"])?;
//! let verifier = Verifier::new(config)?;
//! let refusal = verifier.authorize(None, &["profile/read"]).await.unwrap_err();
//! assert_eq!(refusal, AuthError::MissingToken);
//! assert_eq!(refusal.status(), 401);
//! assert_eq!(refusal.body(), r#"{"message":"Unauthorized"}"#);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod alb;
mod authorizer;
mod claims;
mod clock;
mod config;
#[cfg(feature = "cors")]
pub mod cors;
mod error;
#[cfg(feature = "explain")]
pub mod explain;
pub mod fetch {
    //! What the verifier fetches from, for the crates that fetch from an issuer too (the OAuth
    //! clients of `portcullis-grant`): https, or plain http to a loopback host; at most three
    //! redirects, on the same host and port, never down to plain http.
    pub use crate::config::check_fetchable;
    pub use crate::jwks::same_host_redirects;
}
mod gate;
pub mod limits {
    //! The bounds the gates hold tokens and key sets to (API Gateway's and the ALB's quotas, with
    //! their sources where each is defined) and the verifier's own cache and fetch bounds.
    pub use crate::config::{
        FETCH_TIMEOUT, KEYS_MAX_AGE, KEYS_MAX_STALENESS, MAX_AUDIENCES, MAX_JWKS_BYTES,
        MAX_ROUTE_SCOPES, MAX_TOKEN_BYTES, REFRESH_COOLDOWN, TOKEN_CACHE_BYTES,
        TOKEN_CACHE_ENTRIES,
    };
    pub use crate::gate::{MAX_CLAIM_RULES, MAX_CLAIM_VALUE_CHARS, MAX_CLAIM_VALUES};
    pub use crate::jwk::MIN_RSA_BITS;
}
#[cfg(feature = "http")]
pub mod http;
mod identity;
mod json;
mod jwk;
mod jwks;
#[cfg(feature = "metrics")]
pub mod metrics;
mod token;
mod utc;
mod verifier;

pub use crate::authorizer::{Authorizer, Judgement, SeedError};
pub use crate::claims::{Claims, gateway_value};
pub use crate::clock::Clock;
pub use crate::config::{Algorithm, AuthorizerConfig, ConfigError, check_domain};
pub use crate::error::{AlgName, AuthError, FORBIDDEN_BODY, UNAUTHORIZED_BODY};
pub use crate::gate::{ALL_RULES, ClaimFormat, ClaimRule, Gate, IdentitySource, ScopeClaims};
pub use crate::identity::{
    Caller, Identity, IdentityMapping, OidcMapping, TokenKind, first_string, owned, token_kind,
};
pub use crate::jwk::{JwksError, KeySet, VerifyingKey};
pub use crate::jwks::{CachePolicy, FetchError, JwksCache, KeyStats};
pub use crate::utc::UtcTime;
pub use crate::verifier::{Verifier, VerifierOptions, require_any_scope, require_scopes};

/// A mutex's guard, also after a panic elsewhere poisoned it: every value behind our mutexes is
/// whole between statements (counts, caches), so it stays usable.
pub(crate) fn lock<T: ?Sized>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The parsers the fuzz targets drive directly (feature `fuzzing`; not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::{Map, Value};

    /// The token from an `Authorization` value, as the verifier takes it (prefix, size).
    pub fn identity_source(value: &str) -> Option<&str> {
        crate::token::identity_source(value).ok()
    }

    /// A compact JWS decoded as the verifier decodes it before any key is looked up: the
    /// algorithm's name, the `kid` and the payload.
    pub fn decode(token: &str) -> Option<(&'static str, String, Map<String, Value>)> {
        let decoded = crate::token::decode(token, &crate::Algorithm::ALL).ok()?;
        Some((decoded.alg.as_str(), decoded.kid, decoded.payload))
    }

    /// An ALB `x-amzn-oidc-data` token decoded before any key: its `kid` and `signer`.
    pub fn alb_decode(token: &str) -> Option<(String, String)> {
        crate::alb::fuzzing::decode(token)
    }

    /// The ALB key endpoint's answer read as a P-256 public key (the uncompressed point).
    pub fn alb_key(pem: &[u8]) -> Option<Vec<u8>> {
        crate::alb::fuzzing::key(pem)
    }

    /// `arn` taken as an ALB signer: the URL of its key `kid`.
    pub fn alb_signer(arn: &str, kid: &str) -> Option<String> {
        crate::alb::fuzzing::signer(arn, kid)
    }

    /// The strict JSON object parser of token headers and payloads.
    pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
        crate::json::parse_object(bytes)
    }

    /// Each gate's additional claim rules in each format, judged on `payload`, and `expression`
    /// read as each gate's identity source. Returns how many rules held.
    pub fn gate_rules(payload: &Map<String, Value>, expression: &str) -> usize {
        use crate::gate::{ClaimFormat, ClaimRule, Gate, IdentitySource};
        for gate in Gate::ALL {
            let _ = IdentitySource::parse(gate, expression);
        }
        let names: Vec<&String> = payload.keys().take(4).collect();
        let mut held = 0;
        for name in names {
            for format in [
                ClaimFormat::SingleString,
                ClaimFormat::StringArray,
                ClaimFormat::SpaceSeparated,
            ] {
                for (values, required) in [(vec![], false), (vec!["a", "b c", ""], true)] {
                    let rule = ClaimRule::new(name.as_str(), format, values, required);
                    held += usize::from(rule.holds(payload));
                }
            }
        }
        held
    }

    /// What the inspector and the refusal log read of any `Authorization` value without a key:
    /// the header and claims decoded leniently, each time claim described, the rule a
    /// segment-level refusal belongs to, and the header's kid. Returns how many time claims were
    /// described.
    pub fn describe(authorization: &str) -> usize {
        crate::explain::describe(authorization)
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
