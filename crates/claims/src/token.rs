//! From an `Authorization` value to a decoded, not yet trusted, compact JWS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::config::{Algorithm, MAX_TOKEN_BYTES};
use crate::error::{AlgName, AuthError};
use crate::json::parse_object;

/// The token in an identity source value: the whole value, or what follows a `Bearer ` prefix
/// (scheme matched without regard to case, RFC 7235 §2.1). Size is checked before anything else.
pub(crate) fn identity_source(value: &str) -> Result<&str, AuthError> {
    if value.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge);
    }
    let token = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => &value[7..],
        _ if value.eq_ignore_ascii_case("bearer") => "",
        _ => value,
    };
    if token.trim().is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token)
}

/// The `kid` of an `Authorization` value's token header, at most 64 characters, read without any
/// check: for the log line of a refusal made after the token was verified (a route's scopes).
pub(crate) fn header_kid(authorization: &str) -> Option<String> {
    let token = identity_source(authorization).ok()?;
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let header = crate::json::parse_object(&header)?;
    header
        .get("kid")
        .and_then(Value::as_str)
        .map(crate::verifier::clip)
}

/// A token whose structure and header have been checked, before any key or signature.
pub(crate) struct Decoded<'t> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    pub(crate) payload: Map<String, Value>,
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'t str,
    pub(crate) signature: Vec<u8>,
}

/// Splits and decodes a compact JWS, checking the header before the payload is even decoded.
pub(crate) fn decode<'t>(token: &'t str, allowed: &[Algorithm]) -> Result<Decoded<'t>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = parse_object(&b64(header_b64)?).ok_or(AuthError::InvalidHeader)?;
    let alg = algorithm(&header, allowed)?;
    if header.contains_key("crit") {
        return Err(AuthError::UnsupportedCritical);
    }
    // `jku`, `x5u`, `jwk` and `x5c` are never read: keys come only from the configured issuer.
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(AuthError::MissingKid),
    };
    let payload = parse_object(&b64(payload_b64)?).ok_or(AuthError::InvalidPayload)?;
    let signature = b64(signature_b64)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    Ok(Decoded {
        alg,
        kid,
        payload,
        signing_input,
        signature,
    })
}

fn algorithm(header: &Map<String, Value>, allowed: &[Algorithm]) -> Result<Algorithm, AuthError> {
    let name = header.get("alg").and_then(Value::as_str);
    if name.is_some_and(|n| n.eq_ignore_ascii_case("none")) {
        return Err(AuthError::Unsigned);
    }
    name.and_then(|n| n.parse::<Algorithm>().ok())
        .filter(|a| allowed.contains(a))
        .ok_or(AuthError::AlgorithmNotAllowed(AlgName::of(name)))
}

/// Unpadded base64url, canonical only (RFC 7515 §2).
fn b64(segment: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::InvalidBase64)
}
