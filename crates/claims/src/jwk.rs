//! JSON Web Key Sets: which published keys are usable, parsed once into verification keys.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::config::Algorithm;

/// RSA keys shorter than this are unusable (RFC 7518 §3.3 requires at least 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;

/// One usable signing key: its parsed form for each allowed algorithm it may sign with.
#[derive(Debug)]
pub struct VerifyingKey {
    kid: String,
    keys: Vec<(Algorithm, ParsedPublicKey)>,
    /// The public key's encoded bytes, to tell whether a later key set still publishes this very
    /// key under its kid.
    material: Box<[u8]>,
}

impl VerifyingKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithms this key may verify.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.keys.iter().map(|(alg, _)| *alg)
    }

    /// Whether `other` is this key: the same kid, the same public key, the same algorithms.
    pub(crate) fn is(&self, other: &VerifyingKey) -> bool {
        self.kid == other.kid
            && self.material == other.material
            && self.algorithms().eq(other.algorithms())
    }

    /// The parsed key for `alg`, if this key may sign with it.
    pub(crate) fn for_algorithm(&self, alg: Algorithm) -> Option<&ParsedPublicKey> {
        self.keys.iter().find(|(a, _)| *a == alg).map(|(_, k)| k)
    }
}

/// What a JWKS lookup by `kid` finds.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    Key(Arc<VerifyingKey>),
    /// Several keys share the `kid`: none of them is used.
    Ambiguous,
}

/// A parsed key set: usable keys by `kid`.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    pub(crate) slots: HashMap<String, Slot>,
}

impl KeySet {
    /// Parses a JWKS document, keeping the signature keys usable with `allowed` algorithms.
    /// Unusable keys (encryption keys, unknown types, short RSA moduli, `alg`/`kty` disagreements)
    /// are skipped, as the JWKS may legitimately hold keys for other purposes.
    pub fn parse(document: &[u8], allowed: &[Algorithm]) -> Result<KeySet, JwksError> {
        let doc: JwksDocument =
            serde_json::from_slice(document).map_err(|_| JwksError::NotAKeySet)?;
        let mut slots: HashMap<String, Slot> = HashMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for raw in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            let Some(kid) = jwk.kid.clone() else { continue };
            *seen.entry(kid.clone()).or_default() += 1;
            if let Some(key) = jwk.verifying_key(allowed) {
                slots.insert(kid, Slot::Key(Arc::new(key)));
            }
        }
        for (kid, count) in seen {
            if count > 1 {
                slots.insert(kid, Slot::Ambiguous);
            }
        }
        Ok(KeySet { slots })
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.slots
            .values()
            .filter(|s| matches!(s, Slot::Key(_)))
            .count()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Slot> {
        self.slots.get(kid)
    }
}

/// Why a JWKS document could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON of the form `{"keys":[…]}` (an HTML error page, say).
    #[error("the response is not a JSON Web Key Set")]
    NotAKeySet,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwk {
    fn verifying_key(&self, allowed: &[Algorithm]) -> Option<VerifyingKey> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        if self
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
        {
            return None;
        }
        let declared = match self.alg.as_deref() {
            Some(name) => Some(name.parse::<Algorithm>().ok()?),
            None => None,
        };
        let candidates: Vec<Algorithm> = allowed
            .iter()
            .copied()
            .filter(|a| declared.is_none_or(|d| d == *a))
            .collect();
        let material = self.material()?;
        let keys: Vec<(Algorithm, ParsedPublicKey)> = candidates
            .into_iter()
            .filter_map(|alg| {
                let verifier = verification_algorithm(alg, &material)?;
                ParsedPublicKey::new(verifier, material.bytes())
                    .ok()
                    .map(|k| (alg, k))
            })
            .collect();
        if keys.is_empty() {
            // A declared alg that disagrees with kty/crv leaves no algorithm: the key is unusable.
            return None;
        }
        Some(VerifyingKey {
            kid: self.kid.clone()?,
            keys,
            material: material.bytes().into(),
        })
    }

    fn material(&self) -> Option<Material> {
        let b64 = |v: &Option<String>| URL_SAFE_NO_PAD.decode(v.as_deref()?).ok();
        match self.kty.as_str() {
            "RSA" => {
                let n = strip_zeros(b64(&self.n)?);
                let e = strip_zeros(b64(&self.e)?);
                if n.len() * 8 < MIN_RSA_BITS || e.is_empty() {
                    return None;
                }
                Some(Material::Rsa(rsa_public_key_der(&n, &e)))
            }
            "EC" => {
                let (curve, size) = match self.crv.as_deref()? {
                    "P-256" => (Curve::P256, 32),
                    "P-384" => (Curve::P384, 48),
                    "P-521" => (Curve::P521, 66),
                    _ => return None,
                };
                let (x, y) = (b64(&self.x)?, b64(&self.y)?);
                if x.len() != size || y.len() != size {
                    return None;
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Some(Material::Ec(curve, point))
            }
            "OKP" if self.crv.as_deref() == Some("Ed25519") => {
                let x = b64(&self.x)?;
                (x.len() == 32).then_some(Material::Ed25519(x))
            }
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

enum Material {
    Rsa(Vec<u8>),
    Ec(Curve, Vec<u8>),
    Ed25519(Vec<u8>),
}

impl Material {
    fn bytes(&self) -> &[u8] {
        match self {
            Material::Rsa(b) | Material::Ec(_, b) | Material::Ed25519(b) => b,
        }
    }
}

/// The aws-lc-rs verifier for `alg` over this key material, or none when type and algorithm disagree.
fn verification_algorithm(
    alg: Algorithm,
    material: &Material,
) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (alg, material) {
        (Algorithm::RS256, Material::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (Algorithm::RS384, Material::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (Algorithm::RS512, Material::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (Algorithm::PS256, Material::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA256,
        (Algorithm::PS384, Material::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA384,
        (Algorithm::PS512, Material::Rsa(_)) => &signature::RSA_PSS_2048_8192_SHA512,
        (Algorithm::ES256, Material::Ec(Curve::P256, _)) => &signature::ECDSA_P256_SHA256_FIXED,
        (Algorithm::ES384, Material::Ec(Curve::P384, _)) => &signature::ECDSA_P384_SHA384_FIXED,
        (Algorithm::ES512, Material::Ec(Curve::P521, _)) => &signature::ECDSA_P521_SHA512_FIXED,
        (Algorithm::EdDSA, Material::Ed25519(_)) => &signature::ED25519,
        _ => return None,
    })
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = der_unsigned_integer(n);
    body.extend(der_unsigned_integer(e));
    der_tlv(0x30, &body)
}

fn der_unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(magnitude);
    der_tlv(0x02, &content)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        assert_eq!(der_tlv(0x02, &[1]), vec![0x02, 1, 1]);
        let long = der_tlv(0x30, &[0; 300]);
        assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x2c]);
        assert_eq!(der_unsigned_integer(&[0x80]), vec![0x02, 2, 0, 0x80]);
    }

    #[test]
    fn documents_that_are_not_key_sets_are_refused() {
        for doc in ["<html>oops</html>", "{}", r#"{"keys":{}}"#, "[]"] {
            assert_eq!(
                KeySet::parse(doc.as_bytes(), &Algorithm::ALL).unwrap_err(),
                JwksError::NotAKeySet,
                "{doc}"
            );
        }
    }

    #[test]
    fn unusable_entries_are_skipped_not_fatal() {
        let doc =
            r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"RSA"},{"nonsense":1}]}"#;
        assert!(
            KeySet::parse(doc.as_bytes(), &Algorithm::ALL)
                .unwrap()
                .is_empty()
        );
    }
}
