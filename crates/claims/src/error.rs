//! Why a token was refused, and how API Gateway answers it.
//!
//! An HTTP API JWT authorizer answers every refusal with one of two responses:
//!
//! - `401 {"message":"Unauthorized"}` with
//!   `www-authenticate: Bearer scope="" error="invalid_token" error_description="…"`;
//! - `403 {"message":"Forbidden"}` when a valid token lacks every scope the route lists.
//!
//! AWS documents exactly one description string, the audience one, in
//! "Troubleshooting issues with HTTP API JWT authorizers" (API Gateway developer guide):
//! `www-authenticate: Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"`.
//! Every other description below is ours, written in the same lower-case style; none of them ever
//! quotes bytes from the token, so a hostile token cannot inject text into the header.

use std::fmt;

/// The body API Gateway sends with a 401.
pub const UNAUTHORIZED_BODY: &str = r#"{"message":"Unauthorized"}"#;
/// The body API Gateway sends with a 403.
pub const FORBIDDEN_BODY: &str = r#"{"message":"Forbidden"}"#;

/// A refusal. Each variant is one rule; [`AuthError::description`] is what the client is told.
///
/// ```
/// use portcullis_claims::AuthError;
/// let e = AuthError::InvalidAudience;
/// assert_eq!(e.status(), 401);
/// assert_eq!(e.body(), r#"{"message":"Unauthorized"}"#);
/// assert_eq!(
///     e.www_authenticate(),
///     r#"Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience""#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No identity source: the `Authorization` header is absent or empty.
    #[error("the request has no token")]
    MissingToken,
    /// More than one `Authorization` header: which one a gateway would judge is not documented,
    /// so none is (a valid token beside junk must not pass because of the order).
    #[error("the request has more than one token")]
    RepeatedToken,
    /// The token is larger than API Gateway lets a request carry (10240 bytes).
    #[error("the token is too large")]
    TokenTooLarge,
    /// Not three dot-separated segments.
    #[error("the token does not have three segments")]
    Malformed,
    /// A segment is not unpadded base64url.
    #[error("the token is not valid base64url")]
    InvalidBase64,
    /// The header is not a JSON object, or repeats a member.
    #[error("the token header is not a valid JSON object")]
    InvalidHeader,
    /// The payload is not a JSON object, or repeats a member.
    #[error("the token payload is not a valid JSON object")]
    InvalidPayload,
    /// `alg` is `none` (in any letter case): an unsigned token.
    #[error("the token is not signed")]
    Unsigned,
    /// `alg` is missing, unknown, or outside the configured allow-list.
    #[error("signing method {0} is invalid")]
    AlgorithmNotAllowed(AlgName),
    /// The header lists `crit` extensions; this verifier understands none.
    #[error("the token header has unsupported critical parameters")]
    UnsupportedCritical,
    /// The header has no string `kid`.
    #[error("the token header has no kid")]
    MissingKid,
    /// The `kid` is not of the form the gate fetches keys by (the ALB's: a UUID), so it never
    /// goes near a URL.
    #[error("the token header has an invalid kid")]
    InvalidKid,
    /// No usable key with this `kid` in the issuer's JWKS (after any allowed refresh).
    #[error("no signing key matches the token's kid")]
    UnknownKid,
    /// The JWKS holds more than one key with this `kid`: ambiguous, so none is used.
    #[error("the signing key for the token's kid is ambiguous")]
    AmbiguousKid,
    /// The key found by `kid` is of another type or algorithm than the token's `alg`.
    #[error("the signing key does not match the token's algorithm")]
    KeyAlgorithmMismatch,
    /// The signature does not verify with the issuer's key.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// The issuer's keys could not be fetched and none is cached: fail closed.
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
    /// `iss` is missing or not exactly the configured issuer.
    #[error("the token does not have a valid issuer")]
    InvalidIssuer,
    /// The ALB's token names no configured load balancer as its `signer`: any ALB in the region,
    /// in any account, signs with the same key service, so only the signer tells yours apart.
    #[error("the token was not signed by a configured load balancer")]
    WrongSigner,
    /// `aud` (or, without `aud`, `client_id`) matches none of the configured audiences.
    /// The description is the one AWS documents.
    #[error("the token does not have a valid audience")]
    InvalidAudience,
    /// `exp` is missing or not a number.
    #[error("the token has no valid exp claim")]
    InvalidExpiry,
    /// `exp` is in the past.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is present and not a number.
    #[error("the token has an invalid nbf claim")]
    InvalidNotBefore,
    /// `nbf` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is present and not a number.
    #[error("the token has an invalid iat claim")]
    InvalidIssuedAt,
    /// `iat` is in the future.
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `token_use` differs from the configured one (a Portcullis option; API Gateway does not check it).
    #[error("the token is not of the required token use")]
    WrongTokenUse,
    /// An additional claim rule (REST API, ALB) does not hold: the claim, named by the
    /// configuration (never the token's words), is missing, of another type, or none of the
    /// expected values.
    #[error("the token does not have a valid {0} claim")]
    InvalidClaim(String),
    /// The token is valid but carries none of the scopes the route requires.
    #[error("the token does not have the required scopes")]
    InsufficientScope {
        /// The scopes the route lists (any one suffices).
        required: Vec<String>,
    },
}

impl AuthError {
    /// 401 for every refusal but a scope miss, which is 403.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InsufficientScope { .. } => 403,
            _ => 401,
        }
    }

    /// The JSON body API Gateway answers with.
    pub fn body(&self) -> &'static str {
        match self {
            AuthError::InsufficientScope { .. } => FORBIDDEN_BODY,
            _ => UNAUTHORIZED_BODY,
        }
    }

    /// The rule that refused, as a short stable name for metrics labels and log fields
    /// (`expired`, `unknown_kid`, …): one per variant, listed in [`AuthError::REASONS`].
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::RepeatedToken => "repeated_token",
            AuthError::TokenTooLarge => "token_too_large",
            AuthError::Malformed => "malformed",
            AuthError::InvalidBase64 => "invalid_base64",
            AuthError::InvalidHeader => "invalid_header",
            AuthError::InvalidPayload => "invalid_payload",
            AuthError::Unsigned => "unsigned",
            AuthError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            AuthError::UnsupportedCritical => "unsupported_critical",
            AuthError::MissingKid => "missing_kid",
            AuthError::InvalidKid => "invalid_kid",
            AuthError::UnknownKid => "unknown_kid",
            AuthError::AmbiguousKid => "ambiguous_kid",
            AuthError::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            AuthError::InvalidSignature => "invalid_signature",
            AuthError::KeysUnavailable => "keys_unavailable",
            AuthError::InvalidIssuer => "invalid_issuer",
            AuthError::WrongSigner => "wrong_signer",
            AuthError::InvalidAudience => "invalid_audience",
            AuthError::InvalidExpiry => "invalid_exp",
            AuthError::Expired => "expired",
            AuthError::InvalidNotBefore => "invalid_nbf",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::InvalidIssuedAt => "invalid_iat",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::WrongTokenUse => "wrong_token_use",
            AuthError::InvalidClaim(_) => "invalid_claim",
            AuthError::InsufficientScope { .. } => "insufficient_scope",
        }
    }

    /// Every [`AuthError::reason`], in the order the rules are judged.
    pub const REASONS: [&'static str; 29] = [
        "missing_token",
        "repeated_token",
        "token_too_large",
        "malformed",
        "invalid_base64",
        "invalid_header",
        "invalid_payload",
        "unsigned",
        "algorithm_not_allowed",
        "unsupported_critical",
        "missing_kid",
        "invalid_kid",
        "unknown_kid",
        "ambiguous_kid",
        "key_algorithm_mismatch",
        "invalid_signature",
        "keys_unavailable",
        "invalid_issuer",
        "wrong_signer",
        "invalid_audience",
        "invalid_exp",
        "expired",
        "invalid_nbf",
        "not_yet_valid",
        "invalid_iat",
        "issued_in_future",
        "wrong_token_use",
        "invalid_claim",
        "insufficient_scope",
    ];

    /// The `error_description` put in the `WWW-Authenticate` header.
    pub fn description(&self) -> String {
        self.to_string()
    }

    /// The value of the `WWW-Authenticate` header, in API Gateway's form.
    pub fn www_authenticate(&self) -> String {
        let (scope, error) = match self {
            AuthError::InsufficientScope { required } => (required.join(" "), "insufficient_scope"),
            _ => (String::new(), "invalid_token"),
        };
        format!(
            r#"Bearer scope="{}" error="{error}" error_description="{}""#,
            header_safe(&scope),
            header_safe(&self.description())
        )
    }
}

/// Keeps a quoted-string header parameter well formed whatever a configured scope contains.
fn header_safe(text: &str) -> String {
    text.chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect()
}

/// An algorithm name safe to echo back: a registered JOSE name, or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgName(&'static str);

impl AlgName {
    const REGISTERED: [&'static str; 14] = [
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
        "PS384", "PS512", "EdDSA", "ES256K",
    ];

    /// Names `alg` if it is a registered JOSE algorithm, else `unknown`.
    pub fn of(alg: Option<&str>) -> Self {
        let known = alg.and_then(|a| Self::REGISTERED.iter().find(|r| **r == a));
        AlgName(known.copied().unwrap_or("unknown"))
    }

    /// The name as echoed.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for AlgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
