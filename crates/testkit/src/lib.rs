//! Test issuer for Portcullis: fixed key pairs, token minting with any header and claims, and an
//! OIDC discovery + JWKS server on 127.0.0.1 with knobs for failure. A dev-dependency only.
//!
//! ```
//! use portcullis_testkit::{TestKey, claims_for};
//!
//! let key = TestKey::rsa("k1");
//! let token = key.mint(&claims_for("https://issuer.example", "my-api", 3600));
//! assert_eq!(token.split('.').count(), 3);
//! ```

pub mod alb;
pub mod events;
pub mod external;
pub mod hostile;
mod issuer;
mod keys;
mod lines;

pub use crate::issuer::{Faults, Issuer};
pub use crate::keys::{TestKey, hs256, jwks, unix_now, weak_rsa_jwk};
pub use crate::lines::ChildLines;

use serde_json::{Value, json};

/// Claims that pass a verifier for `issuer` and `audience`, expiring `ttl` seconds from now
/// (negative: already expired).
pub fn claims_for(issuer: &str, audience: &str, ttl: i64) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": "user-1",
        "iat": now,
        "exp": now + ttl,
    })
}

/// Encodes bytes as unpadded base64url, as JWS segments are.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Unpadded base64url decoding (the JOSE encoding); panics on text that is not (tests only).
pub fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text) {
        Ok(bytes) => bytes,
        Err(error) => panic!("not unpadded base64url: {text:?}: {error}"),
    }
}
