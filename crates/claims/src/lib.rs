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

mod authorizer;
mod claims;
mod config;
mod error;
pub mod grant;
mod identity;
mod json;
mod jwk;
mod jwks;
mod token;
mod utc;
mod verifier;

pub use crate::authorizer::{Authorizer, SeedError};
pub use crate::claims::{Claims, gateway_value};
pub use crate::config::{
    Algorithm, AuthorizerConfig, ConfigError, FETCH_TIMEOUT, KEYS_MAX_AGE, KEYS_MAX_STALENESS,
    MAX_AUDIENCES, MAX_JWKS_BYTES, MAX_ROUTE_SCOPES, MAX_TOKEN_BYTES, REFRESH_COOLDOWN,
    TOKEN_CACHE_BYTES, TOKEN_CACHE_ENTRIES, check_domain,
};
pub use crate::error::{AlgName, AuthError, FORBIDDEN_BODY, UNAUTHORIZED_BODY};
pub use crate::identity::{
    Caller, Identity, IdentityMapping, OidcMapping, TokenKind, first_string, owned, token_kind,
};
pub use crate::jwk::{JwksError, KeySet, MIN_RSA_BITS, VerifyingKey};
pub use crate::jwks::{CachePolicy, FetchError, JwksCache};
pub use crate::utc::UtcTime;
pub use crate::verifier::{Verifier, VerifierOptions, require_any_scope};

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
