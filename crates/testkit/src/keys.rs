//! Fixed test key pairs (see `fixtures/`) and token minting.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use crate::b64;

const RSA_A: &[u8] = include_bytes!("../fixtures/rsa2048-a.pk8.der");
const RSA_B: &[u8] = include_bytes!("../fixtures/rsa2048-b.pk8.der");
const P256: &[u8] = include_bytes!("../fixtures/p256.pk8.der");
const P384: &[u8] = include_bytes!("../fixtures/p384.pk8.der");
const P521: &[u8] = include_bytes!("../fixtures/p521.pk8.der");
const ED25519: &[u8] = include_bytes!("../fixtures/ed25519.pk8.der");
const RSA_1024_N: &str = include_str!("../fixtures/rsa1024.n.b64url");

enum Signer {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ec(EcdsaKeyPair, &'static str),
    Ed(Ed25519KeyPair),
}

/// A private key with its `kid` and JOSE `alg`, able to mint tokens and publish its JWK.
pub struct TestKey {
    kid: String,
    alg: &'static str,
    signer: Signer,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestKey({} {})", self.alg, self.kid)
    }
}

// The fixtures are valid keys checked in with the crate: failing to load one is a broken checkout.
#[allow(clippy::expect_used)]
impl TestKey {
    /// The first RSA-2048 key, signing RS256.
    pub fn rsa(kid: &str) -> TestKey {
        Self::rsa_with(RSA_A, kid, "RS256")
    }
    /// A second, different RSA-2048 key (for rotation and foreign-signature cases), RS256.
    pub fn rsa_other(kid: &str) -> TestKey {
        Self::rsa_with(RSA_B, kid, "RS256")
    }
    /// The first RSA key signing with another RSA algorithm (RS384, RS512, PS256, PS384, PS512).
    pub fn rsa_alg(kid: &str, alg: &'static str) -> TestKey {
        Self::rsa_with(RSA_A, kid, alg)
    }
    /// The second RSA key signing with any RSA algorithm.
    pub fn rsa_other_alg(kid: &str, alg: &'static str) -> TestKey {
        Self::rsa_with(RSA_B, kid, alg)
    }
    fn rsa_with(der: &[u8], kid: &str, alg: &'static str) -> TestKey {
        let encoding: &'static dyn signature::RsaEncoding = match alg {
            "RS256" => &signature::RSA_PKCS1_SHA256,
            "RS384" => &signature::RSA_PKCS1_SHA384,
            "RS512" => &signature::RSA_PKCS1_SHA512,
            "PS256" => &signature::RSA_PSS_SHA256,
            "PS384" => &signature::RSA_PSS_SHA384,
            "PS512" => &signature::RSA_PSS_SHA512,
            other => panic!("not an RSA algorithm: {other}"),
        };
        let pair = RsaKeyPair::from_pkcs8(der).expect("RSA fixture");
        TestKey {
            kid: kid.to_owned(),
            alg,
            signer: Signer::Rsa(pair, encoding),
        }
    }
    /// A P-256 key, ES256.
    pub fn es256(kid: &str) -> TestKey {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, P256)
            .expect("P-256 fixture");
        TestKey {
            kid: kid.to_owned(),
            alg: "ES256",
            signer: Signer::Ec(pair, "P-256"),
        }
    }
    /// A P-256 key made now, unlike every other: for a key that must differ from the fixture's.
    pub fn es256_fresh(kid: &str) -> TestKey {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("P-256 key generation");
        TestKey {
            kid: kid.to_owned(),
            alg: "ES256",
            signer: Signer::Ec(pair, "P-256"),
        }
    }
    /// A P-384 key, ES384.
    pub fn es384(kid: &str) -> TestKey {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, P384)
            .expect("P-384 fixture");
        TestKey {
            kid: kid.to_owned(),
            alg: "ES384",
            signer: Signer::Ec(pair, "P-384"),
        }
    }
    /// A P-521 key, ES512.
    pub fn es512(kid: &str) -> TestKey {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P521_SHA512_FIXED_SIGNING, P521)
            .expect("P-521 fixture");
        TestKey {
            kid: kid.to_owned(),
            alg: "ES512",
            signer: Signer::Ec(pair, "P-521"),
        }
    }
    /// An Ed25519 key, EdDSA.
    pub fn ed25519(kid: &str) -> TestKey {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(ED25519).expect("Ed25519 fixture");
        TestKey {
            kid: kid.to_owned(),
            alg: "EdDSA",
            signer: Signer::Ed(pair),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The JOSE algorithm this key signs with.
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The public JWK, with `kid`, `alg` and `use`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.jwk_without_alg();
        jwk["alg"] = json!(self.alg);
        jwk
    }

    /// The public JWK without `alg` (many issuers omit it).
    pub fn jwk_without_alg(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair, _) => {
                let (n, e) = rsa_components(pair.public_key().as_ref());
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "n": b64(n), "e": b64(e)})
            }
            Signer::Ec(pair, crv) => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                json!({
                    "kty": "EC", "kid": self.kid, "use": "sig", "crv": crv,
                    "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..]),
                })
            }
            Signer::Ed(pair) => json!({
                "kty": "OKP", "kid": self.kid, "use": "sig", "crv": "Ed25519",
                "x": b64(pair.public_key().as_ref()),
            }),
        }
    }

    /// The RSA public key as DER `RSAPublicKey` (for raw signature checks in benchmarks).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(pair, _) => pair.public_key().as_ref().to_vec(),
            Signer::Ec(pair, _) => pair.public_key().as_ref().to_vec(),
            Signer::Ed(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// A token with header `{"alg", "kid", "typ":"JWT"}` and these claims.
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with_header(
            &json!({"alg": self.alg, "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// A token with exactly this header and these claims, signed with this key.
    pub fn mint_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Signs header and payload given as raw JSON text (for repeated members and other
    /// shapes `serde_json::Value` cannot hold).
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> String {
        let input = format!(
            "{}.{}",
            b64(header_json.as_bytes()),
            b64(payload_json.as_bytes())
        );
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut sig)
                    .expect("RSA signing");
                sig
            }
            Signer::Ec(pair, _) => pair
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Signer::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// Modulus and exponent of a DER `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`, as
/// aws-lc-rs encodes it (the fixtures' own keys only: lengths are trusted).
fn rsa_components(der: &[u8]) -> (&[u8], &[u8]) {
    fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, header) = match input[1] {
            short if short < 0x80 => (short as usize, 2),
            long => {
                let count = (long & 0x7f) as usize;
                let len = input[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| acc << 8 | *b as usize);
                (len, 2 + count)
            }
        };
        (&input[header..header + len], &input[header + len..])
    }
    let (sequence, _) = tlv(der);
    let (n, rest) = tlv(sequence);
    let (e, _) = tlv(rest);
    let unsigned = |int: &[u8]| -> usize { int.iter().take_while(|b| **b == 0).count() };
    (&n[unsigned(n)..], &e[unsigned(e)..])
}

/// An HS256 token keyed with `secret`: with an RSA public key as the secret, the algorithm-confusion
/// attack.
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// A JWKS document holding these JWKs.
pub fn jwks(keys: impl IntoIterator<Item = Value>) -> Value {
    json!({ "keys": keys.into_iter().collect::<Vec<_>>() })
}

/// The JWK of a 1024-bit RSA key: too short to be used.
pub fn weak_rsa_jwk(kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": RSA_1024_N.trim(), "e": "AQAB"})
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
